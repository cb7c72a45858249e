"""Every sentence a run can print, against the numbers beside it (ftapp/train/words.py).

A table of cases goes through every sentence function; each sentence must agree with its numbers:
"beat" only when higher, "above the model" only when a paired test says more than chance, the
language advice only when the language was flagged, every number as given."""
from __future__ import annotations

import re

import pytest

from ftapp.train import selection, words
from ftapp.train.loop import Why


def check(ft_acc, probe_acc, n=200, ft_loss=0.3, probe_loss=0.4):
    return {"ft": {"accuracy": ft_acc, "loss": ft_loss, "n": n}, "probe": {"accuracy": probe_acc, "loss": probe_loss,
                                                                            "n": n}}


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+\.\d{3}", text)


CASES = [   # fine-tuned accuracy, first model accuracy, kept fine-tuned?
    (0.90, 0.85, True), (0.85, 0.90, False), (0.88, 0.88, True), (0.88, 0.88, False), (1.0, 1.0, True),
    (0.50, 0.494, False), (0.494, 0.50, False),
]


@pytest.mark.parametrize("ft,probe,kept", CASES)
@pytest.mark.parametrize("why", [Why.FINISHED, Why.EARLY, Why.TIME, Why.STOPPED])
def test_holdout_sentence_says_what_the_numbers_say(ft, probe, kept, why):
    c = check(ft, probe)
    text = words.holdout_message(kept, why, "2 frozen, lr 1e-04", 3, True, c)
    assert f"{ft:.3f}" in text and f"{probe:.3f}" in text and "200 examples" in text
    assert (" beat " in text) == (ft > probe)
    assert ("did worse than" in text) == (ft < probe)
    assert ("matched the accuracy" in text) == (ft == probe)
    assert ("log loss" in text) == (ft == probe)
    assert ("first model was kept" in text) == (not kept)
    assert words.WHY[why] in text


@pytest.mark.parametrize("ft,probe,kept", CASES)
@pytest.mark.parametrize("folds_run,early", [(3, False), (1, True), (2, False)])
def test_cross_validation_sentence_says_what_the_numbers_say(ft, probe, kept, folds_run, early):
    text = words.cv_message(kept, 3, folds_run, check(ft, probe), early)
    assert (" beat " in text) == (ft > probe)
    assert ("did worse than" in text) == (ft < probe)
    assert (f"{folds_run} of its 3 parts ran" in text) == (folds_run < 3)
    assert ("clearly ahead after the first part" in text) == (early and folds_run < 3)
    assert ("Fine-tuned on all the examples" in text) == kept
    assert f"{ft:.3f}" in text and f"{probe:.3f}" in text


def test_the_cross_validation_sentence_says_why_no_split_was_used():
    assert "(too few to set some aside)" in words.cv_message(True, 3, 3, check(0.9, 0.8), False)
    why = words.too_few_of("graphics", 2)
    text = words.cv_message(True, 3, 3, check(0.9, 0.8), False, reason=why)
    assert "only 2 validation examples of 'graphics', too few to check that class on a split" in text
    assert "only 1 validation example of 'mail'," in words.too_few_of("mail", 1)
    assert words.too_few_of("mail", 0).startswith("no validation example of 'mail',")
    assert words.cross_validating(why).startswith("Cross-validating") and why in words.cross_validating(why)


def test_no_check_and_divergence_sentences():
    assert "produced no checkpoint" in words.holdout_message(False, Why.STOPPED, "x", None, True, None)
    text = words.holdout_message(False, Why.DIVERGED, "x", None, True, None)
    assert "10x lower learning rate" in text and "first model" in text
    assert "could not be checked" in words.cv_message(False, 3, 0, None, False)


def paired(base_right: int, model_right: int, both: int = 100, n: int = 300) -> dict:
    """A paired test where the baseline alone got `base_right` examples and the model alone `model_right`."""
    a = [True] * both + [True] * base_right + [False] * model_right
    b = [True] * both + [False] * base_right + [True] * model_right
    a += [False] * (n - len(a))
    b += [False] * (n - len(b))
    return selection.paired(a, b)


