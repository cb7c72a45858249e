"""The `ftapp` command as a user runs it: real processes, exit codes, JSON, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def ftapp(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ftapp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_models_json_lists_bundled_offline_models_first():
    out = ftapp("models", "--json")
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)
    assert {"name", "modality", "offline"} <= set(models[0])
    assert [m["offline"] for m in models[:3]] == [True, True, True]
    assert {m["modality"] for m in models if m["offline"]} == {"image", "text", "audio"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_text_model):
    from conftest import write_text_csv

    tmp = tmp_path_factory.mktemp("cli")
    data = write_text_csv(tmp / "tickets.csv")
    test = write_text_csv(tmp / "test.csv", n_per_class=5, seed=1)
    out = ftapp("train", "--data", data, "--model", tiny_text_model, "--epochs", 2, "--lr", 3e-3,
                "--frozen-layers", 1, "--test-data", test, "--out", tmp / "model")
    return tmp, data, out


def test_train_writes_metrics_and_model_and_reports_progress(trained):
    tmp, _, out = trained
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp / "model" / "metrics.json").read_text())
    assert {"val_accuracy", "val_macro_f1", "train_seconds", "test_accuracy", "test_macro_f1"} <= set(metrics)
    assert metrics["n_test"] == 15 and "Test accuracy" in out.stderr
    assert "epoch 1:" in out.stderr and "val accuracy" in out.stderr
    assert (tmp / "model" / "config.json").exists()


def test_evaluate_prints_one_json_line(trained):
    tmp, data, _ = trained
    out = ftapp("evaluate", "--model", tmp / "model", "--data", data)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["macro_f1"] <= 1 and result["n"] == 60
    meta = json.loads((tmp / "model" / "ftapp_model.json").read_text())
    assert result["unsure"]["threshold"] == meta["unsure_below"]    # scored at the model's own threshold
    assert result["unsure"]["answered"] <= result["n"]


def test_predict_prints_one_json_line_per_input(trained):
    tmp, _, _ = trained
    out = ftapp("predict", "--model", tmp / "model", "my invoice was charged twice", "the app crashes")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(l) for l in out.stdout.strip().splitlines()]
    assert [r["input"] for r in rows] == ["my invoice was charged twice", "the app crashes"]
    meta = json.loads((tmp / "model" / "ftapp_model.json").read_text())
    for r in rows:
        assert r["label"] == r["labels"][0]["label"] and r["label"] in ("billing", "bug", "praise")
        assert sum(x["score"] for x in r["labels"]) == pytest.approx(1.0, abs=1e-3)
        assert r["unsure_below"] == meta["unsure_below"]
        assert r["answer"] == (r["label"] if r["labels"][0]["score"] >= meta["unsure_below"] else "not sure")


@pytest.mark.parametrize("threshold", [0, 0.999])
def test_predict_answers_not_sure_under_the_threshold_given(trained, threshold):
    tmp, _, _ = trained
    out = ftapp("predict", "--model", tmp / "model", "--unsure-below", threshold, "my invoice was charged twice")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["unsure_below"] == threshold
    assert r["answer"] == (r["label"] if r["labels"][0]["score"] >= threshold else "not sure")


@pytest.mark.parametrize("case", ["single_class", "missing_file", "not_a_model", "unknown_model", "bad_column",
                                  "bad_setting"])
def test_bad_input_gives_one_line_and_non_zero_exit(case, tmp_path, tiny_text_model):
    csv = tmp_path / "data.csv"
    csv.write_text("text,label\n" + "".join(f"example number {i},spam\n" for i in range(12)))
    args = {
        "single_class": ("train", "--data", csv, "--model", tiny_text_model, "--out", tmp_path / "o"),
        "missing_file": ("train", "--data", tmp_path / "nope.csv", "--model", tiny_text_model, "--out", tmp_path / "o"),
        "not_a_model": ("predict", "--model", tmp_path, "hello"),
        "unknown_model": ("train", "--data", csv, "--model", "no-such-org/nothing-here", "--out", tmp_path / "o"),
        "bad_column": ("train", "--data", csv, "--model", tiny_text_model, "--label-column", "category",
                       "--out", tmp_path / "o"),
        "bad_setting": ("train", "--data", csv, "--model", tiny_text_model, "--val-fraction", "0",
                        "--out", tmp_path / "o"),
    }[case]
    if case == "unknown_model":
        csv.write_text("text,label\n" + "".join(f"example {i},{'ab'[i % 2]}\n" for i in range(12)))
    out = ftapp(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    last = lines[-1]
    if case != "unknown_model":
        assert len(lines) == 1, out.stderr   # the reason, nothing else
    expected = {"single_class": "spam", "missing_file": "does not exist", "not_a_model": "not a model trained by ftapp",
                "unknown_model": "no-such-org/nothing-here", "bad_column": "category",
                "bad_setting": "Validation share must be between 0.05 and 0.5"}[case]
    assert expected in last, out.stderr


def test_evaluate_on_classes_the_model_never_saw_scores_the_rest_and_names_them(trained, tmp_path):
    model_dir = trained[0] / "model"
    csv = tmp_path / "other.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},{'weather' if i % 2 else 'billing'}\n" for i in range(10)))
    out = ftapp("evaluate", "--model", model_dir, "--data", csv)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    result = json.loads(out.stdout)
    assert result["n"] == 5 and result["unknown_classes"] == {"weather": 5}
    assert out.stderr.strip().splitlines() == [
        "Warning: 5 row(s) of 1 class(es) the model was not trained on were left out: weather (5)."]
    csv.write_text("text,label\n" + "".join(f"row {i},{'weather' if i % 2 else 'sports'}\n" for i in range(10)))
    out = ftapp("evaluate", "--model", model_dir, "--data", csv)          # nothing left to score: an error
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("ftapp: error: None of the data's classes is one the model knows "
                                         "(sports, weather)")
