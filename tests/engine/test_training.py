"""Real training runs on tiny models: results, files, early stopping, stop, faults."""
from __future__ import annotations

import json
import threading

import pytest
import torch

from ftapp.models import BUNDLED_TEXT, load_trained
from ftapp.runs import RunStore, new_run
from ftapp.train.config import TrainConfig
from ftapp.train.job import execute


def _train(tmp_path, name="run", **settings):
    config = TrainConfig(**settings)
    run = new_run(tmp_path / name, config.to_dict())
    execute(config, run, workdir=tmp_path / f"{name}-work")
    return run


def test_text_run_with_defaults_learns_and_writes_everything(tmp_path, text_csv):
    """The bundled MiniLM with default settings (2 of 6 blocks frozen, cached) learns a small set."""
    run = _train(tmp_path, model=BUNDLED_TEXT, data=str(text_csv), epochs=4)
    assert run.status == "finished", run.message
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["val_accuracy"] >= 0.9
    assert metrics["used_prefix_cache"] is True and metrics["frozen_layers"] == 2
    report = json.loads((run.dir / "report.json").read_text())
    assert {"per_class", "confusion_matrix", "misclassified", "examples"} <= set(report)
    assert sum(map(sum, report["confusion_matrix"])) == report["n"]
    assert run.steps[-1]["step"] == len(run.steps) == 4 * 2   # 48 training rows, batches of 32
    assert [e["epoch"] for e in run.epochs] == list(range(1, len(run.epochs) + 1))
    # metrics.jsonl holds the same history (the UI redraws from it after a restart)
    kinds = [json.loads(l)["kind"] for l in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert kinds.count("step") == len(run.steps) and kinds.count("epoch") == len(run.epochs)
    assert "progress" not in kinds            # transient: in memory for the UI, not one more line per step
    # the settings the engine chose are recorded with the run, live and on disk (the form refills from them)
    assert run.settings["lr"] is None and run.effective_settings["lr"] == pytest.approx(1e-4)
    assert run.effective_settings["frozen_layers"] == 2
    from ftapp.runs import RunFolder, read_run
    assert RunFolder(run.dir).effective_settings()["frozen_layers"] == 2
    assert read_run(run.dir).effective_settings == run.effective_settings


def test_saved_text_model_loads_in_transformers_pipeline(tmp_path, tiny_text_model, text_csv):
    from transformers import pipeline

    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=6, lr=3e-3, frozen_layers=0)
    ours = load_trained(run.dir).predict(["my invoice and refund payment"], top_k=1)[0]
    theirs = pipeline("text-classification", model=str(run.dir))("my invoice and refund payment")[0]
    assert theirs["label"] == next(iter(ours))
    assert theirs["score"] == pytest.approx(next(iter(ours.values())), abs=1e-4)


def test_image_run_with_vit_saves_a_pipeline_loadable_model(tmp_path, tiny_image_model, image_zip):
    from transformers import pipeline

    run = _train(tmp_path, model=tiny_image_model, data=str(image_zip), epochs=2, lr=3e-3, frozen_layers=1)
    assert run.status == "finished", run.message
    assert json.loads((run.dir / "metrics.json").read_text())["used_prefix_cache"] is True
    report = json.loads((run.dir / "report.json").read_text())
    assert all((run.dir / e["item"]).is_file() for e in report["examples"])   # copies survive the upload
    example = run.dir / report["examples"][0]["item"]
    out = pipeline("image-classification", model=str(run.dir))(str(example))
    assert out[0]["label"] in ("red", "blue")


def test_lora_run_exports_a_merged_model_that_loads_without_peft(tmp_path, tiny_text_model, text_csv):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=6, lr=5e-3, method="lora",
                 frozen_layers=1)
    assert run.status == "finished", run.message
    from safetensors import safe_open

    with safe_open(str(run.dir / "model.safetensors"), "pt") as f:
        assert not any("lora" in k for k in f.keys())
    clf = load_trained(run.dir)                    # plain transformers model: no peft needed
    assert type(clf.model).__name__ == "BertForSequenceClassification"
    assert run.info["trainable_params"] < run.info["total_params"] * 0.5
    assert clf.predict(["refund my card payment"])


def test_early_stopping_keeps_the_best_epoch(tmp_path, tiny_text_model, text_csv):
    # A high learning rate over many epochs over-fits / oscillates: patience 1 stops it early.
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=30, lr=3e-2, patience=1,
                 frozen_layers=0, warmup_ratio=0.0)
    assert run.status == "finished"
    assert len(run.epochs) < 30 and "Stopped early" in run.message
    best = min(run.epochs, key=lambda e: e["val_loss"])
    assert run.best["epoch"] == best["epoch"]
    assert json.loads((run.dir / "metrics.json").read_text())["best_epoch"] == best["epoch"]


def test_stop_request_is_honoured_within_a_step_and_keeps_a_model(tmp_path, tiny_text_model, text_csv):
    config = TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=200, batch_size=4, lr=1e-3)
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


