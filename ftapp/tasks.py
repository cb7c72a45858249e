"""What kind of answer a model gives, and everything that differs with it: one home.

- **One label** per example (`ONE`): class indices as targets, softmax, cross-entropy, accuracy.
- **Several labels** per example (`SEVERAL`): a 0/1 row per example (multi-hot), one sigmoid per
  label, binary cross-entropy, micro-F1 (every label decision of every example counted together).
  Each label has its own decision threshold, chosen on validation where the label's F1 is best: on
  a real 12-label set (benchmarks/multilabel_study.py) tuned thresholds gave micro-F1 0.682
  against 0.630 with every threshold at 0.5 — rare labels rarely reach 0.5.
- **A number** per example (`NUMBER`): standardised targets, the head's one output as is, Huber
  loss, R² (MAE and RMSE reported in the target's own unit).

The targets themselves say which task they are (`of(y)`: a row of labels per example is two-
dimensional, standardised numbers are fractions), so the training loop, the selection rules and the
reports ask the targets instead of passing a setting through every call. The app's pages read
reports through `named_score`, `is_several` and `is_number` (torch is imported only where a model
computes).
"""
from __future__ import annotations

import warnings

import numpy as np

from ftapp.runs import Candidate
from ftapp.train.config import TASKS as TASKS_CHOSEN

ONE, SEVERAL, NUMBER = TASKS_CHOSEN.single, TASKS_CHOSEN.multi, TASKS_CHOSEN.regression
WITHIN = 0.5          # a number counts as right (paired tests only) within this many standard deviations of the target
HALF = 0.5            # the threshold before one is chosen (and for a label validation never shows)


