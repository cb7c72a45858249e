""""None of these": the threshold chosen on validation, what it does, and that it travels with the model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ftapp.unsure import UNSURE, answer, choose_threshold, summary


@pytest.mark.parametrize("confidence, correct, expected", [
    ([0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 1, 1, 1], 0.0),    # always right: always answer
    ([0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 0, 1], pytest.approx(0.75)),   # below 0.75: one right, two wrong
    ([0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 1, 0], pytest.approx(0.55)),   # a tie (net 2 at 0.75 and at 0.55): the lower
    ([0.9, 0.9, 0.7, 0.7], [1, 0, 1, 1], 0.0),            # equal confidences are answered together
    ([0.9, 0.8], [0, 0], pytest.approx(0.85)),                           # always wrong: still answers the surest one
    ([], [], 0.0),                                        # nothing to choose on
])
def test_threshold_cases(confidence, correct, expected):
    assert choose_threshold(confidence, correct) == expected


def test_threshold_is_the_best_net_score_and_the_lowest_of_equals():
    """Against brute force over every threshold: right minus wrong among the answered is maximal,
    and no lower threshold scores as well."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        conf = np.round(rng.uniform(0.2, 1.0, n), 2)          # rounded: ties happen
        right = rng.uniform(size=n) < conf                    # surer answers are right more often
        t = choose_threshold(conf, right)
        net = lambda th: int(np.where(right[conf >= th], 1, -1).sum())
        candidates = [0.0] + sorted(set(conf.tolist()))
        best = max(net(c) for c in candidates if (conf >= c).any())
        assert net(t) == best and (conf >= t).any()
        assert all(net(c) < best for c in candidates if c < t and (conf >= c).any() and
                   (conf >= c).sum() > (conf >= t).sum())


def test_summary_counts_what_is_answered():
    s = summary([0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 0, 1], 0.75)
    assert (s["coverage"], s["answered"], s["accuracy"], s["accuracy_all"]) == (0.4, 2, 1.0, 0.6)
    assert s["unsure_would_be_right"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["curve"][0]["coverage"] == 1.0 and s["curve"][-1]["answered"] == 0
    assert [p["threshold"] for p in s["curve"]] == sorted(p["threshold"] for p in s["curve"])
    assert summary([], [], 0.5)["accuracy"] is None


def test_answer_names_the_class_or_not_sure():
    assert answer({"a": 0.6, "b": 0.4}, 0.5) == "a"
    assert answer({"a": 0.45, "b": 0.35, "c": 0.2}, 0.5) == UNSURE
    assert answer({"a": 0.5, "b": 0.5}, 0.5) == "a"       # at the threshold it answers
    assert answer({}, 0.0) == UNSURE


def test_a_run_chooses_it_on_validation_saves_it_with_the_model_and_scores_the_test_at_it(tmp_path, tiny_text_model,
                                                                                           text_csv_big):
    from conftest import train_run

    from ftapp.models import load_trained
    from ftapp.runs import RunFolder

    run = train_run(tmp_path, tiny_text_model, text_csv_big, epochs=2, lr=1e-3)
    folder = RunFolder(run.dir)
    report, test, meta = folder.report(), folder.read(RunFolder.TEST_REPORT), folder.model_meta()
    metrics = json.loads((run.dir / RunFolder.METRICS).read_text())
    assert report["unsure"]["threshold"] == meta["unsure_below"] == metrics["unsure_below"]
    assert test["unsure"]["threshold"] == meta["unsure_below"]         # the test slice did not choose it
    assert load_trained(run.dir).unsure_below == meta["unsure_below"]
    u = report["unsure"]
    assert u["n"] == report["n"] and u["answered"] == round(u["coverage"] * u["n"])
    assert u["accuracy_all"] == pytest.approx(report["accuracy"], abs=1e-4)


def test_the_threshold_always_leaves_an_answer_on_the_examples_that_chose_it():
    """Near-equal confidences: a rounded halfway point could pass the surest one (a bug seen on 13
    examples: nothing answered, then a sentence with no accuracy to quote)."""
    rng = np.random.default_rng(1)
    for _ in range(2000):
        n = int(rng.integers(2, 30))
        conf, right = rng.uniform(0.3, 0.9, n), rng.uniform(size=n) < 0.4
        assert summary(conf, right, choose_threshold(conf, right))["answered"] >= 1
    conf = [0.53816, 0.53814, 0.3]
    assert summary(conf, [0, 0, 0], choose_threshold(conf, [0, 0, 0]))["answered"] == 1
