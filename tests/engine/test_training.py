"""Real training runs on tiny models: results, files, the two validation paths, Auto, early
stopping, stop, faults."""
from __future__ import annotations

import json
import threading
import time

import pytest
import torch

from ftapp.models import BUNDLED_TEXT, load_trained
from ftapp.runs import RunFolder, RunStore, new_run, read_run
from ftapp.train.config import LEARNED_LOSS, LEARNED_PATIENCE, TrainConfig
from ftapp.train.job import execute
from ftapp.train.schedule import lr_factor
from ftapp.train.selection import progressed

FAST = dict(min_steps=20, auto=False)     # tiny models learn the tiny sets in a few steps


def _train(tmp_path, name="run", **settings):
    config = TrainConfig(**settings)
    run = new_run(tmp_path / name, config.to_dict())
    execute(config, run, workdir=tmp_path / f"{name}-work")
    return run


def _metrics(run) -> dict:
    return json.loads((run.dir / RunFolder.METRICS).read_text())


def test_text_run_with_defaults_learns_and_writes_everything(tmp_path, text_csv):
    """The bundled MiniLM with every default on 60 examples: too few for a validation split, so
    3-fold cross-validation chooses between the probe and fine-tuning; everything is written."""
    run = _train(tmp_path, model=BUNDLED_TEXT, data=str(text_csv))
    assert run.status == "finished", run.message
    m = _metrics(run)
    assert m["val_accuracy"] >= 0.9 and m["probe_val_accuracy"] >= 0.8 and m["validation_kind"] == "cross-validation"
    # the model kept is the one its evidence says: fine-tuning only when it beat the first model cross-fitted
    ft, first = m["check"]["ft"], m["check"]["probe"]
    assert m["chosen"] == ("fine-tuned" if (ft["accuracy"], -ft["loss"]) > (first["accuracy"], -first["loss"])
                           else "probe")
    assert "cross-validation" in m["validation"] and m["stage"] == "final"
    lo, hi = m["val_accuracy_interval"]
    assert lo <= m["val_accuracy"] <= hi and m["n_val"] == 60
    assert {"baseline_val_accuracy", "baseline_name", "tfidf_val_accuracy", "baseline_note"} <= set(m)
    report = json.loads((run.dir / RunFolder.REPORT).read_text())
    assert report["cross_validated"] and report["n"] == 60          # every example, predicted out of fold
    assert report["interval"]["n"] == 60 and json.loads((run.dir / RunFolder.LEARNING_CURVE).read_text())["points"]
    assert {"per_class", "confusion_matrix", "misclassified", "examples", "baselines"} <= set(report)
    assert sum(map(sum, report["confusion_matrix"])) == report["n"]
    candidates = json.loads((run.dir / RunFolder.CANDIDATES).read_text())
    assert candidates[0]["name"] == "frozen features + logistic regression"
    # the settings the engine chose are recorded with the run, live and on disk (the form refills from them)
    assert run.settings["lr"] is None and run.effective_settings["frozen_layers"] is not None
    assert {"precision", "seed", "workers"} <= set(run.effective)
    assert read_run(run.dir).effective_settings == run.effective_settings == RunFolder(run.dir).effective_settings()
    events = [json.loads(l) for l in (run.dir / RunFolder.EVENTS).read_text().splitlines()]
    written = [e["t"] for e in events if e["kind"] == "progress"]     # a worker's app follows them from the file,
    assert written and all(b - a >= 0.99 for a, b in zip(written, written[1:-1]))   # but at most one a second


def test_the_final_run_repeats_the_learning_rates_the_folds_were_scored_at(tmp_path, tiny_text_model, text_csv):
    """Cross-validation scores each fold's checks along the planned schedule; the final run on all the
    examples trains to the chosen length along the same plan (not one that anneals by then)."""
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), lr=3e-3, frozen_layers=0, **FAST)
    assert run.status == "finished" and _metrics(run)["chosen"] == "fine-tuned", run.message
    plan = run.info["plan"]
    events = [json.loads(l) for l in (run.dir / RunFolder.EVENTS).read_text().splitlines()]
    final = {e["step"]: e["lr"] for e in events if e["kind"] == "step" and e.get("part") == "all"}
    assert final and max(final) < plan["total_steps"]      # chosen before the plan's end
    assert all(lr == pytest.approx(3e-3 * lr_factor(s, plan["warmup_steps"], plan["total_steps"]))
               for s, lr in final.items())


