"""A first run that is fast and never contradicts itself: the first model usable at once, a time
budget or a stop that ends cleanly, numbers only over what was evaluated, progress that ends at
100 %, a split too small to check."""
from __future__ import annotations

import json
import threading

import pytest

from conftest import write_image_zip, write_text_csv
from ftapp.models import load_trained
from ftapp.runs import RunFolder, RunStore, new_run
from ftapp.train.config import TrainConfig
from ftapp.train.job import execute


def _metrics(run) -> dict:
    return json.loads((run.dir / RunFolder.METRICS).read_text())


def test_the_first_model_is_usable_while_fine_tuning_runs(tmp_path, tiny_text_model, text_csv_big):
    """Saved, reported and predicting while the run is still training; replaced at the end only by
    what beat it."""
    from ftapp.runner import Runner

    runner = Runner(RunStore(tmp_path / "runs"))
    run = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                    min_steps=4000, batch_size=4, epochs=300))
    ready = threading.Event()
    run.listeners.append(lambda kind, data: kind == "info" and "first_model" in data and ready.set())
    assert ready.wait(120)
    while not run.steps:             # fine-tuning has started: the first model is in use meanwhile
        assert run.active
        threading.Event().wait(0.05)
    assert run.status == "running" and run.has_model
    m = _metrics(run)
    assert m["stage"] == "first model" and m["chosen"] == "probe" and "test_accuracy" in m
    assert load_trained(run.dir).predict(["my invoice was charged twice"])      # it predicts
    assert run.info["first_model"]["message"].startswith("A first model is ready")
    assert json.loads((run.dir / RunFolder.REPORT).read_text())["n"] == run.info["n_val"]
    runner.stop(run.id)
    assert runner.wait(run, timeout=120) and run.status == "stopped" and run.has_model
    assert _metrics(run)["stage"] == "final"


def test_a_stop_inside_cross_validation_reports_only_what_was_evaluated(tmp_path, tiny_text_model):
    """The run of issue 22: small data (cross-validation), cut off in the second fold. The first
    model's out-of-fold numbers cover every example; fine-tuning's only the first fold's — never
    zeros for the folds that did not run."""
    data = write_text_csv(tmp_path / "t.csv", n_per_class=20)
    config = TrainConfig(model=tiny_text_model, data=str(data), auto=True, lr=1e-3, min_steps=60, batch_size=4)
    run = new_run(tmp_path / "run", config.to_dict())
    run.listeners.append(lambda kind, d: kind == "step" and d.get("part") == 2 and d["step"] == 3
                         and run.stop_event.set())
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "stopped" and run.has_model
    m, report = _metrics(run), json.loads((run.dir / RunFolder.REPORT).read_text())
    assert m["chosen"] == "probe" and report["n"] == 60                      # every example, out of fold
    assert m["val_accuracy"] == pytest.approx(m["first_model_val_accuracy"], abs=1e-4)
    fold_rows = m["check"]["ft"]["n"]
    assert 0 < fold_rows < 60 and m["check"]["probe"]["n"] == fold_rows    # compared on fold 1's examples only
    assert "1 of its 3 parts ran" in run.message
    assert run.progress == 1.0


def test_a_time_budget_inside_cross_validation_ends_cleanly(tmp_path, tiny_text_model):
    import time

    data = write_text_csv(tmp_path / "t.csv", n_per_class=20)
    config = TrainConfig(model=tiny_text_model, data=str(data), auto=True, lr=1e-4, min_steps=100000, epochs=300,
                         batch_size=2, time_budget=0.5)
    run = new_run(tmp_path / "run", config.to_dict())
    started = time.time()
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "finished" and run.has_model and time.time() - started < 40
    m = _metrics(run)
    assert m["n_val"] == json.loads((run.dir / RunFolder.REPORT).read_text())["n"]
    if m["chosen"] == "probe":       # nothing compared fine-tuning in time, or it did not win: all rows scored
        assert m["n_val"] == 60 and m["val_accuracy"] == pytest.approx(m["first_model_val_accuracy"], abs=1e-4)
    else:                            # the final model trained only as long as the folds showed it was better
        assert m["check"]["ft"]["accuracy"] >= m["check"]["probe"]["accuracy"]
    assert abs(m["val_accuracy"] - m.get("test_accuracy", m["val_accuracy"])) <= 1.0
    assert run.progress == 1.0


