"""Several labels per example (issue 25): the targets, the thresholds, the split, and a whole run
through the CLI — train, evaluate, predict — with real torch training on a tiny model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ftapp import tasks
from ftapp.cli import main
from ftapp.data import load_dataset, train_val_split
from conftest import write_multilabel_csv


def test_thresholds_are_each_labels_best_f1():
    probs = np.array([[0.9, 0.30], [0.8, 0.25], [0.2, 0.35], [0.1, 0.05]])
    y = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    # label 0: any cut in (0.2, 0.8] is perfect; label 1: 0.30 and 0.35 are positives, 0.25 is not
    t = tasks.thresholds(probs, y)
    assert t[0] == 0.8 and t[1] == 0.3
    assert tasks.SeveralLabels.metrics(probs, y, t)["micro_f1"] == 1.0
    assert tasks.SeveralLabels.metrics(probs, y)["micro_f1"] < 1.0      # every threshold at 0.5 misses label 1
    assert tasks.thresholds(probs, np.array([[1, 0]] * 4)) == [0.5, 0.5]   # always / never: nothing to tune


def test_the_targets_say_the_task():
    assert tasks.of([0, 2, 1]) is tasks.OneLabel and tasks.of([[1, 0], [0, 1]]) is tasks.SeveralLabels
    loss = tasks.SeveralLabels.loss(torch.zeros(2, 3), torch.tensor([[1, 0, 0], [0, 1, 1]]))
    assert loss.item() == pytest.approx(np.log(2), rel=1e-5)        # a sigmoid of 0 is one half on every label
    assert list(tasks.SeveralLabels.strata(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]]))) == [1, 0, -1]


def test_the_split_keeps_a_rare_label_on_both_sides(tmp_path):
    rows = [(f"common text {i}", "a") for i in range(60)] + [(f"rare text {i}", "a;rare") for i in range(6)]
    (tmp_path / "t.csv").write_text("text,labels\n" + "".join(f"{t},{label}\n" for t, label in rows))
    ds, report = load_dataset(tmp_path / "t.csv", workdir=tmp_path / "w", task="multi")
    train, val, _ = train_val_split(ds, 0.2, seed=0)
    assert "rare" in train.classes and "rare" in val.classes
    assert train.separator == val.separator == ";"


def _json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_a_multilabel_run_trains_evaluates_and_predicts(tmp_path, tiny_learner_model, capsys):
    data = write_multilabel_csv(tmp_path / "tickets.csv", n=400)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", tiny_learner_model, "--out", str(out),
                 "--no-auto", "--epochs", "30", "--lr", "3e-3"]) == 0
    printed = "".join(capsys.readouterr())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "multi" and metrics["n_test"] == 40 and metrics["chosen"] == "fine-tuned"
    assert metrics["test_micro_f1"] > 0.85          # each label's words give it away: fine-tuning learns them
    assert f"Test micro-F1 {metrics['test_micro_f1']:.3f}" in printed and "accuracy" not in printed.split("Test")[-1]
    meta = json.loads((out / "ftapp_model.json").read_text())
    assert meta["task"] == "multi" and meta["labels"] == ["billing", "bug", "praise", "urgent"]
    assert len(meta["thresholds"]) == 4 and all(0 < t < 1 for t in meta["thresholds"])
    assert json.loads((out / "config.json").read_text())["problem_type"] == "multi_label_classification"
    report = json.loads((out / "report.json").read_text())
    assert [r["label"] for r in report["per_label"]] == meta["labels"] and report["thresholds"] == [
        round(t, 4) for t in meta["thresholds"]]
    curve = json.loads((out / "learning_curve.json").read_text())     # read in micro-F1 and each label's recall
    assert curve["score_name"] == "micro-F1" and set(curve["points"][-1]["recall"]) == set(meta["labels"])
    assert 0 < curve["points"][-1]["score"] <= 1 and "micro-F1" in curve["advice"]
    assert (out / "label_issues.csv").read_text().startswith("row,issue")   # the data check ran

    assert main(["evaluate", "--model", str(out), "--data", str(data)]) == 0
    (result,) = _json_lines(capsys)
    assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(result) and result["n"] == 400
    assert main(["predict", "--model", str(out), "ticket 998: refund and asap here", "ticket 999: love here"]) == 0
    first, second = _json_lines(capsys)
    assert set(first["answer"]) == {"billing", "urgent"} and second["answer"] == ["praise"]
    assert all(s["threshold"] == t for s, t in zip(first["labels"], meta["thresholds"]))


def test_transformers_pipeline_reads_the_saved_multilabel_model(tmp_path, tiny_learner_model):
    from transformers import pipeline

    from ftapp.models import load_trained
    from conftest import train_run

    run = train_run(tmp_path, tiny_learner_model, write_multilabel_csv(tmp_path / "t.csv", n=120))
    clf = load_trained(run.dir)
    scores = pipeline("text-classification", model=str(run.dir), top_k=None)(["a refund asap"])[0]
    mine = clf.predict_proba(["a refund asap"])[0]
    assert {s["label"]: round(s["score"], 4) for s in scores} == {
        label: round(float(p), 4) for label, p in zip(clf.labels, mine)}   # a sigmoid per label, not a softmax


def test_a_zero_one_column_per_label_trains_as_several_labels(tmp_path, tiny_learner_model):
    """The same tickets as one 0/1 column per label: the run reads them again from the file (the
    worker's path) and trains several labels, named after the columns."""
    import csv

    from conftest import train_run

    source = list(csv.DictReader(open(write_multilabel_csv(tmp_path / "t.csv", n=120), encoding="utf-8")))
    names = ["billing", "bug", "praise", "urgent"]
    with open(tmp_path / "flags.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", *names])
        w.writerows([r["text"], *(int(n in r["labels"].split(";")) for n in names)] for r in source)
    run = train_run(tmp_path, tiny_learner_model, tmp_path / "flags.csv")
    meta = json.loads((run.dir / "ftapp_model.json").read_text())
    assert meta["task"] == "multi" and meta["labels"] == names and len(meta["thresholds"]) == 4


