"""Which result is better, and whether a difference is more than noise: the one home of these rules.

- `rank_key` ranks checkpoints, Auto's candidates and cross-validation lengths (accuracy, ties by
  loss; or loss alone).
- `progressed` says whether a new check improved in a way that matters (early stopping): more
  examples right, or a loss lower by a clear step — not a loss that keeps creeping down while the
  answers stay the same.
- `crossfit` scores a choice on data that did not make it: the validation examples are dealt into
  five parts; each part is predicted by the checkpoint (or candidate, or length) the *other* four
  chose. That is what fine-tuning must beat the first model on before it replaces it — the best of
  many checkpoints looks better on the data that picked it than it is.
- `paired` / `clearly_ahead` is an exact paired test on the same examples (McNemar's), behind
  every decision and sentence that says one model is ahead of another by more than chance.
"""
from __future__ import annotations

import numpy as np

from ftapp import tasks
from ftapp.train.config import SELECTS

SCORE_KEYS = tuple(t.score_key for t in tasks.TASKS.values())

ALPHA = 0.05            # the paired test's level: a difference this unlikely by chance counts as real
LOSS_STEP = 0.25        # a loss lower by at least this share of the reference (and LOSS_FLOOR) is progress
LOSS_FLOOR = 0.05       # … and by at least this much in absolute terms (a creeping loss on perfect answers is not)
CROSSFIT_PARTS = 5      # cross-fitting: each fifth of the examples scored by the choice the other four made


def score_of(m: dict) -> float:
    """The headline score of a validation's metrics (val_accuracy, val_micro_f1, …) or of a scored()
    dict: accuracy for one label per example, micro-F1 for several, R² for a number (tasks.py)."""
    for key in SCORE_KEYS:
        for name in (key, f"val_{key}"):
            if name in m:
                return m[name]
    raise KeyError(f"no score among {sorted(m)}")


def _plain(m: dict) -> dict:
    """{"score", "loss"} of a validation's metrics or of a scored() dict."""
    return {"score": score_of(m), "loss": m["loss"] if "loss" in m else m["val_loss"]}


def rank_key(m: dict | None, select: str = SELECTS.accuracy) -> tuple:
    """Smaller is better. None (never checked) ranks last. `select` "accuracy" ranks by the task's
    score (accuracy, micro-F1 or R²), ties by loss."""
    if m is None:
        return (np.inf, np.inf)
    s = _plain(m)
    return (-s["score"], s["loss"]) if select == SELECTS.accuracy else (s["loss"], -s["score"])


def better(new: dict, old: dict | None, select: str = SELECTS.accuracy) -> bool:
    return rank_key(new, select) < rank_key(old, select)


def progressed(new: dict, reference: dict | None, select: str = SELECTS.accuracy) -> bool:
    """Whether `new` improved on `reference` (the last check that made progress) in a way that matters."""
    if reference is None:
        return True
    n, r = _plain(new), _plain(reference)
    loss_drop = r["loss"] - n["loss"] > max(LOSS_STEP * r["loss"], LOSS_FLOOR)
    if select == SELECTS.loss:
        return loss_drop
    return n["score"] > r["score"] + 1e-12 or (n["score"] >= r["score"] - 1e-12 and loss_drop)


def scored(probs, y, mask=None, class_weights=None) -> dict:
    """The task's score (accuracy; micro-F1 for several labels per example; R² for a number), its
    loss (class-weighted log loss; binary log loss; squared error) and n on some examples."""
    from sklearn.metrics import log_loss

    task = tasks.of(y)
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    if mask is not None:
        probs, y = probs[np.asarray(mask)], y[np.asarray(mask)]
    if not len(y):
        return {task.score_key: 0.0, "loss": float("nan"), "n": 0}
    if task.kind == tasks.NUMBER:   # squared error in standardised units
        loss = float(((task.predicted(probs) - y) ** 2).mean())
        return {task.score_key: round(task.score(probs, y), 5), "loss": round(loss, 5), "n": int(len(y))}
    if task.kind == tasks.SEVERAL:   # binary log loss per label, averaged (the training loss's measure)
        p = np.clip(probs, 1e-12, 1 - 1e-12)
        loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        return {task.score_key: round(task.score(probs, y), 5), "loss": round(loss, 5), "n": int(len(y))}
    weights = np.asarray(class_weights)[y] if class_weights is not None else None
    probs = np.clip(probs, 1e-12, 1)
    loss = log_loss(y, probs / probs.sum(1, keepdims=True), sample_weight=weights, labels=range(probs.shape[1]))
    return {"accuracy": round(float((probs.argmax(1) == y).mean()), 5), "loss": round(float(loss), 5), "n": int(len(y))}


def parts(y, k: int = CROSSFIT_PARTS, seed: int = 0) -> np.ndarray:
    """A part number 0..k-1 for every example, stratified (each class dealt round the parts) and seeded."""
    y = tasks.of(y).strata(y)
    rng = np.random.default_rng(seed + 7919)
    part = np.zeros(len(y), dtype=int)
    offset = 0
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        part[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return part


def crossfit(choices: list, y, seed: int = 0, class_weights=None, select: str = SELECTS.accuracy,
             k: int = CROSSFIT_PARTS) -> np.ndarray:
    """Probabilities for every example from the choice (checkpoint, candidate, length — each an
    [n, classes] array) that did best on the other parts of the examples (k parts: each choice is
    made on (k−1)/k of them, so it is nearly as good as one made on all, and never sees the part it
    is scored on)."""
    y = np.asarray(y)
    part = parts(y, min(k, max(2, len(y))), seed)
    out = np.zeros_like(np.asarray(choices[0]), dtype=float)
    for p in np.unique(part):
        choose, score = part != p, part == p
        best = min(range(len(choices)), key=lambda i: rank_key(scored(choices[i], y, choose, class_weights), select))
        out[score] = np.asarray(choices[best])[score]
    return out


def paired(correct_a, correct_b) -> dict:
    """Two models on the same examples: their accuracies, the examples only one got right, and the
    exact two-sided p-value of McNemar's test (a binomial test on those discordant examples)."""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    n = len(a)
    return {"n": n, "accuracy_a": float(a.mean()) if n else 0.0, "accuracy_b": float(b.mean()) if n else 0.0,
            "only_a": only_a, "only_b": only_b, "p_value": float(p)}


def clearly_ahead(correct_a, correct_b, alpha: float = ALPHA) -> bool:
    """True when model A is right more often than B on the same examples by more than chance explains."""
    t = paired(correct_a, correct_b)
    return t["only_a"] > t["only_b"] and t["p_value"] < alpha
