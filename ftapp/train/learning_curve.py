"""Would more examples help? The first model's head (logistic regression on the pre-trained
features the run computed anyway) fitted on growing shares of the training data and scored on the
same validation examples (out-of-fold on small data): seconds, no training of the network.

The curve measures the head, not the fine-tuned network; a head still improving at 100 % of the
data is the usual sign that the whole model would improve with more examples too.
"""
from __future__ import annotations

import numpy as np
import torch

from ftapp.train import words
from ftapp.train.probe import fit_probe

SHARES = (0.25, 0.5, 0.75, 1.0)
RISING = 0.01           # a gain from 75 % to 100 % of the data above this counts as still rising


def _subsample(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A stratified share of the indices (at least one per class)."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.extend(rng.permutation(idx)[:max(1, round(share * len(idx)))])
    return np.sort(np.asarray(keep))


def _recalls(y: np.ndarray, preds: np.ndarray, classes: list[str]) -> dict[str, float]:
    return {classes[c]: float((preds[y == c] == c).mean()) for c in np.unique(y)}


def learning_curve(features: torch.Tensor, y, parts: list[tuple], classes: list[str], seed: int = 0,
                   modality: str = "") -> dict:
    """`parts`: (train indices, scored indices) pairs — one for a validation split, the folds for
    cross-validation. Returns the points (share, n, accuracy, per-class recall) and the advice."""
    y = np.asarray(y)
    points = []
    for share in SHARES:
        preds = np.full(len(y), -1)
        n_used = 0
        for tr, te in parts:
            tr = np.asarray(tr)
            sub = tr[_subsample(y[tr], share, seed)]
            n_used += len(sub)
            probe = fit_probe(features[sub], y[sub].tolist(), len(classes), seed=seed, oof=False, modality=modality)
            preds[te] = probe.logits(features[te]).argmax(-1).numpy()
        scored = preds >= 0
        points.append({"share": share, "n_train": round(n_used / len(parts)),
                       "accuracy": round(float((preds[scored] == y[scored]).mean()), 4),
                       "recall": _recalls(y[scored], preds[scored], classes)})
    gain = points[-1]["accuracy"] - points[-2]["accuracy"]
    per_class = {c: points[-1]["recall"].get(c, 0) - points[-2]["recall"].get(c, 0) for c in points[-1]["recall"]}
    return {"points": points, "gain": round(gain, 4), "rising": gain > RISING,
            "advice": words.learning_curve_advice(gain, per_class, RISING)}