def test_non_finite_loss_stops_with_advice(tmp_path, tiny_text_model, text_csv):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=3, lr=1e30, frozen_layers=0,
                 warmup_ratio=0.0)
    assert run.status == "failed"
    assert "learning rate" in run.message and "lower" in run.message


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
    runner = Runner(store)
    original = TextPreprocessor.encode

    def broken_once(self, texts):           # a bug of ours inside the training thread
        monkeypatch.setattr(TextPreprocessor, "encode", original)
        raise IndexError("list index out of range")

    monkeypatch.setattr(TextPreprocessor, "encode", broken_once)
    bad = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=1))
    assert runner.wait(bad, timeout=120)
    assert bad.status == "failed" and (bad.dir / "error.log").exists()
    assert "error.log" in bad.message and "IndexError" in (bad.dir / "error.log").read_text()
    good = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=2, lr=3e-3))
    assert runner.wait(good, timeout=120) and good.status == "finished", good.message


def test_disk_full_while_saving_keeps_the_previous_model(tmp_path, tiny_text_model, text_csv, monkeypatch):
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=2, lr=3e-3)
    before = (run.dir / "model.safetensors").read_bytes()
    import ftapp.models.classifier as classifier

    def full_disk(self, directory):
        (directory if hasattr(directory, "mkdir") else __import__("pathlib").Path(directory)).mkdir(
            parents=True, exist_ok=True)
        (__import__("pathlib").Path(directory) / "model.safetensors").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(classifier.Classifier, "save", full_disk)
    config = TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=1, lr=3e-3)
    run2 = new_run(run.dir, config.to_dict())             # a second run into the same folder
    execute(config, run2, workdir=tmp_path / "w2")
    assert run2.status == "failed" and "disk space" in run2.message
    assert (run.dir / "model.safetensors").read_bytes() == before
    assert not (run.dir / ".model-tmp").exists()


def test_restart_lists_runs_and_marks_cut_off_ones_interrupted(tmp_path, tiny_text_model, text_csv):
    store = RunStore(tmp_path / "runs")
    done = store.create(TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=2, lr=3e-3).to_dict())
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


def test_runs_queue_and_only_the_owner_can_stop(tmp_path, tiny_text_model, text_csv):
    from ftapp.runner import Runner

    runner = Runner(RunStore(tmp_path / "runs"))
    slow = TrainConfig(model=tiny_text_model, data=str(text_csv), epochs=300, batch_size=2)
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


def test_best_epoch_checkpoint_is_saved_during_training(tmp_path, tiny_text_model, text_csv, monkeypatch):
    """With checkpoints due at every new best epoch, the model exists on disk before training
    ends, and it is whole (prefix included) even though training ran on cached states."""
    import ftapp.train.job as job

    seen = []
    original = job._checkpointer

    def every_time(run, every_seconds=60.0):
        save = original(run, every_seconds=0.0)

        def save_and_look(clf):
            save(clf)
            seen.append((run.dir / "model.safetensors").exists() and run.status == "running")
        return save_and_look

    monkeypatch.setattr(job, "_checkpointer", every_time)
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=2, lr=3e-3, frozen_layers=1,
                 method="lora")
    assert run.status == "finished" and seen and all(seen)
    assert load_trained(run.dir).predict(["refund"])


def test_augmented_image_run_uses_workers_and_no_cache(tmp_path, tiny_image_model, image_zip):
    run = _train(tmp_path, model=tiny_image_model, data=str(image_zip), epochs=2, lr=3e-3, frozen_layers=1,
                 augment=True)
    assert run.status == "finished", run.message
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["used_prefix_cache"] is False          # random crops: the prefix output changes
    assert len(run.steps) == 2                            # 19 training images: one batch per epoch


@pytest.mark.parametrize("name", ["linear", "cosine", "constant"])
def test_schedules_match_transformers_get_scheduler(name):
    """The hand-written factors equal transformers' own schedules (kept out of the import path)."""
    from transformers import get_scheduler

    from ftapp.train.loop import schedule

    def lrs(make):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(50):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        return out

    ours = lrs(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule(name, 5, 50)))
    name_hf = "constant_with_warmup" if name == "constant" else name
    theirs = lrs(lambda opt: get_scheduler(name_hf, opt, num_warmup_steps=5, num_training_steps=50))
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_same_seed_same_run_different_seed_different_run(tmp_path, tiny_text_model, text_csv):
    """The new head's initial weights are seeded too: identical settings give identical curves."""
    runs = [_train(tmp_path, name=f"r{i}", model=tiny_text_model, data=str(text_csv), epochs=2, lr=3e-3, seed=seed)
            for i, seed in enumerate([7, 7, 8])]
    losses = [[s["loss"] for s in r.steps] for r in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_precision_setting_is_resolved_and_reported(tmp_path, tiny_text_model, text_csv):
    from ftapp.train.device import cpu_has_native_bf16, resolve_precision

    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    for precision in ("fp32", "bf16"):
        run = _train(tmp_path, name=precision, model=tiny_text_model, data=str(text_csv), epochs=1, lr=3e-3,
                     precision=precision)
        assert run.status == "finished" and run.info["precision"] == precision


def test_patience_zero_turns_early_stopping_off(tmp_path, tiny_text_model, text_csv):
    # the same over-fitting setting that stops early with patience 1 runs every epoch with 0
    run = _train(tmp_path, model=tiny_text_model, data=str(text_csv), epochs=8, lr=3e-2, patience=0,
                 frozen_layers=0, warmup_ratio=0.0)
    assert run.status == "finished" and len(run.epochs) == 8 and "Stopped early" not in run.message
