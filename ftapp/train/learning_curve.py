"""Would more examples help? The first model's head (the linear fit on the pre-trained features
the run computed anyway: logistic regression, one per label with several labels per example, ridge
for a number) fitted on growing shares of the training data and scored on the same validation
examples (out-of-fold on small data): seconds, no training of the network.

The curve measures the head, not the fine-tuned network; a head still improving at 100 % of the
data is the usual sign that the whole model would improve with more examples too. It is read in
the task's own score (accuracy, micro-F1 or R²) and, where there are classes, each one's recall.
"""
from __future__ import annotations

import numpy as np
import torch

from ftapp import tasks
from ftapp.train import words
from ftapp.train.probe import fit_probe

SHARES = (0.25, 0.5, 0.75, 1.0)
RISING = 0.01           # a gain from 75 % to 100 % of the data above this counts as still rising


def _subsample(strata: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A stratified share of the indices (at least one per stratum: a class, an example's rarest
    label, a quarter of the numbers)."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(strata):
        idx = np.flatnonzero(strata == c)
        keep.extend(rng.permutation(idx)[:max(1, round(share * len(idx)))])
    return np.sort(np.asarray(keep))


def _recalls(task, y: np.ndarray, probs: np.ndarray, classes: list[str], thresholds) -> dict[str, float]:
    """Each class's (or label's) share of its examples found; a number has none."""
    if task.kind == tasks.NUMBER:
        return {}
    pred = task.predicted(probs, thresholds)
    if task.kind == tasks.SEVERAL:
        return {classes[j]: float(pred[y[:, j] == 1, j].mean()) for j in np.flatnonzero(y.any(0))}
    return {classes[c]: float((pred[y == c] == c).mean()) for c in np.unique(y)}


def learning_curve(features: torch.Tensor, y, parts: list[tuple], classes: list[str], seed: int = 0,
                   modality: str = "") -> dict:
    """`parts`: (train indices, scored indices) pairs — one for a validation split, the folds for
    cross-validation. Returns the points (share, n, score, per-class recall), the task's score name,
    the head's name and the advice. Several labels per example are scored at thresholds chosen on
    the scored examples, as the run's own validation numbers are."""
    task = tasks.of(y)
    y = np.asarray(y)
    strata = task.strata(y)
    points = []
    for share in SHARES:
        probs, scored, n_used = None, np.zeros(len(y), bool), 0
        for tr, te in parts:
            tr, te = np.asarray(tr), np.asarray(te)
            sub = tr[_subsample(strata[tr], share, seed)]
            n_used += len(sub)
            probe = fit_probe(features[sub], y[sub].tolist(), len(classes), seed=seed, oof=False, modality=modality)
            out = task.probs(probe.logits(features[te])).numpy()
            probs = np.zeros((len(y), out.shape[1])) if probs is None else probs
            probs[te], scored[te] = out, True
        probs, truth = probs[scored], y[scored]
        cuts = tasks.thresholds(probs, truth) if task.kind == tasks.SEVERAL else None
        points.append({"share": share, "n_train": round(n_used / len(parts)),
                       "score": round(task.score(probs, truth, cuts), 4),
                       "recall": _recalls(task, truth, probs, classes, cuts)})
    gain = points[-1]["score"] - points[-2]["score"]
    per_class = {c: points[-1]["recall"].get(c, 0) - points[-2]["recall"].get(c, 0) for c in points[-1]["recall"]}
    return {"points": points, "score_name": task.score_name, "head": task.first_model, "gain": round(gain, 4),
            "rising": gain > RISING, "advice": words.learning_curve_advice(gain, per_class, RISING, task.score_name)}
