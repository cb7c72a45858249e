"""The linear probe: logistic regression on the frozen model's head inputs (scikit-learn).

It is three things at once: the fitted starting point of the new head before any block trains
(LP-FT: Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution"), a baseline shown beside every result ("frozen features + logistic
regression"), and a candidate that wins on small data.

Features are scaled by one number so that their average length is 1 (what a sentence-embedding
model's normalised embeddings already are), and the regularisation is fixed at C = 2. Measured on
six varied sets (test accuracy, bundled models): C = 1 / 3 gave 0.847 / 0.851 (debian6), 0.759 /
0.747 (8 per class), 0.819 / 0.819 (32 per class), 0.754 / 0.748 (debian12), 0.904 / 0.923
(photos) and 0.904 / 0.904 (8 photos per class); choosing C by cross-validated log-loss
(LogisticRegressionCV) did worse on four of the six (it favours weak regularisation: 0.721 at 8
per class). The scaling is folded back into the weights, so the result is a plain linear layer on
the raw features: `logits = features @ weight.T + bias`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ftapp.train.config import CV_FOLDS

C = 2.0
# Sounds: each feature standardised (its mean and spread over the examples) and a fit of its own
# strength. Whisper's pooled encoder states share a large common part (average length 10.5, only 0.98
# around their mean; MiniLM: 1.0 and 0.94) and a few dimensions of very large spread, so the unit-length
# scaling above leaves the fit near-uniform. Measured on drums5 (test kits unseen in training, 5 s
# window, all layers): unit length 0.704, centred + unit length 0.704, standardised C = 1 0.840,
# standardised C = 0.1 0.856 (README, "Sounds"). Pictures and texts stay as measured above.
STANDARDISED = {"audio"}
STANDARDISED_C = 0.1
ABSENT = -30.0     # the bias of a class the fit never saw (a fold without it): probability ~0


def logistic_regression(c: float):
    """scikit-learn's multinomial logistic regression as every fit in ftapp uses it. newton-cg, not
    the default lbfgs: the same test accuracy on the bundled model's features and on TF-IDF, 5–6×
    faster (debian6 / debian12 on 2 cores: 0.24 s vs 1.2–1.5 s on 384 features, 0.4–0.7 s vs
    2.1–3.2 s on 21,000 TF-IDF columns) and closer to the optimum."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="newton-cg", max_iter=2000)


@dataclass
class Probe:
    weight: torch.Tensor           # [classes, features]
    bias: torch.Tensor             # [classes]
    oof_probs: np.ndarray | None   # out-of-fold class probabilities of the training examples (None: no CV)
    y: np.ndarray                  # the training labels they belong to

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return features.float() @ self.weight.T + self.bias

    @property
    def cv_accuracy(self) -> float | None:
        return None if self.oof_probs is None else float((self.oof_probs.argmax(1) == self.y).mean())


def folds_for(y, groups=None, seed: int = 0, max_folds: int = CV_FOLDS) -> list | None:
    """Stratified k-fold splits that keep each group (identical examples) on one side, as arrays;
    None when some class has fewer than two distinct examples (nothing to check it on)."""
    from ftapp import tasks
    from ftapp.data.split import grouped_folds

    task = tasks.of(y)
    y = task.strata(y)   # several labels per example: each example's rarest label
    groups = list(groups) if groups is not None else list(range(len(y)))
    if not len(y):
        return None
    if task.kind == tasks.SEVERAL:   # a rare label missing from a fold's training part is no reason not to check
        distinct = len(set(groups))
    else:
        distinct = min(len({g for g, label in zip(groups, y) if label == c}) for c in np.unique(y))
    folds = grouped_folds(y.tolist(), groups, min(max_folds, distinct), seed) if distinct >= 2 else None
    return None if folds is None else [(np.asarray(tr), np.asarray(te)) for tr, te in folds]