def test_small_multilabel_data_cross_validates(tmp_path, tiny_learner_model):
    from conftest import train_run

    run = train_run(tmp_path, tiny_learner_model, write_multilabel_csv(tmp_path / "t.csv", n=60), auto=True)
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["validation_kind"] == "cross-validation" and metrics["n_val"] == 60
    assert 0 <= metrics["val_micro_f1"] <= 1 and "unsure_below" not in metrics
    assert "which chose each label's decision threshold" in metrics["validation"]


def test_the_bundled_sentence_model_saves_a_one_vs_rest_setfit_head(tmp_path):
    """Several labels on the default text model: SetFit loads the saved folder and gives each label
    the same probability as ftapp (a sigmoid per label)."""
    from setfit import SetFitModel

    from ftapp.models import load_pretrained, load_trained
    from ftapp.models.catalog import BUNDLED_TEXT

    texts = ["refund my card payment", "the app crashes on start", "great support, thanks"]
    clf = load_pretrained(BUNDLED_TEXT, ["a", "b", "c"], modality="text")
    clf.task, clf.thresholds = tasks.SEVERAL, [0.4, 0.5, 0.6]
    torch.manual_seed(0)
    clf.model.classifier.weight.data.normal_(0, 3)
    probs = clf.predict_proba(texts)
    assert not torch.allclose(probs.sum(-1), torch.ones(3))              # each label its own yes / no
    clf.save(tmp_path / "m")
    again = load_trained(tmp_path / "m")
    assert again.task == tasks.SEVERAL and again.thresholds == [0.4, 0.5, 0.6]
    assert torch.allclose(again.predict_proba(texts), probs, atol=1e-5)
    setfit = SetFitModel.from_pretrained(str(tmp_path / "m"))
    assert torch.allclose(torch.as_tensor(setfit.predict_proba(texts)).float(), probs, atol=1e-5)


# ---- exports: every way out of ftapp gives the same labels ------------------------------------------------
@pytest.fixture(scope="module", params=["sentence", "transformers"])
def multi_run(request, tmp_path_factory):
    from conftest import make_tiny_sentence_model, make_tiny_text_model, train_run

    tmp = tmp_path_factory.mktemp(f"multi-{request.param}")
    model = (make_tiny_sentence_model(tmp / "encoder") if request.param == "sentence"
             else make_tiny_text_model(tmp / "bert", initializer_range=0.2))
    return train_run(tmp, str(model), write_multilabel_csv(tmp / "t.csv", n=160), lr=3e-3, epochs=3)


def _labels(run_dir, text: str) -> list[str]:
    """What ftapp answers: every label at or above its threshold, in the model's label order."""
    from ftapp.inference import model_for

    clf = model_for(run_dir)
    return clf.answers(clf.predict_proba([text]))[0]


def test_multilabel_card_snippets_and_onnx_give_ftapps_labels(multi_run, tmp_path):
    import re
    import subprocess
    import sys
    import zipfile

    from ftapp.export import export_onnx, export_zip

    with zipfile.ZipFile(export_zip(multi_run.dir, tmp_path)) as zf:
        zf.extractall(tmp_path)
    onnx = export_onnx(multi_run.dir, tmp_path / "onnx")
    check = json.loads((onnx / "onnx_check.json").read_text())
    assert check["ok"] and check["same_top1"], check
    card = (tmp_path / "model" / "README.md").read_text()
    assert "Micro F1" in card and "| label | threshold |" in card and "confusion" not in card.lower()
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert len(blocks) == 2
    expected = _labels(multi_run.dir, "a text to classify")
    for code in blocks:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(eval(done.stdout.strip())) == sorted(expected), (code, done.stdout)   # a printed list


def test_multilabel_space_bundle_answers_with_the_labels(multi_run, tmp_path):
    from test_exports import _Served

    from ftapp.export import export_space

    folder = export_space(multi_run.dir, tmp_path / "space")
    text = "ticket 5: refund and asap here"
    served = _Served(folder)
    try:
        scores, answer = served.client().predict(text, api_name="/predict")
    finally:
        served.close()
    expected = _labels(multi_run.dir, text)
    assert (f"**Labels: " in answer and sorted(answer.split("**")[1][len("Labels: "):].split(", ")) == sorted(expected)
            if expected else "No label" in answer), (answer, expected)


def test_rare_labels_weigh_more_only_when_asked():
    """Several labels per example: per-label positive weights (negatives / positives) with
    --class-weights on; auto leaves them off (the tuned thresholds handle rare labels)."""
    from ftapp.train.config import TrainConfig
    from ftapp.train.setup import class_weights

    labels = ["a;b", "a", "a", "a;c"]
    assert class_weights(TrainConfig(), labels, ["a", "b", "c"], ";") is None
    weights = class_weights(TrainConfig(class_weights="on"), labels, ["a", "b", "c"], ";")
    assert weights.tolist() == [0.0, 3.0, 3.0]      # "a" is on every example: nothing to weigh against
