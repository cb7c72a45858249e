"""The task read off the label column (one label, several labels per example, or a number) and the
data report in its words."""
from __future__ import annotations

import pytest

from ftapp.data import load_dataset
from ftapp.data.task import guess_task


@pytest.mark.parametrize("counts, kind", [
    ({"billing": 10, "bug": 10}, "single"),
    ({"a;b": 10, "a": 50, "b": 40}, "multi"),                          # 10 % hold two labels
    ({"a|b": 10, "a": 50, "b": 40}, "multi"),
    ({"a;b": 2, "a": 50, "b": 48}, "single"),                          # 2 %: stray separators, not a task
    ({"Smith, John": 3, "Doe, Jane": 3}, "single"),                    # commas inside names: no label repeats
    ({str(x / 10): 1 for x in range(40)}, "number"),                   # fractions: measurements
    ({str(x): 1 for x in range(40)}, "number"),                        # many whole numbers, each once
    ({str(x): 5 for x in range(40)}, "single"),                        # numbered classes, each with examples
    ({"1": 20, "2": 20, "3": 20, "4": 20, "5": 20}, "single"),         # a 1-5 rating: classes by default
    ({"inf": 3, "nan": 3}, "single"),
])
def test_guess_task(counts, kind):
    assert guess_task(counts).kind == kind


