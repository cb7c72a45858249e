"""Messy labels: class edits as a recorded mapping (rename / merge / drop, look-alike merges, small
classes), applied alike to training, validation, test and evaluation data; reports that stay
readable with hundreds of classes."""
from __future__ import annotations

import csv
import json
import random

import pytest

from conftest import write_many_classes_csv
from ftapp import cli
from ftapp.data import load_dataset
from ftapp.data.labels import apply_label_map, compose, edit_labels, label_key, similar_merges

WORDS = {"billing": "refund invoice payment charged card money", "bug": "crash error broken freezes button screen",
         "praise": "great love thanks awesome happy nice"}
VARIANTS = {"billing": ["billing", "Billing", " BILLING "], "bug": ["bug", "Bug ", "BUG"],
            "praise": ["praise", "Praise", "PRAISE\u00a0"]}   # a no-break space: NFKC makes it a space


def _messy_csv(path, n=24, seed=0, extra=()):
    rng = random.Random(seed)
    rows = []
    for c, words in WORDS.items():
        for i in range(n):
            w = words.split()
            rng.shuffle(w)
            rows.append((" ".join(w[:4]) + f" case {i}", VARIANTS[c][i % 3] if i % 2 else c))
    rows += list(extra)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_look_alike_labels_have_one_key_and_merge_into_the_most_common_spelling():
    assert label_key(" BILLING ") == label_key("billing") == label_key("Billing") == "billing"
    assert label_key("PRAISE\u00a0") == "praise" and label_key("ﬁle") == "file"       # NFKC
    assert label_key("bug report") == label_key("Bug   Report")
    assert similar_merges({"billing": 10, "Billing": 3, "BILLING": 3, "bug": 4}) == {"Billing": "billing",
                                                                                    "BILLING": "billing"}
    assert similar_merges({"Cat": 2, "cat": 2}) == {"cat": "Cat"}        # a tie: not the capitals, first in order
    # raw "a" became "b", now "d"; a raw "b" (if any) becomes "d" too
    assert compose({"a": "b", "c": None}, {"b": "d", "e": "f"}) == {"a": "d", "c": None, "b": "d", "e": "f"}


def test_edits_compose_and_apply_alike_to_other_data(tmp_path):
    ds, _ = load_dataset(_messy_csv(tmp_path / "t.csv", extra=[("odd one", "misc")] * 3), workdir=tmp_path / "w")
    assert len(ds.classes) == 10
    edited, mapping = edit_labels(ds, {"praise": "happy"}, merge_similar=True, min_examples=5)
    assert edited.classes == ["billing", "bug", "happy"] and len(edited) == len(ds) - 3
    assert mapping["misc"] is None and mapping["Praise"] == "happy" and mapping["praise"] == "happy"
    # other data: the same mapping, and a variant only it has goes to the class it resembles
    test, _ = load_dataset(_messy_csv(tmp_path / "test.csv", n=3, extra=[("x", "BiLLiNG")]), workdir=tmp_path / "w2")
    mapped = apply_label_map(test, mapping, merge_similar=True, classes=edited.classes)
    assert set(mapped.labels) == {"billing", "bug", "happy"} and len(mapped) == len(test)


def test_cli_merge_similar_labels_trains_three_classes_and_evaluate_applies_it(tmp_path, capsys, tiny_text_model):
    data, out = _messy_csv(tmp_path / "train.csv"), tmp_path / "run"
    code = cli.main(["train", "--data", str(data), "--model", tiny_text_model, "--out", str(out), "--no-auto",
                     "--epochs", "1", "--min-steps", "5", "--merge-similar-labels"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(json.loads((out / "config.json").read_text())["id2label"].values()) == ["billing", "bug", "praise"]
    settings = json.loads((out / "settings.json").read_text())["settings"]
    assert settings["merge_similar_labels"] is True and settings["label_map"]["Bug"] == "bug"
    from ftapp.export import model_card

    card = model_card(out)
    assert "## Class edits" in card and "| Billing | billing |" in card
    code = cli.main(["evaluate", "--model", str(out), "--data", str(_messy_csv(tmp_path / "test.csv", n=6, seed=1))])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n"] == 18 and "unknown_classes" not in result


def test_cli_label_map_file_renames_and_drops(tmp_path, capsys, tiny_text_model):
    mapping = tmp_path / "edits.json"
    mapping.write_text(json.dumps({"praise": None, "bug": "defect"}))
    code = cli.main(["train", "--data", str(_messy_csv(tmp_path / "t.csv")), "--model", tiny_text_model,
                     "--out", str(tmp_path / "run"), "--no-auto", "--epochs", "1", "--min-steps", "5",
                     "--label-map", str(mapping), "--merge-similar-labels"])
    assert code == 0, capsys.readouterr().err
    labels = json.loads((tmp_path / "run" / "config.json").read_text())["id2label"].values()
    assert sorted(labels) == ["billing", "defect"]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(SystemExit):            # argparse: one usage line, exit code 2
        cli.main(["train", "--data", "x.csv", "--model", "m", "--out", "o", "--label-map", str(tmp_path / "bad.json")])
    assert "must hold a JSON object" in capsys.readouterr().err


def test_300_tiny_classes_give_a_short_report_and_still_train(tmp_path, capsys, tiny_text_model):
    path = write_many_classes_csv(tmp_path / "many.csv")
    ds, report = load_dataset(path, workdir=tmp_path / "w")
    assert report.ok and len(ds.classes) == 300
    assert len(report.warnings) == 1 and report.warnings[0].where == "class sizes"
    assert "300 classes have fewer than 5 examples: g0, g1, g2, …" in report.warnings[0].message and len(report.details["small_classes"]) == 300
    code = cli.main(["train", "--data", str(path), "--model", tiny_text_model, "--out", str(tmp_path / "run"),
                     "--no-auto", "--epochs", "1", "--min-steps", "2", "--batch-size", "64"])
    err = capsys.readouterr().err
    assert code == 0, err
    report_lines = err[:err.index("Training on")].strip().splitlines()
    assert len(report_lines) <= 30, report_lines
    assert err.count("fewer than 5 examples") == 1                   # each warning once
    data_report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert len(data_report["train"]["details"]["small_classes"]) == 300


def test_duplicate_column_names_say_which_one_is_used(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("text,label,label\n" + "".join(f"refund {i},billing,x\ncrash {i},bug,y\n" for i in range(6)))
    ds, report = load_dataset(path, workdir=tmp_path / "w")
    assert ds.classes == ["billing", "bug"]
    assert any("has 2 columns named 'label'; the one used is shown as 'label', the other as 'label (2)'"
               in p.message for p in report.warnings)
    ds, report = load_dataset(path, workdir=tmp_path / "w", label_column="label (2)")
    assert ds.classes == ["x", "y"]
