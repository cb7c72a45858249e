""""None of these": the confidence under which a one-label model answers "not sure".

A classifier always names one of its classes, even for a picture of something it never saw or a
text it cannot read. Each model gets a threshold on its top probability, chosen on the validation
examples' probabilities (out-of-fold when validation is cross-validated): the one that makes the
most of "a right answer gains as much as a wrong one costs, and 'not sure' costs nothing" — so the
model answers where, on validation, its answers were more often right than wrong. Calibration is
not assumed: the threshold is read off the model's own confidences.

The threshold is recorded with the model (ftapp_model.json, `unsure_below`), used by Try it, the
demo page and `ftapp predict`, and may be changed there; Evaluate shows coverage against accuracy.
"""
from __future__ import annotations

import numpy as np

CURVE_POINTS = 21     # thresholds 0, 0.05, …, 1 for the coverage / accuracy curve
UNSURE = "not sure"   # what an answer below the threshold reads


def choose_threshold(confidence, correct) -> float:
    """The top-probability threshold that maximises right answers minus wrong ones (ties: the
    lowest, so the model answers as often as it can). 0.0 when answering everything is best or
    there is nothing to choose on; never so high that nothing is answered."""
    conf, right = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    if not len(conf):
        return 0.0
    order = np.argsort(-conf, kind="stable")
    c, net = conf[order], np.cumsum(np.where(right[order], 1, -1))
    ends = np.flatnonzero(np.append(c[:-1] > c[1:], True))   # the last of each run of equal confidences
    best = max(ends, key=lambda i: (net[i], i))   # ties: the later end, i.e. the lower threshold
    if best == len(c) - 1:
        return 0.0
    # halfway to the first example left unanswered (not rounded: a rounded value could pass the answered one)
    return float((c[best] + c[best + 1]) / 2)


def summary(confidence, correct, threshold: float) -> dict:
    """At `threshold`: the share answered, their accuracy, and how often the unanswered ones would
    have been right; with the curve over CURVE_POINTS thresholds (Evaluate's chart)."""
    conf, right = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)

    def at(t: float) -> dict:
        answered = conf >= t
        n = int(answered.sum())
        return {"threshold": float(t), "coverage": round(float(answered.mean()), 4) if len(conf) else 0.0,
                "answered": n, "accuracy": round(float(right[answered].mean()), 4) if n else None}

    out = at(threshold)
    skipped = ~(conf >= threshold)
    out.update(n=int(len(conf)), accuracy_all=round(float(right.mean()), 4) if len(conf) else None,
               unsure_would_be_right=round(float(right[skipped].mean()), 4) if skipped.any() else None,
               curve=[at(t) for t in np.linspace(0, 1, CURVE_POINTS)])
    return out


def answer(probabilities: dict[str, float], threshold: float) -> str:
    """The class to show, or UNSURE when the top probability is under the threshold."""
    if not probabilities:
        return UNSURE
    label, p = max(probabilities.items(), key=lambda kv: kv[1])
    return label if p >= threshold else UNSURE
