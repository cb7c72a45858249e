"""The data check: likely label errors (cleanlab on out-of-fold probe probabilities), near-duplicates
with different labels, outliers — in `ftapp check`, in label_issues.csv, and back as cleaned data."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import torch

from conftest import EXAMPLES
from ftapp.data import Dataset, load_dataset
from ftapp.quality import find_issues


def _features_of(ds):
    from ftapp.models import BUNDLED_TEXT, load_pretrained
    from ftapp.train.prefix_cache import compute_states

    clf = load_pretrained(BUNDLED_TEXT, ds.classes, modality="text")
    return compute_states(clf, clf.preprocess.encode(ds.items), [], 64, torch.device("cpu"), head_inputs=True).head_inputs


def test_flipped_labels_rank_near_the_top(tmp_path):
    """Real texts, the bundled model, 5 % of the labels flipped at random."""
    ds, _ = load_dataset(EXAMPLES / "support_tickets.csv", workdir=tmp_path)
    rng = random.Random(0)
    flipped = rng.sample(range(len(ds)), round(0.05 * len(ds)))
    labels = list(ds.labels)
    for i in flipped:
        labels[i] = rng.choice([c for c in ds.classes if c != labels[i]])
    origins = [f"row {i}" for i in range(len(ds))]
    issues = [r for r in find_issues(_features_of(ds), Dataset("text", ds.items, labels, origins))
              if r["issue"] == "label"]
    top = {int(r["row"].split()[1]) for r in issues[:2 * len(flipped)]}
    assert len(top & set(flipped)) >= 0.6 * len(flipped), (sorted(top), sorted(flipped))
    truth = {f"row {i}": ds.labels[i] for i in flipped}
    right = [r for r in issues if r["row"] in truth]
    assert sum(r["suggested"] == truth[r["row"]] for r in right) >= 0.6 * len(right)   # and the right label


def test_near_duplicates_with_other_labels_and_outliers():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g)
    x = torch.stack([centres[i % 3] + torch.randn(16, generator=g) for i in range(90)])
    labels = [f"c{i % 3}" for i in range(90)]
    x[10] = x[4]                                   # the same example twice (row 4 is c1), labelled c2 the second time
    labels[10] = "c2"
    x[50] = 40 * torch.randn(16, generator=g)      # unlike anything else
    origins = [f"row {i}" for i in range(90)]
    issues = find_issues(x, Dataset("text", [f"text {i}" for i in range(90)], labels, origins))
    dupes = [r for r in issues if r["issue"] == "near-duplicate"]
    assert [(r["row"], r["suggested"]) for r in dupes] == [("row 10", labels[4])]
    assert "nearly the same as row 4" in dupes[0]["detail"]
    assert [r["row"] for r in issues if r["issue"] == "outlier"] == ["row 50"]


def _clustered(n: int, labels_of, seed: int = 0):
    """Features of `n` examples: the sum of their labels' centres plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 24, generator=g) * 3
    return torch.stack([sum(centres[j] for j in labels_of(i)) + torch.randn(24, generator=g) for i in range(n)])


def test_several_labels_a_wrong_extra_label_is_found_and_the_right_ones_suggested():
    """Several labels per example: each example's labels are what its features show; five examples
    were given a label they do not show. cleanlab's multi-label ranking puts them first, and the
    suggestion is the labels they do show."""
    names = ["billing", "bug", "login", "praise"]
    truth = lambda i: [i % 4] + ([(i + 1) % 4] if i % 3 == 0 else [])   # noqa: E731 — a third have two labels
    x = _clustered(160, truth)
    labels = [";".join(names[j] for j in truth(i)) for i in range(160)]
    extra = [1, 5, 10, 14, 22]                    # one label each: add the label two further on
    for i in extra:
        labels[i] += ";" + names[(i + 2) % 4]
    ds = Dataset("text", [f"text {i}" for i in range(160)], labels, [f"row {i}" for i in range(160)], separator=";")
    found = [r for r in find_issues(x, ds) if r["issue"] == "label"]
    assert {int(r["row"].split()[1]) for r in found[:len(extra) + 3]} >= set(extra), found
    for r in found:
        i = int(r["row"].split()[1])
        if i in extra:
            assert r["suggested"] == names[truth(i)[0]], r
            assert f"'{names[(i + 2) % 4]}' unlikely" in r["detail"], r


def test_numbers_get_near_duplicates_and_outliers_but_no_suggested_label():
    """A number per example has no "likely label": the check lists a copy with a far-apart number and
    the outlier, and no label rows."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, generator=g) * 3 + torch.randn(120, 16, generator=g)   # examples of one kind
    values = [float(v) for v in (x[:, 0] * 10 + 50)]
    x[30] = x[7]                                   # the same example twice, its number far off the first's
    values[30] = values[7] + 40
    x[90] = 40 * torch.randn(16, generator=g)
    ds = Dataset("text", [f"text {i}" for i in range(120)], [f"{v:.2f}" for v in values],
                 [f"row {i}" for i in range(120)], numeric=True)
    issues = find_issues(x, ds)
    assert not [r for r in issues if r["issue"] == "label"]
    assert [r["row"] for r in issues if r["issue"] == "near-duplicate"] == ["row 30"]
    assert "row 90" in [r["row"] for r in issues if r["issue"] == "outlier"]


def test_cli_check_and_train_write_the_issues_and_cleaned_data(tmp_path, tiny_text_model):
    data = tmp_path / "t.csv"
    rows = ["text,label"] + [f"refund my invoice {i},billing" for i in range(12)] + \
           [f"the app crashes {i},bug" for i in range(12)] + ["refund my invoice 3,bug"]   # a copy, another label
    data.write_text("\n".join(rows) + "\n")
    out = subprocess.run([sys.executable, "-m", "ftapp", "check", "--data", str(data)],      # the bundled model
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    issues = [json.loads(line) for line in out.stdout.splitlines()]
    assert {"row", "issue", "given", "suggested", "score"} <= set(issues[0])
    assert any(i["issue"] == "near-duplicate" and i["row"] == "t.csv row 26" for i in issues), issues
    assert "likely label errors" in out.stderr

    run = tmp_path / "run"
    trained = subprocess.run([sys.executable, "-m", "ftapp", "train", "--data", str(data), "--model", tiny_text_model,
                              "--out", str(run), "--no-auto", "--epochs", "1", "--min-steps", "2"],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    header = (run / "label_issues.csv").read_text().splitlines()[0]
    assert header == "row,issue,given,suggested,score,detail,example"
    cleaned, report = load_dataset(run / "cleaned_data.csv", workdir=tmp_path / "w")
    assert report.ok and report.label_column == "label" and report.text_column == "text" and len(cleaned) == 25
