"""The rules that choose and compare (ftapp/train/selection.py) and the intervals beside every
headline number (ftapp/evaluate.py)."""
from __future__ import annotations

import numpy as np
import pytest

from ftapp.evaluate import accuracy_interval, intervals, macro_f1_interval, scores
from ftapp.train import selection


def m(acc, loss):
    return {"val_accuracy": acc, "val_loss": loss}


def test_rank_key_accuracy_then_loss_or_loss_alone():
    assert selection.better(m(0.9, 0.5), m(0.8, 0.1))
    assert selection.better(m(0.9, 0.2), m(0.9, 0.3))
    assert selection.better(m(0.8, 0.1), m(0.9, 0.5), "loss")
    assert selection.better(m(0.5, 1.0), None) and not selection.better(m(0.5, 1.0), m(0.5, 1.0))


@pytest.mark.parametrize("new,ref,progress", [
    (m(0.91, 0.50), m(0.90, 0.40), True),      # one more example right
    (m(0.90, 0.20), m(0.90, 0.40), True),      # a clearly lower loss
    (m(1.00, 0.0377), m(1.00, 0.0456), False), # a loss creeping down on perfect answers (issue 22's fold)
    (m(0.90, 0.38), m(0.90, 0.40), False),     # 5 % lower: not a step that matters
    (m(0.89, 0.10), m(0.90, 0.40), False),     # lower loss but fewer right
])
def test_progress_is_what_matters(new, ref, progress):
    assert selection.progressed(new, ref) is progress


def test_parts_are_stratified_and_seeded():
    y = np.array([0] * 10 + [1] * 7 + [2])
    p = selection.parts(y, 5, seed=3)
    assert sorted(np.bincount(p[y == 0], minlength=5)) == [2] * 5 and np.bincount(p[y == 1]).max() <= 2
    assert (p == selection.parts(y, 5, seed=3)).all() and (p != selection.parts(y, 5, seed=4)).any()


def test_crossfit_does_not_reward_picking_the_luckiest_of_many():
    """Forty 'checkpoints' that guess at random: the best of them on all the examples looks far better
    than chance; cross-fitted (each half scored by the pick of the other) it is chance again."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    choices = [np.eye(2)[rng.integers(0, 2, 200)] * 0.8 + 0.1 for _ in range(40)]
    best_in_sample = max((c.argmax(1) == y).mean() for c in choices)
    crossfitted = (selection.crossfit(choices, y).argmax(1) == y).mean()
    assert best_in_sample > 0.56 and abs(crossfitted - 0.5) < 0.08


def test_crossfit_keeps_a_real_winner():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[np.where(rng.random(300) < 0.9, y, (y + 1) % 3)]
    noise = [np.eye(3)[rng.integers(0, 3, 300)] for _ in range(5)]
    assert (selection.crossfit(noise + [good], y).argmax(1) == y).mean() == pytest.approx((good.argmax(1) == y).mean())


def test_paired_test_needs_more_than_chance():
    same = [True] * 80 + [False] * 20
    assert not selection.clearly_ahead(same, same)
    a = [True] * 90 + [False] * 10
    b = [True] * 60 + [False] * 40
    assert selection.clearly_ahead(a, b) and not selection.clearly_ahead(b, a)
    t = selection.paired(a, b)
    assert t["only_a"] == 30 and t["only_b"] == 0 and t["p_value"] < 1e-6 and t["n"] == 100


def test_accuracy_interval_is_wilsons():
    lo, hi = accuracy_interval(19, 19)
    assert hi == 1.0 and lo == pytest.approx(0.832, abs=0.002)       # 19 of 19: still not certain
    lo, hi = accuracy_interval(50, 100)
    assert lo == pytest.approx(0.404, abs=0.002) and hi == pytest.approx(0.596, abs=0.002)
    assert accuracy_interval(0, 0) == [0.0, 1.0]


def test_macro_f1_interval_brackets_the_value_and_narrows_with_n():
    rng = np.random.default_rng(0)

    def sample(n):
        y = rng.integers(0, 4, n)
        return y, np.where(rng.random(n) < 0.8, y, rng.integers(0, 4, n))
    y, p = sample(100)
    lo, hi = macro_f1_interval(y, p)
    assert lo <= scores(y.tolist(), p.tolist())["macro_f1"] <= hi
    y2, p2 = sample(2000)
    lo2, hi2 = macro_f1_interval(y2, p2)
    assert hi2 - lo2 < (hi - lo) / 2
    out = intervals(y, p)
    assert out["n"] == 100 and out["macro_f1"] == [lo, hi]