def test_holdout_run_plans_steps_validates_and_scores_a_test_slice(tmp_path, tiny_text_model, text_csv_big):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), lr=3e-3, frozen_layers=0, **FAST)
    assert run.status == "finished", run.message
    m = _metrics(run)
    assert m["n_test"] == 42 and m["test_source"] == "held-out slice" and "test_accuracy" in m
    assert "validation split" in m["validation"]
    plan = run.info["plan"]
    assert plan["total_steps"] >= 20 and run.info["n_val"] >= 60
    assert json.loads((run.dir / RunFolder.TEST_REPORT).read_text())["n"] == 42
    assert [e["epoch"] for e in run.epochs] == sorted(e["epoch"] for e in run.epochs)


def test_small_data_trains_at_least_the_step_floor(tmp_path, tiny_text_model, text_csv):
    """40 training examples in each fold at batch 32 is 1 step an epoch: the plan still holds
    min_steps steps (many epochs), in every fold."""
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), min_steps=60, lr=3e-3, frozen_layers=0,
                 auto=False, head_init="random")
    assert run.status == "finished", run.message
    assert run.info["plan"]["total_steps"] >= 60 and run.info["plan"]["epochs"] >= 30


def test_saved_text_model_loads_in_transformers_pipeline(tmp_path, tiny_text_model, text_csv):
    from transformers import pipeline

    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), lr=3e-3, frozen_layers=0, **FAST)
    ours = load_trained(run.dir).predict(["my invoice and refund payment"], top_k=1)[0]
    theirs = pipeline("text-classification", model=str(run.dir))("my invoice and refund payment")[0]
    assert theirs["label"] == next(iter(ours))
    assert theirs["score"] == pytest.approx(next(iter(ours.values())), abs=1e-4)


def test_image_run_with_vit_saves_a_pipeline_loadable_model(tmp_path, tiny_image_model, image_zip):
    from transformers import pipeline

    run = _train(tmp_path, model=tiny_image_model, data=str(image_zip), lr=3e-3, frozen_layers=1, **FAST)
    assert run.status == "finished", run.message
    assert _metrics(run)["used_prefix_cache"] is True
    report = json.loads((run.dir / RunFolder.REPORT).read_text())
    assert all((run.dir / e["item"]).is_file() for e in report["examples"])   # copies survive the upload
    example = run.dir / report["examples"][0]["item"]
    out = pipeline("image-classification", model=str(run.dir))(str(example))
    assert out[0]["label"] in ("red", "blue")


def test_lora_run_exports_a_merged_model_that_loads_without_peft(tmp_path, tiny_text_model, text_csv_big):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), lr=5e-3, method="lora",
                 frozen_layers=1, head_init="random", **FAST)
    assert run.status == "finished", run.message
    assert _metrics(run)["chosen"] == "fine-tuned" and run.effective["method"] == "lora"
    from safetensors import safe_open

    with safe_open(str(run.dir / "model.safetensors"), "pt") as f:
        assert not any("lora" in k for k in f.keys())
    clf = load_trained(run.dir)                    # plain transformers model: no peft needed
    assert type(clf.model).__name__ == "BertForSequenceClassification"
    assert run.info["trainable_params"] < run.info["total_params"] * 0.5
    assert clf.predict(["refund my card payment"])


def test_lora_gets_a_higher_default_rate_than_full_fine_tuning():
    from ftapp.train.config import LORA_LR_FACTOR, default_lr
    from ftapp.train.recipes import default_recipe

    lora = default_recipe(TrainConfig(method="lora"), 6, "text")
    assert lora.lr == pytest.approx(default_lr("text") * LORA_LR_FACTOR) and LORA_LR_FACTOR > 1
    assert default_recipe(TrainConfig(method="lora", lr=1e-5), 6, "text").lr == 1e-5


def test_early_stopping_keeps_the_best_check(tmp_path, tiny_text_model, text_csv_big):
    # A high learning rate over many epochs over-fits / oscillates: patience 1 stops it early.
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), epochs=30, lr=3e-2, patience=1,
                 frozen_layers=0, warmup_ratio=0.0, head_init="random", auto=False, min_steps=1000)
    assert run.status == "finished" and run.info["plan"]["epochs"] == 30     # the cap
    assert len(run.epochs) < 30 and "stopped early" in run.message
    best = max(run.epochs, key=lambda e: (e["val_accuracy"], -e["val_loss"]))
    assert run.best["epoch"] == best["epoch"] == _metrics(run)["best_epoch"]     # whichever model is kept