def _csv(path, rows):
    path.write_text("text,labels\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def _tags(tmp_path):
    tags = ["network", "security", "text", "image"]
    rows = [(f"a program description number {i}", tags[i % 4] + (f";{tags[(i + 1) % 4]}" if i % 3 == 0 else ""))
            for i in range(120)]
    return _csv(tmp_path / "tags.csv", rows)


def test_several_labels_per_row_are_read_as_several_labels(tmp_path):
    ds, report = load_dataset(_tags(tmp_path), workdir=tmp_path / "w")
    assert report.ok and report.details["task"] == "multi" and report.details["separator"] == ";"
    assert ds.separator == ";" and ds.classes == ["image", "network", "security", "text"]
    assert report.class_counts == {"image": 40, "network": 40, "security": 40, "text": 40}   # 120 rows, 40 with two
    assert not [w for w in report.warnings if "several labels" in w.message]
    assert "4 labels on 120 examples (examples per label):" in report.summary()


def test_one_label_chosen_for_several_labels_says_what_it_does(tmp_path):
    ds, report = load_dataset(_tags(tmp_path), workdir=tmp_path / "w", task="single")
    assert report.ok and report.details["task"] == "single" and not ds.separator and len(ds.classes) == 8
    (warning,) = [w for w in report.warnings if "several labels per example" in w.message]
    assert "separated by ';'" in warning.message and "4 labels in 8 combinations" in warning.message
    assert "each combination becomes a class of its own" in warning.message and "--task multi" in warning.message


def test_several_labels_chosen_for_one_label_per_row(tmp_path):
    ds, report = load_dataset(_csv(tmp_path / "t.csv", [(f"t {i}", "ab"[i % 2]) for i in range(20)]),
                              workdir=tmp_path / "w", task="multi")
    assert report.details["task"] == "multi" and ds.separator == ";" and ds.classes == ["a", "b"]


def test_a_number_to_predict_is_read_as_a_number(tmp_path):
    rows = [(f"a part that wore down after {i} hours of use", f"{0.1 * i + 0.05:.2f}") for i in range(60)]
    ds, report = load_dataset(_csv(tmp_path / "wear.csv", rows), workdir=tmp_path / "w", label_column="labels")
    assert report.details["task"] == "regression" and ds.numeric and not report.warnings
    assert "Numbers from 0.05 to 5.95 (60 rows)" in report.summary()


def test_many_repeated_whole_numbers_train_as_classes_and_name_the_other_choice(tmp_path):
    weights = [100, 200, 300, 400, 500, 600, 700, 800, 900, 250, 350, 450]    # e.g. type faces' declared weights
    rows = [(f"a type face number {i}", str(weights[i % len(weights)])) for i in range(60)]
    ds, report = load_dataset(_csv(tmp_path / "w.csv", rows), workdir=tmp_path / "w", label_column="labels")
    assert report.details["task"] == "single" and not ds.numeric and len(ds.classes) == 12
    (warning,) = [w for w in report.warnings if "whole numbers" in w.message]
    assert "12 distinct whole numbers from 100 to 900, 5 rows each" in warning.message
    assert "--task regression" in warning.message
    ds, report = load_dataset(_csv(tmp_path / "w.csv", rows), workdir=tmp_path / "w2", label_column="labels",
                              task="regression")
    assert ds.numeric and not [w for w in report.warnings if "whole numbers" in w.message]


def test_a_number_chosen_as_classes_says_what_it_does(tmp_path):
    rows = [(f"a part that wore down after {i} hours of use", f"{0.1 * i + 0.05:.2f}") for i in range(60)]
    ds, report = load_dataset(_csv(tmp_path / "wear.csv", rows), workdir=tmp_path / "w", label_column="labels",
                              task="single")
    assert not ds.numeric and len(ds.classes) == 60
    messages = " ".join(p.message for p in report.problems)
    assert "numbers to predict" in messages and "from 0.05 to 5.95" in messages and "A number" in messages


def test_several_labels_are_described_by_label_frequency_and_pairs(tmp_path):
    rows = [(f"row {i}", "a;b") for i in range(12)] + [(f"row a{i}", "a") for i in range(30)] \
        + [(f"row c{i}", "c|x") for i in range(2)] + [(f"row bc{i}", "b;c") for i in range(6)] \
        + [(f"row c{i}", "c") for i in range(20)]
    _, report = load_dataset(_csv(tmp_path / "tags.csv", rows), workdir=tmp_path / "w")
    d = report.details["task_detail"]
    assert d["labels"] == {"a": 42, "b": 18, "c": 26, "c|x": 2} and d["rows"] == 70
    assert d["pairs"][0] == {"labels": ["a", "b"], "rows": 12} and d["several_share"] == round(18 / 70, 4)
    summary = report.summary()
    assert "4 labels, 1.26 per row on average, 26% of rows with two or more" in summary
    assert "most often together: a + b (12), b + c (6)" in summary


def test_a_number_column_is_described_by_range_quartiles_and_outliers(tmp_path):
    rows = [(f"a part after {i} hours", f"{1 + i * 0.1:.1f}") for i in range(40)] + [("a typo", "250.5")]
    _, report = load_dataset(_csv(tmp_path / "wear.csv", rows), workdir=tmp_path / "w", label_column="labels")
    d = report.details["task_detail"]
    assert (d["min"], d["max"], d["rows"]) == (1.0, 250.5, 41) and d["outliers"] == [250.5]
    assert sum(d["histogram"]["counts"]) == 41 and len(d["histogram"]["edges"]) == 11
    summary = report.summary()
    assert "Numbers from 1 to 250.5 (41 rows): median 3" in summary
    assert "1 outlier(s) outside" in summary and ": 250.5. Check they are not typos." in summary


def test_one_label_per_row_has_no_task_description(tmp_path):
    _, report = load_dataset(_csv(tmp_path / "t.csv", [(f"t {i}", "ab"[i % 2]) for i in range(20)]),
                             workdir=tmp_path / "w")
    assert "task_detail" not in report.details


def test_a_zero_one_column_per_label_is_read_as_several_labels(tmp_path):
    """`text,billing,bug,praise` with 1 where a label applies: several labels per example, even where
    few rows have two (the columns say so); a row with no 1 is left out, naming it and the columns;
    the file has no "labels" column, so none is reported as chosen (a reload finds the columns again)."""
    rows = ["text,id,billing,bug,praise"] + [f"ticket {i} about things,{i},{int(i % 3 == 0)},{int(i % 3 == 1)},"
                                             f"{int(i % 3 == 2 or i == 4)}" for i in range(60)] + ["an empty one,60,0,0,0"]
    (tmp_path / "flags.csv").write_text("\n".join(rows) + "\n")
    ds, report = load_dataset(tmp_path / "flags.csv", workdir=tmp_path / "w")
    assert report.ok and report.details["task"] == "multi" and report.details["flag_columns"] == ["billing", "bug", "praise"]
    assert ds.separator == ";" and ds.classes == ["billing", "bug", "praise"] and len(ds) == 60
    assert ds.labels[4] == "bug;praise" and report.label_column is None and report.text_column == "text"
    (skipped,) = report.skipped
    assert skipped.where == "flags.csv row 62" and "'billing', 'bug', 'praise'" in skipped.message
    again, _ = load_dataset(tmp_path / "flags.csv", workdir=tmp_path / "w2", label_column=report.label_column)
    assert again.labels == ds.labels


def test_zero_one_columns_beside_a_label_column_stay_columns(tmp_path):
    rows = ["text,label,verified,urgent"] + [f"ticket {i},{'ab'[i % 2]},{i % 2},{(i // 2) % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds, report = load_dataset(tmp_path / "t.csv", workdir=tmp_path / "w")
    assert report.label_column == "label" and not ds.separator and "flag_columns" not in report.details


def test_zero_one_columns_beside_an_unnamed_second_column_stay_columns(tmp_path):
    """Any other column may be the label (here 'team', a name ftapp does not know): the 0/1
    columns are then side facts, and the report asks for the label column as before."""
    rows = ["text,team,verified,urgent"] + [f"ticket {i},{'ab'[i % 2]},{i % 2},{(i // 2) % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    _, report = load_dataset(tmp_path / "t.csv", workdir=tmp_path / "w")
    assert "flag_columns" not in report.details and "looks like the label" in report.errors[0].message


def test_pictures_with_a_zero_one_column_per_label(tmp_path):
    from PIL import Image

    rows = ["file,red,round"]
    for i in range(30):
        Image.new("RGB", (16, 16), (200 if i % 2 else 20, 40, 40)).save(tmp_path / f"p{i}.png")
        rows.append(f"p{i}.png,{i % 2},{int(i % 3 == 0)}")
    (tmp_path / "pics.csv").write_text("\n".join(rows) + "\n")
    ds, report = load_dataset(tmp_path / "pics.csv", workdir=tmp_path / "w")
    assert report.ok and ds.modality == "image" and report.path_column == "file" and report.label_column is None
    assert ds.separator == ";" and ds.classes == ["red", "round"] and len(ds) == 20   # 10 rows have neither
    assert ds.labels[ds.items.index(str(tmp_path / "p3.png"))] == "red;round"