@pytest.mark.parametrize("base_only,model_only,flagged,modality", [
    (0, 0, False, "text"),          # equal scores: never "above"
    (5, 4, True, "text"),           # ahead by one example: chance
    (40, 5, False, "text"),         # clearly ahead, English: no language advice
    (40, 5, True, "text"),          # clearly ahead, the language was flagged: the multilingual advice
    (40, 5, False, "image"),
    (5, 40, True, "text"),          # the model clearly ahead: no line
])
def test_baseline_line_only_when_clearly_ahead(base_only, model_only, flagged, modality):
    t = paired(base_only, model_only)
    base_acc, model_acc = t["accuracy_a"], t["accuracy_b"]
    text = words.baseline_note(model_acc, "TF-IDF + logistic regression", base_acc, t, modality, flagged)
    ahead = base_only > model_only and t["p_value"] < selection.ALPHA
    assert bool(text) == ahead
    if text:
        assert f"{base_acc:.3f}" in text and f"{model_acc:.3f}" in text and "above the model" in text
        assert ("multilingual" in text) == (flagged and modality == "text")


def test_the_reported_case_of_an_equal_baseline_prints_nothing():
    """debian6, 2026-12-06: 'scored 0.885 …, above the model's 0.885' on English text."""
    t = paired(0, 0)
    assert words.baseline_note(0.885, "frozen features + logistic regression", 0.885, t, "text", False) == ""


def test_first_model_line_and_intervals():
    text = words.first_model(0.935, 28, 0.79, 0.98, "validation examples", more_coming=True)
    assert "93.5 %" in text and "28 validation examples" in text and "79.0 %–98.0 %" in text
    assert text.endswith("fine-tuning to improve it…")
    assert words.first_model(0.9, 10, 0.6, 0.98, "examples", more_coming=False).endswith(".")
    assert words.with_interval(0.947, [0.754, 0.991], 19) == "0.947 (95 % interval 0.754–0.991, n = 19)"


@pytest.mark.parametrize("gain,rising", [(0.05, True), (0.002, False), (-0.01, False)])
def test_learning_curve_advice_follows_the_gain(gain, rising):
    text = words.learning_curve_advice(gain, {"a": gain, "b": 0.0}, 0.01)
    assert ("would likely help:" in text) == rising and words.pct(gain) in text
    assert ("most for a" in text) == rising
    number = words.learning_curve_advice(gain, {}, 0.01, "R²")
    assert ("would likely help:" in number) == rising and f"R² {'still rose' if rising else 'changed'} by {gain:+.3f}" in number


def test_result_lines_quote_the_metrics():
    m = {"test_accuracy": 0.95, "test_accuracy_interval": [0.8, 0.99], "n_test": 19, "test_macro_f1": 0.94,
         "test_macro_f1_interval": [0.7, 1.0], "test_source": "held-out slice", "val_accuracy": 0.97,
         "val_accuracy_interval": [0.93, 0.99], "n_val": 169, "val_macro_f1": 0.96, "validation": "x",
         "baseline_name": "TF-IDF + logistic regression", "baseline_val_accuracy": 0.78, "baseline_note": ""}
    text = "\n".join(words.result_lines(m))
    assert "0.950 (95 % interval 0.800–0.990, n = 19)" in text and "n = 169" in text and "0.780" in text
    assert numbers(text)[:1] == ["0.950"]


@pytest.mark.parametrize("threshold", [0.0, 0.62])
def test_result_lines_say_not_sure_only_with_a_threshold(threshold):
    m = {"val_accuracy": 0.9, "val_accuracy_interval": [0.8, 0.95], "n_val": 100, "val_macro_f1": 0.9,
         "validation": "x", "unsure_below": threshold, "unsure_coverage": 0.91, "unsure_answered_accuracy": 0.96}
    text = "\n".join(words.result_lines(m))
    assert ("not sure" in text) == bool(threshold)
    assert not threshold or ("under 0.62 confidence" in text and "91%" in text and "0.960" in text)