def test_learned_training_examples_end_the_run_after_two_flat_checks(tmp_path, tiny_learner_model, text_csv_big):
    # Patience 4, but once the training loss is under LEARNED_LOSS two checks without progress end it
    run = _train(tmp_path, model=tiny_learner_model, data=str(text_csv_big), epochs=60, min_steps=5000, lr=3e-3,
                 frozen_layers=0, warmup_ratio=0.0, auto=False, patience=4)
    assert run.status == "finished" and len(run.epochs) < 60
    assert "the training examples were learned" in run.message
    assert run.epochs[-1]["train_loss"] < LEARNED_LOSS
    reference, flat = None, 0
    for e in run.epochs:
        reference, flat = (e, 0) if progressed(e, reference) else (reference, flat + 1)
    assert LEARNED_PATIENCE <= flat < 4     # ended before the patience ran out


def test_auto_searches_only_with_enough_validation_examples(tmp_path, tiny_text_model, text_csv_big):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), lr=2e-3, min_steps=40, auto=True)
    assert run.status == "finished", run.message
    assert "too few to rank settings" in run.info["notice"]
    assert [r for r in json.loads((run.dir / RunFolder.CANDIDATES).read_text()) if r.get("recipe")] == []


def test_auto_compares_candidates_and_keeps_what_the_user_fixed(tmp_path, tiny_text_model, text_csv_big,
                                                                monkeypatch):
    import ftapp.train.training as training

    monkeypatch.setattr(training, "SEARCH_MIN_VAL", 10)     # the tiny set's 63 validation examples may rank
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), lr=2e-3, min_steps=40, auto=True,
                 head_init="random")
    assert run.status == "finished", run.message
    rows = json.loads((run.dir / RunFolder.CANDIDATES).read_text())
    tried = [r for r in rows if r.get("recipe")]
    assert len(tried) >= 2 and all(r["recipe"]["lr"] == 2e-3 for r in tried)       # the rate was fixed
    assert len({r["recipe"]["frozen"] for r in tried}) == len(tried)                  # the blocks were searched
    assert [r["status"] for r in tried].count("chosen") == 1 and any(r["status"] == "dropped" for r in tried)
    chosen = next(r for r in tried if r["status"] == "chosen")
    kept_fine_tuned = _metrics(run)["chosen"] == "fine-tuned"
    assert run.effective["method"] == ("full" if kept_fine_tuned else "probe")
    assert run.effective["frozen_layers"] == (chosen["recipe"]["frozen"] if kept_fine_tuned else run.info["n_blocks"])
    assert run.candidates and "curve" in next(iter(run.candidates.values()))       # live, for the app


def test_the_time_budget_stops_the_run_and_keeps_a_model(tmp_path, tiny_text_model, text_csv_big):
    started = time.time()
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), time_budget=0.5, min_steps=100000,
                 epochs=300, auto=False, lr=1e-3, batch_size=4, patience=0)   # only the budget can end it
    assert run.status == "finished" and run.has_model and "time budget" in run.message
    assert len(run.steps) < 100000 and time.time() - started < 45      # the whole run ends near the budget
    assert run.progress == 1.0


def test_stop_request_is_honoured_within_a_step_and_keeps_a_model(tmp_path, tiny_text_model, text_csv_big):
    config = TrainConfig(model=tiny_text_model, data=str(text_csv_big), epochs=200, batch_size=4, lr=1e-3,
                         auto=False, min_steps=20)
    run = new_run(tmp_path / "run", config.to_dict())

    def stop_after_some_steps(kind, data):
        if kind == "step" and data["step"] == 5:
            run.stop_event.set()

    run.listeners.append(stop_after_some_steps)
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "stopped"
    assert run.steps[-1]["step"] == 5          # not one step more
    assert run.has_model and (run.dir / "model.safetensors").exists()
    assert load_trained(run.dir).predict(["refund please"])


def test_a_class_too_small_to_check_on_the_split_is_cross_validated(tmp_path, tiny_text_model):
    """452 rows make a split of 60+ validation examples, but it holds only one or two of the 12
    'praise' rows: too few to check that class, so the run cross-validates and says why."""
    from conftest import write_text_csv

    rows = write_text_csv(tmp_path / "all.csv", n_per_class=220).read_text().splitlines()
    kept = [r for r in rows if not r.endswith(",praise")] + [r for r in rows if r.endswith(",praise")][:12]
    (tmp_path / "rare.csv").write_text("\n".join(kept) + "\n")
    run = _train(tmp_path, model=tiny_text_model, data=str(tmp_path / "rare.csv"), **FAST)
    assert run.status == "finished", run.message
    assert run.info["n_val"] >= 60 and _metrics(run)["validation_kind"] == "cross-validation"
    assert "of 'praise', too few to check that class on a split" in run.message
    assert run.info["notice"].startswith("Cross-validating") and "'praise'" in run.info["notice"]


