"""Run length in steps, the learning-rate schedule, batches, the grouped split, metrics, class weights."""
from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from ftapp.data import Dataset, duplicate_groups, train_val_split
from ftapp.evaluate import evaluation_report, scores
from ftapp.train.batches import epoch_batches
from ftapp.train.config import EVALUATIONS
from ftapp.train.schedule import MIN_EPOCHS, lr_factor, plan_length, refit_length, steps_per_epoch


def test_small_data_gets_the_step_floor_large_data_a_few_epochs():
    small = plan_length(48, 32, epochs=None, min_steps=300, warmup_ratio=0.1)
    assert small.steps_per_epoch == 2 and small.total_steps >= 300 and small.epochs == 150
    large = plan_length(20_000, 32, epochs=None, min_steps=300, warmup_ratio=0.1)
    assert large.epochs == MIN_EPOCHS and large.total_steps == MIN_EPOCHS * 625
    capped = plan_length(48, 32, epochs=20, min_steps=300, warmup_ratio=0.1)
    assert capped.epochs == 20                        # an explicit count is the cap
    assert EVALUATIONS / 2 <= small.epochs / small.eval_every <= EVALUATIONS   # a bounded number of validations


def test_schedule_starts_above_zero_warms_up_and_anneals():
    f = [lr_factor(s, 10, 100) for s in range(100)]
    assert f[0] > 0 and f[:10] == sorted(f[:10]) and f[9] < f[10] == pytest.approx(1.0, abs=0.01)
    assert f[-1] < 0.01 and all(a >= b for a, b in zip(f[10:], f[11:]))
    assert lr_factor(50, 10, 100, "constant") == 1.0 and lr_factor(99, 10, 100, "linear") < 0.02


def test_the_final_run_after_cross_validation_follows_the_schedule_the_folds_were_checked_on():
    folds = plan_length(40, 32, epochs=None, min_steps=300, warmup_ratio=0.1)     # a fold: 40 examples
    final = refit_length(folds, 60, 32)                                            # all 60
    assert final.steps_per_epoch == steps_per_epoch(60, 32) and final.epochs * final.steps_per_epoch >= folds.total_steps
    chosen = 120   # a length the folds chose, before their plan's end: the rate there is not annealed away
    assert [lr_factor(s, final.warmup_steps, final.total_steps) for s in range(chosen)] == \
        [lr_factor(s, folds.warmup_steps, folds.total_steps) for s in range(chosen)]
    assert lr_factor(chosen - 1, final.warmup_steps, final.total_steps) > 0.5


def test_a_small_last_batch_joins_the_one_before():
    batches = epoch_batches(35, 32, random.Random(0))
    assert sorted(len(b) for b in batches) == [35]            # 3 left over: merged, no step on 3 examples
    batches = epoch_batches(50, 32, random.Random(0))
    assert sorted(len(b) for b in batches) == [18, 32]        # 18 is more than half a batch: its own step
    assert steps_per_epoch(35, 32) == 1 and steps_per_epoch(50, 32) == 2
    assert sorted(i for b in epoch_batches(50, 32, random.Random(1)) for i in b) == list(range(50))


def _ds(items, labels):
    return Dataset("text", items, labels, [f"row {i + 2}" for i in range(len(items))])


def test_identical_examples_never_straddle_the_split():
    """30 % of the rows duplicated: no validation text has a copy in training (case and spaces aside)."""
    rng = random.Random(0)
    items, labels = [], []
    for c in "abc":
        for i in range(60):
            items.append(f"{c} example number {i}")
            labels.append(c)
    for i in rng.sample(range(len(items)), 54):
        items.append(items[i].upper() + "  ")
        labels.append(labels[i])
    ds = _ds(items, labels)
    tr, va, _ = train_val_split(ds, 0.2, seed=3)
    key = lambda t: " ".join(t.split()).casefold()
    assert not {key(t) for t in tr.items} & {key(t) for t in va.items}
    assert 0.15 * len(ds) <= len(va) <= 0.21 * len(ds) and set(va.labels) == {"a", "b", "c"}
    groups = duplicate_groups(ds)
    assert len(set(groups)) == 180 and groups[items.index(items[-1])] == groups[len(items) - 1]


def test_macro_f1_counts_only_the_classes_present():
    """A test file with 3 of 6 classes: macro-F1 is averaged over those 3, not dragged down by zeros."""
    labels = list("abcdef")
    y = [0] * 10 + [1] * 10 + [2] * 10
    preds = y[:]
    preds[0], preds[11] = 3, 4             # two mistakes into classes the file does not have
    probs = torch.nn.functional.one_hot(torch.tensor(preds), 6).float()
    report = evaluation_report(labels, y, probs, [str(i) for i in y], [str(i) for i in y])
    assert report["accuracy"] == pytest.approx(28 / 30)
    assert abs(report["macro_f1"] - report["accuracy"]) < 0.1
    absent = [c for c in report["per_class"] if c["label"] in "def"]
    assert all(c["support"] == 0 and c["f1"] is None for c in absent)
    assert scores(y, preds)["balanced_accuracy"] == pytest.approx((0.9 + 0.9 + 1.0) / 3)


def test_class_weights_only_when_unbalanced_or_asked():
    from ftapp.train.config import TrainConfig
    from ftapp.train.setup import class_weights

    balanced = ["a"] * 10 + ["b"] * 8
    skewed = ["a"] * 30 + ["b"] * 5
    assert class_weights(TrainConfig(), balanced, ["a", "b"]) is None
    w = class_weights(TrainConfig(), skewed, ["a", "b"])
    assert w[1] / w[0] == pytest.approx(6.0) and (w * torch.tensor([30, 5.0])).sum() == pytest.approx(35)
    assert class_weights(TrainConfig(class_weights="off"), skewed, ["a", "b"]) is None
    assert class_weights(TrainConfig(class_weights="on"), balanced, ["a", "b"]) is not None


def test_split_is_stratified_and_seeded():
    ds = _ds([f"t{i}" for i in range(100)], ["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    tr, va, _ = train_val_split(ds, 0.2, seed=1)
    assert Counter(va.labels) == {"a": 10, "b": 6, "c": 4}
    assert train_val_split(ds, 0.2, seed=1)[1].items == va.items != train_val_split(ds, 0.2, seed=2)[1].items