def test_progress_never_goes_back_and_reaches_one(tmp_path, tiny_text_model, text_csv_big):
    seen = []
    config = TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=True, lr=1e-3, min_steps=40)
    run = new_run(tmp_path / "run", config.to_dict())
    run.listeners.append(lambda kind, d: seen.append((kind, d)))
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "finished"
    progress = [d["progress"] for k, d in seen if k == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    # within one phase the estimate of time left only falls; it may grow when a new phase starts
    phase, last = None, None
    for kind, d in seen:
        if kind == "phase":
            phase, last = d["phase"], None
        elif kind == "progress" and d["eta_seconds"] is not None:
            if last is not None:
                assert d["eta_seconds"] <= last + 1e-6, phase
            last = d["eta_seconds"]


@pytest.mark.parametrize("rows", [["alpha beta"] * 10 + ["gamma delta"] * 10,
                                  ["same text"] * 19 + ["other text"]])
def test_too_few_distinct_examples_end_with_a_plain_message(tmp_path, tiny_text_model, rows):
    """20 rows of only 2 distinct texts: the grouped split leaves nothing to validate on."""
    data = tmp_path / "two.csv"
    data.write_text("text,label\n" + "".join(f"{t},{'a' if t in ('alpha beta', 'same text') else 'b'}\n"
                                             for t in rows))
    run = new_run(tmp_path / "run", {})
    execute(TrainConfig(model=tiny_text_model, data=str(data)), run, workdir=tmp_path / "w")
    assert "unexpectedly" not in run.message and not (run.dir / RunFolder.ERROR_LOG).exists()
    assert run.status in ("finished", "failed")
    if run.status == "finished":
        assert "distinct" in run.message and _metrics(run)["validation_kind"] == "training data"


def test_picture_runs_show_a_cheap_picture_baseline(tmp_path, tiny_image_model):
    data = write_image_zip(tmp_path / "c.zip", n_per_class=40)
    config = TrainConfig(model=tiny_image_model, data=str(data), auto=False, lr=1e-3, min_steps=10)
    run = new_run(tmp_path / "run", config.to_dict())
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "finished", run.message
    report = json.loads((run.dir / RunFolder.REPORT).read_text())
    own = report["baselines"]["own"]
    assert own["name"] == "colour and gradient histograms + logistic regression" and own["accuracy"] > 0.9
    assert _metrics(run)["histogram_val_accuracy"] == own["accuracy"]
    test = json.loads((run.dir / RunFolder.TEST_REPORT).read_text())
    assert test["baselines"]["own"]["name"] == own["name"]


def test_a_test_file_of_ones_own_takes_the_place_of_the_test_slice(tmp_path):
    """With 30+ examples per class a tenth is held out as the test slice; with a test file given,
    that file is the held-out score and every training example trains or validates."""
    from ftapp.data import Limits
    from ftapp.train.splits import prepare_data

    data = write_text_csv(tmp_path / "train.csv", n_per_class=40)
    test = write_text_csv(tmp_path / "test.csv", n_per_class=5, seed=1)
    sliced = prepare_data(TrainConfig(data=str(data)), tmp_path / "a", Limits())
    assert sliced.test is not None and len(sliced.test) == 12
    own = prepare_data(TrainConfig(data=str(data), test_data=str(test)), tmp_path / "b", Limits())
    assert own.test is None and len(own.train) + len(own.val) == 120