def test_auto_keeps_the_probe_when_fine_tuning_does_not_beat_it(tmp_path, tiny_text_model, text_csv_big):
    """A random tiny encoder cannot beat logistic regression on frozen features of these easy texts
    in a few steps: Auto keeps the probe (all blocks frozen), with Auto off the settings given win."""
    auto = _train(tmp_path, name="auto", model=tiny_text_model, data=str(text_csv_big), lr=1e-5, frozen_layers=0,
                  auto=True, min_steps=5, epochs=1)
    m = _metrics(auto)
    assert m["chosen"] == "probe" and m["val_accuracy"] == pytest.approx(m["probe_val_accuracy"], abs=1e-4)
    assert auto.effective["method"] == "probe" and auto.effective["frozen_layers"] == auto.info["n_blocks"]
    assert "frozen features" in auto.message
    fixed = _train(tmp_path, name="fixed", model=tiny_text_model, data=str(text_csv_big), lr=1e-5, frozen_layers=0,
                   auto=False, min_steps=5, epochs=1)
    assert _metrics(fixed)["chosen"] == "fine-tuned"


def test_non_finite_loss_stops_with_advice_and_keeps_the_probe(tmp_path, tiny_text_model, text_csv_big,
                                                             monkeypatch):
    """A learning rate far too high makes the loss overflow; here a real forward hook turns the
    training logits into inf at the third step, as an exploding model would."""
    import ftapp.train.job as job

    configure = job.configure_model

    def exploding(*args):
        clf = configure(*args)
        calls = {"n": 0}

        def hook(module, _args, output):
            calls["n"] += module.training
            if calls["n"] >= 3 and module.training:
                output.logits = output.logits * float("inf")
            return output
        clf.model.register_forward_hook(hook)
        return clf

    monkeypatch.setattr(job, "configure_model", exploding)
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), lr=0.1, frozen_layers=0,
                 warmup_ratio=0.0, **FAST)
    assert run.status == "finished" and run.has_model
    assert "learning rate" in run.message and "lower" in run.message
    assert _metrics(run)["chosen"] == "probe"


def test_bad_data_fails_with_the_reports_words(tmp_path, tiny_text_model):
    csv = tmp_path / "one.csv"
    csv.write_text("text,label\n" + "".join(f"hello {i},only\n" for i in range(10)))
    run = _train(tmp_path, model=tiny_text_model, data=str(csv))
    assert run.status == "failed" and "only" in run.message and "class" in run.message
    assert "Traceback" not in run.message


def test_unknown_model_fails_with_a_clear_message(tmp_path, text_csv):
    run = _train(tmp_path, model="no-such-org/no-such-model-xyz", data=str(text_csv))
    assert run.status == "failed"
    assert "'no-such-org/no-such-model-xyz'" in run.message and "bundled model" in run.message


def test_exception_in_training_thread_marks_run_failed_and_next_run_works(tmp_path, tiny_text_model, text_csv,
                                                                         monkeypatch):
    from ftapp.models.preprocess import TextPreprocessor
    from ftapp.runner import Runner

    store = RunStore(tmp_path / "runs")
    runner = Runner(store, processes=False)     # the bug is patched into this process
    original = TextPreprocessor.encode

    def broken_once(self, texts):           # a bug of ours inside the training thread
        monkeypatch.setattr(TextPreprocessor, "encode", original)
        raise IndexError("list index out of range")

    monkeypatch.setattr(TextPreprocessor, "encode", broken_once)
    bad = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=1))
    assert runner.wait(bad, timeout=120)
    assert bad.status == "failed" and (bad.dir / "error.log").exists()
    assert "error.log" in bad.message and "IndexError" in (bad.dir / "error.log").read_text()
    good = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv), lr=3e-3, **FAST))
    assert runner.wait(good, timeout=120) and good.status == "finished", good.message