class OneLabel:
    kind = ONE
    score_key, score_name = "accuracy", "accuracy"
    first_model = Candidate.FIRST_MODEL     # the linear probe (the first model), by name

    @staticmethod
    def probs(logits):
        import torch

        return torch.softmax(torch.as_tensor(logits).float(), -1)

    @staticmethod
    def loss(logits, y, class_weights=None, reduction: str = "mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), y, weight=class_weights, reduction=reduction)

    @staticmethod
    def predicted(probs, thresholds=None) -> np.ndarray:
        return np.asarray(probs).argmax(1)

    @classmethod
    def correct(cls, probs, y, thresholds=None) -> np.ndarray:
        return cls.predicted(probs) == np.asarray(y)

    @staticmethod
    def score(probs, y, thresholds=None) -> float:
        return float((np.asarray(probs).argmax(1) == np.asarray(y)).mean()) if len(y) else 0.0

    @staticmethod
    def metrics(probs, y, thresholds=None, scale: float = 1.0) -> dict:
        from ftapp.evaluate import scores

        return scores(np.asarray(y).tolist(), np.asarray(probs).argmax(1).tolist())

    @staticmethod
    def strata(y) -> np.ndarray:
        """What stratified splits keep in proportion: the class."""
        return np.asarray(y)


class SeveralLabels:
    kind = SEVERAL
    score_key, score_name = "micro_f1", "micro-F1"
    first_model = Candidate.FIRST_MODEL     # a logistic regression per label

    @staticmethod
    def probs(logits):
        import torch

        return torch.sigmoid(torch.as_tensor(logits).float())

    @staticmethod
    def loss(logits, y, class_weights=None, reduction: str = "mean"):
        """Binary cross-entropy per label, averaged over the labels of each example; `class_weights`
        (if any) weigh each label's positive examples (torch's pos_weight)."""
        import torch.nn.functional as F

        per = F.binary_cross_entropy_with_logits(logits.float(), y.float(), pos_weight=class_weights,
                                                 reduction="none").mean(-1)
        return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per

    @staticmethod
    def predicted(probs, thresholds=None) -> np.ndarray:
        p = np.asarray(probs)
        return (p >= (HALF if thresholds is None else np.asarray(thresholds))).astype(int)

    @classmethod
    def correct(cls, probs, y, thresholds=None) -> np.ndarray:
        """Whether every label of the example is right (what subset accuracy counts)."""
        return (cls.predicted(probs, thresholds) == np.asarray(y)).all(1)

    @classmethod
    def score(cls, probs, y, thresholds=None) -> float:
        from sklearn.metrics import f1_score

        y = np.asarray(y)
        if not len(y):
            return 0.0
        return float(f1_score(y, cls.predicted(probs, thresholds), average="micro", zero_division=0))

    @classmethod
    def metrics(cls, probs, y, thresholds=None, scale: float = 1.0) -> dict:
        """micro-F1, macro-F1 (over the labels these examples show) and subset accuracy (every label right)."""
        from sklearn.metrics import f1_score

        y = np.asarray(y)
        if not len(y):
            return {"micro_f1": 0.0, "macro_f1": 0.0, "subset_accuracy": 0.0}
        pred = cls.predicted(probs, thresholds)
        present = np.flatnonzero(y.any(0))
        return {"micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(y[:, present], pred[:, present], average="macro", zero_division=0))
                if len(present) else 0.0,
                "subset_accuracy": float((pred == y).all(1).mean())}

    @staticmethod
    def strata(y) -> np.ndarray:
        """Each example's rarest label (a label-less example: -1): stratifying on it keeps rare labels
        on both sides of a split, which stratifying on whole combinations cannot (most are unique)."""
        y = np.asarray(y)
        freq = y.sum(0)
        rarity = np.where(y > 0, freq[None, :], np.inf)
        return np.where(y.any(1), rarity.argmin(1), -1)


class Number:
    """A number per example. The engine sees targets standardised on the training examples (mean 0,
    standard deviation 1: one learning rate suits every unit), the head's one output in those units,
    and Huber loss (squared near the target, linear beyond one standard deviation, so a few outliers do
    not dominate; measured against squared error: the same mean R², a better worst seed — README). MAE and RMSE are reported in the target's own units (`scale`: its standard
    deviation); R² and Spearman's rank correlation do not depend on the unit."""
    kind = NUMBER
    score_key, score_name = "r2", "R²"
    first_model = "frozen features + ridge regression"

    @staticmethod
    def probs(logits):
        import torch

        return torch.as_tensor(logits).float()

    @staticmethod
    def loss(logits, y, class_weights=None, reduction: str = "mean"):
        import torch.nn.functional as F

        return F.huber_loss(logits.float()[:, 0], y.float(), reduction=reduction, delta=1.0)

    @staticmethod
    def predicted(probs, thresholds=None) -> np.ndarray:
        return np.asarray(probs, dtype=float).reshape(len(probs), -1)[:, 0]

    @classmethod
    def correct(cls, probs, y, thresholds=None) -> np.ndarray:
        """Within WITHIN standard deviations of the target: what the paired tests count as right."""
        return np.abs(cls.predicted(probs) - np.asarray(y, dtype=float)) <= WITHIN

    @classmethod
    def score(cls, probs, y, thresholds=None) -> float:
        return cls.metrics(probs, y)["r2"]

    @classmethod
    def metrics(cls, probs, y, thresholds=None, scale: float = 1.0) -> dict:
        from scipy.stats import spearmanr
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        y = np.asarray(y, dtype=float)
        if len(y) < 2:
            return {"r2": 0.0, "spearman": 0.0, "mae": 0.0, "rmse": 0.0}
        pred = cls.predicted(probs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # a constant prediction (the mean baseline) has no rank correlation: 0
            rho = spearmanr(y, pred).statistic
        return {"r2": float(r2_score(y, pred)), "spearman": float(0.0 if np.isnan(rho) else rho),
                "mae": float(mean_absolute_error(y, pred)) * scale,
                "rmse": float(np.sqrt(mean_squared_error(y, pred))) * scale}

    @staticmethod
    def strata(y) -> np.ndarray:
        """The quarter of the targets each example falls in: splits keep low and high values on both sides."""
        from ftapp.data.report import quarters

        return np.asarray(quarters([float(v) for v in np.asarray(y, dtype=float)]))


TASKS = {ONE: OneLabel, SEVERAL: SeveralLabels, NUMBER: Number}


def targets(ds, classes: list[str]) -> list:
    """The training targets of a Dataset's examples: class indices, a 0/1 row per example, or the
    number (as written in the label column)."""
    if ds.numeric:
        return [float(label) for label in ds.labels]
    index = {c: i for i, c in enumerate(classes)}
    if not ds.separator:
        return [index[label] for label in ds.labels]
    rows = []
    for label in ds.labels:
        row = [0] * len(classes)
        for part in ds.split_label(label):
            if part in index:
                row[index[part]] = 1
        rows.append(row)
    return rows


def of(y):
    """The task the targets `y` belong to: a row of 0/1 per example is several labels; fractions
    (standardised numbers) are a number; whole numbers are class indices."""
    y = np.asarray(y)
    if y.ndim == 2:
        return SeveralLabels
    return Number if len(y) and y.dtype.kind == "f" else OneLabel


def thresholds(probs, y) -> list[float]:
    """Per label, the threshold with the best F1 on these examples, read off scikit-learn's
    precision-recall curve (as benchmarks/multilabel_study.py measured it); 0.5 for a label these
    examples show always or never."""
    from sklearn.metrics import precision_recall_curve

    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    out = []
    for j in range(y.shape[1]):
        if not y[:, j].any() or y[:, j].all():
            out.append(HALF)
            continue
        precision, recall, cuts = precision_recall_curve(y[:, j], probs[:, j])
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        out.append(round(float(cuts[int(f1.argmax())]), 6))
    return out


def named_score(d: dict | None, prefix: str = "") -> tuple[str, float | None]:
    """The headline number of a report, metrics or validation dict, with its name: ("accuracy",
    0.91), or ("micro-F1", 0.68) for several labels per example; `prefix` e.g. "val_" or "test_"."""
    for task in TASKS.values():
        if (d or {}).get(f"{prefix}{task.score_key}") is not None:
            return task.score_name, d[f"{prefix}{task.score_key}"]
    return OneLabel.score_name, None


def is_several(d: dict | None) -> bool:
    """Whether a report or metrics dict is of a model with several labels per example."""
    return (d or {}).get("task") == SEVERAL


def is_number(d: dict | None) -> bool:
    """Whether a report or metrics dict is of a model that predicts a number."""
    return (d or {}).get("task") == NUMBER