def fit_probe(features: torch.Tensor, labels: list[int], n_classes: int, *, groups=None, seed: int = 0,
              class_weight: np.ndarray | None = None, oof: bool = True, modality: str = "") -> Probe:
    """Multinomial logistic regression (C = 2 on unit-length-scaled features, centred first for
    `STANDARDISED` modalities: each feature standardised, C = STANDARDISED_C); with `oof`, also the
    out-of-fold probabilities of a (grouped, stratified) 3-fold cross-validation."""
    x = features.double().numpy()
    if modality not in STANDARDISED or not len(x):
        return _fit(x, labels, n_classes, groups, seed, class_weight, oof)
    mean, spread = x.mean(0), x.std(0) + 1e-6
    probe = _fit((x - mean) / spread, labels, n_classes, groups, seed, class_weight, oof, c=STANDARDISED_C,
                 unit_length=False)
    probe.weight /= torch.tensor(spread, dtype=torch.float32)            # back onto the raw features
    probe.bias -= probe.weight @ torch.tensor(mean, dtype=torch.float32)
    return probe


def _fit(x: np.ndarray, labels, n_classes: int, groups, seed: int, class_weight, oof: bool, c: float = C,
         unit_length: bool = True) -> Probe:
    from sklearn.model_selection import cross_val_predict

    y = np.asarray(labels)
    if y.ndim == 2:
        return fit_one_vs_rest(x, y)
    if y.dtype.kind == "f":
        return fit_ridge(x, y)
    scale = (float(np.linalg.norm(x, axis=1).mean()) or 1.0) if unit_length else 1.0
    z = x / scale
    weights = class_weight[y] if class_weight is not None else None
    folds = folds_for(y, groups, seed) if oof else None
    probs = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence notes on tiny folds are not the user's business
        if folds is not None and all(len(np.unique(y[tr])) == n_classes for tr, _ in folds):
            probs = cross_val_predict(logistic_regression(c), z, y, cv=folds, method="predict_proba",
                                      params={"sample_weight": weights} if weights is not None else None)
        final = logistic_regression(c).fit(z, y, sample_weight=weights)
    w, b = final.coef_ / scale, final.intercept_
    if w.shape[0] == 1:          # scikit-learn's binary form: one row of scores for class 1
        w, b = np.vstack([-w / 2, w / 2]), np.array([-b[0] / 2, b[0] / 2])
    weight, bias = np.zeros((n_classes, x.shape[1])), np.full(n_classes, ABSENT)
    weight[final.classes_], bias[final.classes_] = w, b   # a class absent from these examples is never chosen
    return Probe(torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32), probs, y)




def fit_one_vs_rest(x: np.ndarray, y: np.ndarray) -> Probe:
    """Several labels per example: one binary logistic regression per label (C = 2 on the same
    unit-length scaling, liblinear: what benchmarks/multilabel_study.py measured — micro-F1 0.682 on
    the frozen features against 0.641 for the best TF-IDF one-vs-rest, thresholds tuned per label).
    A label every example has, or none, gets a constant score instead of a fit."""
    from sklearn.linear_model import LogisticRegression

    scale = float(np.linalg.norm(x, axis=1).mean()) or 1.0
    weight, bias = np.zeros((y.shape[1], x.shape[1])), np.zeros(y.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():
                bias[j] = -ABSENT if y[0, j] else ABSENT
                continue
            fit = LogisticRegression(C=C, solver="liblinear", max_iter=2000).fit(x / scale, y[:, j])
            weight[j], bias[j] = fit.coef_[0] / scale, fit.intercept_[0]
    return Probe(torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32), None, y)


RIDGE_ALPHAS = np.logspace(-3, 3, 13)   # RidgeCV chooses among these by its exact leave-one-out error


def fit_ridge(x: np.ndarray, y: np.ndarray) -> Probe:
    """A number per example: ridge regression on the same unit-length scaling, its strength chosen by
    scikit-learn's RidgeCV (exact leave-one-out, as cheap as one fit) — one output, the standardised target."""
    from sklearn.linear_model import RidgeCV

    scale = float(np.linalg.norm(x, axis=1).mean()) or 1.0
    fit = RidgeCV(alphas=RIDGE_ALPHAS).fit(x / scale, y)
    weight = np.asarray(fit.coef_, dtype=float).reshape(1, -1) / scale
    return Probe(torch.tensor(weight, dtype=torch.float32), torch.tensor([float(fit.intercept_)]), None, y)