def test_disk_full_while_saving_keeps_the_previous_model(tmp_path, tiny_text_model, text_csv, monkeypatch):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), lr=3e-3, **FAST)
    before = (run.dir / "model.safetensors").read_bytes()
    import ftapp.models.classifier as classifier

    def full_disk(self, directory):
        (directory if hasattr(directory, "mkdir") else __import__("pathlib").Path(directory)).mkdir(
            parents=True, exist_ok=True)
        (__import__("pathlib").Path(directory) / "model.safetensors").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(classifier.Classifier, "save", full_disk)
    config = TrainConfig(model=tiny_text_model, data=str(text_csv), lr=3e-3, **FAST)
    run2 = new_run(run.dir, config.to_dict())             # a second run into the same folder
    execute(config, run2, workdir=tmp_path / "w2")
    assert run2.status == "failed" and "disk space" in run2.message
    assert (run.dir / "model.safetensors").read_bytes() == before
    assert not (run.dir / ".model-tmp").exists()


def test_restart_lists_runs_and_marks_cut_off_ones_interrupted(tmp_path, tiny_text_model, text_csv_big):
    store = RunStore(tmp_path / "runs")
    done = store.create(TrainConfig(model=tiny_text_model, data=str(text_csv_big), lr=3e-3, **FAST).to_dict())
    execute(TrainConfig.from_dict(done.settings), done, workdir=tmp_path / "w")
    cut = store.create({"model": "m"})
    cut.record("status", status="running")
    cut.record("step", step=1, epoch=0.1, loss=1.0)
    reopened = RunStore(tmp_path / "runs")               # as after a crash and restart
    again = {r.id: r for r in reopened.list()}
    assert again[done.id].status == "finished" and again[done.id].has_model
    assert len(again[done.id].steps) == len(done.steps) and again[done.id].epochs == done.epochs
    assert again[cut.id].status == "interrupted" and again[cut.id].steps == [{"step": 1, "epoch": 0.1, "loss": 1.0}]
    assert load_trained(again[done.id].dir).predict(["refund"])


def test_runs_queue_and_only_the_owner_can_stop(tmp_path, tiny_text_model, text_csv_big):
    from ftapp.runner import Runner

    runner = Runner(RunStore(tmp_path / "runs"))
    slow = TrainConfig(model=tiny_text_model, data=str(text_csv_big), epochs=300, batch_size=2, auto=False,
                       min_steps=100000, lr=1e-3)
    first = runner.submit(slow, owner="alice")
    second = runner.submit(slow, owner="bob")
    deadline = threading.Event()
    while first.status != "running" and not deadline.wait(0.05):
        pass
    assert runner.position(first) == 0 and runner.position(second) == 1
    assert runner.stop(first.id, owner="bob") is False and not first.stop_event.is_set()
    assert runner.stop(second.id, owner="bob") is True and second.status == "stopped"
    assert runner.stop(first.id, owner="alice") is True
    assert runner.wait(first, timeout=60) and first.status == "stopped"


def test_best_checkpoint_is_saved_during_training(tmp_path, tiny_learner_model, text_csv_big, monkeypatch):
    """The first model is on disk seconds after the start; a better checkpoint (fine-tuning ahead of
    the first model cross-fitted) replaces it while training goes on, whole (prefix included) even
    though training ran on cached states."""
    import ftapp.train.results as results

    monkeypatch.setenv("FTAPP_CHECKPOINT_SECONDS", "0")
    seen = []
    original = results.Results.checkpoint_model

    def save_and_look(self, clf):
        original(self, clf)
        seen.append(load_trained(self.run.dir).predict(["refund"]) and self.run.status == "running")

    monkeypatch.setattr(results.Results, "checkpoint_model", save_and_look)
    run = _train(tmp_path, model=tiny_learner_model, data=str(text_csv_big), lr=1e-3, frozen_layers=1,
                 method="lora", auto=False, min_steps=200, patience=0)
    assert run.status == "finished" and seen and all(seen)
    assert load_trained(run.dir).predict(["refund"])


def test_augmented_image_run_uses_workers_and_no_cache(tmp_path, tiny_image_model, image_zip):
    run = _train(tmp_path, model=tiny_image_model, data=str(image_zip), lr=3e-3, frozen_layers=1, augment=True,
                 **FAST)
    assert run.status == "finished", run.message
    assert _metrics(run)["used_prefix_cache"] is False          # random crops: the prefix output changes
    assert run.effective["workers"] >= 1


