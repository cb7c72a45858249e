"""A number per example (issue 25, command line first): standardised targets, ridge first model,
Huber loss, R²/Spearman/MAE/RMSE in the target's unit, and the saved model giving numbers in that
unit through ftapp, transformers' pipeline, ONNX and the Space — with real torch training."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import make_tiny_sentence_model, make_tiny_text_model, train_run, write_number_csv
from ftapp import tasks
from ftapp.cli import main
from ftapp.data import load_dataset


def test_a_number_column_trains_as_a_number(tmp_path):
    data = write_number_csv(tmp_path / "reviews.csv", n=120)
    ds, report = load_dataset(data, workdir=tmp_path / "w", label_column="score")
    assert ds.numeric and report.details["task"] == "regression"          # auto: measurements are numbers
    ds, report = load_dataset(data, workdir=tmp_path / "w2", label_column="score", task="single")
    assert not ds.numeric and any("A number" in w.message for w in report.warnings)   # classes: it says so
    ds, report = load_dataset(data, workdir=tmp_path / "w3", label_column="score", task="regression")
    assert ds.numeric and ds.classes == ["value"] and report.ok and not report.warnings
    assert sorted(ds.class_counts()) == ["q1", "q2", "q3", "q4"]         # what splits keep in proportion
    assert "Numbers from" in report.summary()


def test_words_in_a_number_column_are_named(tmp_path):
    (tmp_path / "t.csv").write_text("text,score\n" + "".join(f"row {i},{i}\n" for i in range(20)) + "row x,n/a\n")
    _, report = load_dataset(tmp_path / "t.csv", workdir=tmp_path / "w", label_column="score", task="regression")
    assert not report.ok and "'n/a'" in str(report.errors[0]) and "not numbers" in str(report.errors[0])


def test_the_number_task_scores_in_the_targets_unit():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    m = tasks.Number.metrics(np.array([[0.5], [1.0], [2.0], [2.5]]), y, scale=10.0)
    assert m["mae"] == pytest.approx(2.5) and m["spearman"] == pytest.approx(1.0) and m["r2"] == pytest.approx(0.9)
    assert tasks.of([0.1, -0.3]) is tasks.Number and tasks.of([]) is tasks.OneLabel


def test_a_number_run_trains_evaluates_and_predicts(tmp_path, tiny_learner_model, capsys):
    data = write_number_csv(tmp_path / "reviews.csv", n=300)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", tiny_learner_model, "--out", str(out), "--task",
                 "regression", "--no-auto", "--lr", "3e-3", "--epochs", "30"]) == 0
    printed = "".join(capsys.readouterr())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["n_test"] == 30
    assert metrics["test_r2"] > 0.5 and metrics["test_mae"] < 1.5       # the words add up to the score
    assert f"Test R² {metrics['test_r2']:.3f}" in printed and "ridge regression" in printed
    meta = json.loads((out / "ftapp_model.json").read_text())
    assert meta["task"] == "regression" and meta["labels"] == ["value"] and len(meta["residual_interval"]) == 2
    assert json.loads((out / "config.json").read_text())["problem_type"] == "regression"
    curve = json.loads((out / "learning_curve.json").read_text())     # read in R², no classes to name
    assert curve["score_name"] == "R²" and "ridge" in curve["head"] and "R²" in curve["advice"]
    assert curve["points"][-1]["score"] > curve["points"][0]["score"] and not curve["points"][-1]["recall"]
    issues = (out / "label_issues.csv").read_text().splitlines()       # numbers: no suggested labels
    assert issues[0].startswith("row,issue") and not [r for r in issues[1:] if ",label," in r]

    assert main(["evaluate", "--model", str(out), "--data", str(data)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"r2", "mae", "rmse", "spearman"} <= set(result) and result["n"] == 300
    assert main(["predict", "--model", str(out), "review 1: great and great", "review 2: awful and awful"]) == 0
    high, low = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert high["answer"] > low["answer"] + 3                          # 7 and -1 in the data's own unit
    assert high["likely_range"][0] < high["answer"] < high["likely_range"][1]

    from ftapp.inference import explain_run      # what pushed the number up or down: the words' signs
    why = explain_run(out, "review 5: great and awful")
    weight = dict(why["words"])
    assert why["number"] == pytest.approx(_value(out, "review 5: great and awful"), abs=1e-4)
    assert weight["great"] > 0 > weight["awful"], why


@pytest.fixture(scope="module", params=["sentence", "transformers"])
def number_run(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"number-{request.param}")
    model = (make_tiny_sentence_model(tmp / "encoder") if request.param == "sentence"
             else make_tiny_text_model(tmp / "bert", initializer_range=0.2))
    return train_run(tmp, str(model), write_number_csv(tmp / "t.csv", n=160), lr=3e-3, epochs=3, task="regression",
                     label_column="score")


def _value(run_dir, text: str) -> float:
    from ftapp.inference import predict_run

    return predict_run(run_dir, text)["value"]


def test_number_card_snippets_and_onnx_give_ftapps_number(number_run, tmp_path):
    from ftapp.export import export_onnx, export_zip

    with zipfile.ZipFile(export_zip(number_run.dir, tmp_path)) as zf:
        zf.extractall(tmp_path)
    check = json.loads((export_onnx(number_run.dir, tmp_path / "onnx") / "onnx_check.json").read_text())
    assert check["ok"], check
    card = (tmp_path / "model" / "README.md").read_text()
    assert "- R²:" in card and "Mean absolute error" in card and "confusion" not in card.lower()
    expected = _value(number_run.dir, "a text to classify")
    for code in re.findall(r"```python\n(.*?)```", card, flags=re.S):
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert float(done.stdout.strip()) == pytest.approx(expected, abs=1e-3), (code, done.stdout)


def test_number_space_bundle_answers_with_the_number(number_run, tmp_path):
    from test_exports import _Served

    from ftapp.export import export_space

    folder = export_space(number_run.dir, tmp_path / "space")
    served = _Served(folder)
    try:
        value, answer = served.client().predict("review 3: good and good", api_name="/predict")
    finally:
        served.close()
    assert value == pytest.approx(_value(number_run.dir, "review 3: good and good"), abs=1e-3)
    assert answer.startswith("**Predicted: ")


def test_a_number_per_picture(tmp_path, tiny_image_model):
    """Pictures through a table with a number column: the run keeps copies of the pictures with the
    largest errors (uploads are temporary), and the saved model predicts what the run scored, in
    the column's unit (the training scale folded into its head)."""
    from PIL import Image

    from ftapp.inference import predict_run

    rng = np.random.default_rng(1)
    rows = []
    for i in range(130):
        level = rng.uniform(20, 230)
        Image.fromarray(np.clip(rng.normal(level, 15, (32, 32, 3)), 0, 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
        rows.append(f"p{i}.png,{level:.2f}\n")
    (tmp_path / "bright.csv").write_text("image,brightness\n" + "".join(rows))
    run = train_run(tmp_path, tiny_image_model, tmp_path / "bright.csv", task="regression", epochs=3, lr=3e-3)
    test = json.loads((run.dir / "test_report.json").read_text())     # scored by the kept model, as trained
    assert test["task"] == "regression" and test["n"] >= 10
    for w in test["largest_errors"][:3]:
        assert (run.dir / w["item"]).is_file()
        assert predict_run(run.dir, str(run.dir / w["item"]))["value"] == pytest.approx(w["predicted"], rel=1e-3,
                                                                                       abs=1e-2)
    from ftapp.inference import explain_run     # Why?: where the picture pushed the number up, over the picture

    why = explain_run(run.dir, str(run.dir / w["item"]))
    assert why["caption"] == f"Why {why['number']:.4g}: where the picture pushed the number up (red)"
    assert why["number"] == pytest.approx(w["predicted"], rel=1e-3, abs=1e-2) and os.path.isfile(why["heatmap"])