def test_same_seed_same_augmented_run_on_one_or_two_workers(tmp_path, tiny_image_model, image_zip, monkeypatch):
    """Augmentation is seeded per example and epoch, so the number of DataLoader workers (it
    follows the core count) does not change a seeded run."""
    import ftapp.train.loop as loop

    results = []
    for workers in (1, 2):
        monkeypatch.setattr(loop, "augment_workers", lambda w=workers: w)
        run = _train(tmp_path, name=f"w{workers}", model=tiny_image_model, data=str(image_zip), lr=3e-3,
                     frozen_layers=1, augment=True, seed=5, precision="fp32", **FAST)
        assert run.status == "finished", run.message
        results.append(([s["loss"] for s in run.steps], _metrics(run)["val_accuracy"]))
    assert results[0] == results[1]


def test_mirroring_is_off_unless_asked():
    from torchvision.transforms import v2

    from ftapp.models.preprocess import ImagePreprocessor, ImageSpec

    pre = ImagePreprocessor(ImageSpec(size=32))
    assert not any(isinstance(t, v2.RandomHorizontalFlip) for t in pre._augment.transforms)
    pre.set_augmentation(hflip=True)
    assert any(isinstance(t, v2.RandomHorizontalFlip) for t in pre._augment.transforms)


def test_same_seed_same_run_different_seed_different_run(tmp_path, tiny_text_model, text_csv):
    """The new head's initial weights are seeded too: identical settings give identical curves."""
    runs = [_train(tmp_path, name=f"r{i}", model=tiny_text_model, data=str(text_csv), lr=3e-3, seed=seed,
                   head_init="random", **FAST) for i, seed in enumerate([7, 7, 8])]
    losses = [[s["loss"] for s in r.steps] for r in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_precision_setting_is_resolved_and_reported(tmp_path, tiny_text_model, text_csv):
    from ftapp.train.device import cpu_has_native_bf16, resolve_precision

    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    for precision in ("fp32", "bf16"):
        run = _train(tmp_path, name=precision, model=tiny_text_model, data=str(text_csv), lr=3e-3,
                     precision=precision, epochs=1, **FAST)
        assert run.status == "finished" and run.info["precision"] == precision
        assert run.effective["precision"] == precision


def test_patience_zero_turns_early_stopping_off(tmp_path, tiny_text_model, text_csv_big):
    # the same over-fitting setting that stops early with patience 1 runs every epoch with 0
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv_big), epochs=8, lr=3e-2, patience=0,
                 frozen_layers=0, warmup_ratio=0.0, head_init="random", auto=False, min_steps=1000)
    assert run.status == "finished" and len(run.epochs) == 8 and "stopped early" not in run.message


def test_after_a_restart_waiting_and_cut_off_runs_train_again_in_order(tmp_path, tiny_text_model, text_csv_big):
    """The queue lives in the run folders: runs an earlier process left waiting or training start
    again (from the beginning: no checkpoint), oldest first, each with its own copy of its data."""
    import shutil

    from ftapp.runner import INPUTS, Runner

    first_process = Runner(RunStore(tmp_path / "runs"), keep_inputs=True)
    upload = tmp_path / "session" / "t.csv"
    upload.parent.mkdir()
    shutil.copyfile(text_csv_big, upload)
    config = dict(model=tiny_text_model, lr=3e-3, **FAST)
    with first_process._cv:                       # hold the worker: these stay queued
        cut = first_process.submit(TrainConfig(data=str(upload), **config), owner="alice")
        waiting = first_process.submit(TrainConfig(data=str(upload), **config), owner="bob")
        first_process._queue.clear()              # the process dies with both accepted
    cut.record("status", status="running")        # it had started training
    cut.record("step", step=1, epoch=0.1, loss=1.0)
    shutil.rmtree(upload.parent)                  # the session's upload folder is gone with the process
    assert (cut.dir / INPUTS / "t.csv").is_file() and cut.settings["data"].startswith(str(cut.dir))

    store = RunStore(tmp_path / "runs", requeue=True)
    again = store.requeued()
    assert [r.id for r in again] == [cut.id, waiting.id]                  # the original order
    assert all(r.status == "queued" and "starts again from the beginning" in r.message for r in again)
    assert again[0].steps == [] and (again[0].dir / "metrics-before-restart.jsonl").is_file()
    runner = Runner(store, keep_inputs=True)
    for run in again:
        runner.resume(run)
    for run in again:
        assert runner.wait(run, timeout=120) and run.status == "finished", run.message
        deadline = time.time() + 60         # the data copy goes when it ends (the runner removes it just after)
        while (run.dir / INPUTS).exists():
            assert time.time() < deadline, "the run's copy of its data stayed after it ended"
            time.sleep(0.05)
        assert run.has_model
    assert RunStore(tmp_path / "runs").get(cut.id).status == "finished"
