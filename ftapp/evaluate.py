"""Evaluation: accuracy, macro-F1, balanced accuracy, per-class precision/recall/F1, confusion
matrix and the misclassified examples, all from scikit-learn's metrics.

`scores` is the one definition of the headline numbers, used by the per-epoch log, report.json,
the Evaluate tab, the CLI and the model card: averages over classes run over the classes present
in the scored data (a class with no examples there has no F1 to average, and is shown as "no
examples" rather than counted as 0).
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, recall_score,
                             precision_recall_fscore_support)

from ftapp.errors import UserFacingError

CONFIDENCE = 0.95
RESAMPLES = 1000


def scores(y_true: list[int], preds: list[int]) -> dict:
    """accuracy, macro_f1 and balanced_accuracy (mean recall), over the classes present in y_true."""
    if not len(y_true):
        return {"accuracy": 0.0, "macro_f1": 0.0, "balanced_accuracy": 0.0}
    present = sorted(set(y_true))
    return {"accuracy": float(accuracy_score(y_true, preds)),
            "macro_f1": float(f1_score(y_true, preds, labels=present, average="macro", zero_division=0)),
            # balanced accuracy = mean recall of the present classes (sklearn's balanced_accuracy_score,
            # without its warning when a prediction names a class the scored file lacks)
            "balanced_accuracy": float(recall_score(y_true, preds, labels=present, average="macro",
                                                    zero_division=0))}


def accuracy_interval(n_correct: int, n: int) -> list[float]:
    """The 95 % Wilson score interval of an accuracy (scipy)."""
    from scipy.stats import binomtest

    if not n:
        return [0.0, 1.0]
    ci = binomtest(int(n_correct), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def _macro_f1(y: np.ndarray, p: np.ndarray, present, axis: int = -1) -> np.ndarray:
    """Macro-F1 over `present` classes along `axis`, for many resamples at once (scores()' definition)."""
    f1 = []
    for c in present:
        tp = ((y == c) & (p == c)).sum(axis)
        wrong = ((y != c) & (p == c)).sum(axis) + ((y == c) & (p != c)).sum(axis)
        f1.append(np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0))
    return np.mean(f1, axis=0)


def macro_f1_interval(y_true, preds, seed: int = 0) -> list[float]:
    """A 95 % percentile-bootstrap interval of macro-F1 (scipy.stats.bootstrap, examples resampled)."""
    from scipy.stats import bootstrap

    y, p = np.asarray(y_true), np.asarray(preds)
    if len(y) < 2:
        return [0.0, 1.0]
    present = np.unique(y)
    res = bootstrap((y, p), lambda a, b, axis=-1: _macro_f1(a, b, present, axis), paired=True, vectorized=True,
                    n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                    random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return [round(float(np.nan_to_num(low)), 4), round(float(np.nan_to_num(high, nan=1.0)), 4)]


def intervals(y_true, preds, seed: int = 0) -> dict:
    """n and the 95 % intervals of accuracy and macro-F1: how sure each headline number is."""
    y, p = np.asarray(y_true), np.asarray(preds)
    return {"n": int(len(y)), "accuracy": accuracy_interval(int((y == p).sum()), len(y)),
            "macro_f1": macro_f1_interval(y, p, seed)}


def evaluation_report(labels: list[str], y_true: list[int], probs: torch.Tensor,
                      items: list[str], origins: list[str], max_misclassified: int = 200,
                      unsure_below: float = 0.0) -> dict:
    """The report of a model on labelled examples; `unsure` says how it does when it answers "not
    sure" under `unsure_below` (ftapp/unsure.py)."""
    from ftapp import unsure

    preds = probs.argmax(-1).tolist()
    conf = probs.max(-1).values.tolist()
    ids = list(range(len(labels)))
    p, r, f, support = precision_recall_fscore_support(y_true, preds, labels=ids, zero_division=0)
    wrong = [{"item": items[i], "origin": origins[i], "true": labels[y_true[i]],
              "predicted": labels[preds[i]], "confidence": round(conf[i], 4)}
             for i in range(len(preds)) if preds[i] != y_true[i]]
    wrong.sort(key=lambda w: -w["confidence"])   # confidently wrong first: the most telling
    return {
        "n": len(y_true),
        **scores(y_true, preds),
        "interval": intervals(y_true, preds),
        "labels": labels,
        # classes without examples here: support 0, and None where a score cannot be had
        "per_class": [{"label": labels[i], "precision": round(float(p[i]), 4) if support[i] else None,
                       "recall": round(float(r[i]), 4) if support[i] else None,
                       "f1": round(float(f[i]), 4) if support[i] else None, "support": int(support[i])}
                      for i in ids],
        "confusion_matrix": confusion_matrix(y_true, preds, labels=ids).tolist() if y_true else [],
        "misclassified": wrong[:max_misclassified],
        "n_misclassified": len(wrong),
        "unsure": unsure.summary(conf, np.asarray(preds) == np.asarray(y_true, dtype=int), unsure_below),
    }


def micro_f1_interval(y_true, pred, seed: int = 0) -> list[float]:
    """A 95 % percentile-bootstrap interval of micro-F1 (examples resampled; vectorised on each
    example's counts of right, extra and missed labels)."""
    from scipy.stats import bootstrap

    y, p = np.asarray(y_true), np.asarray(pred)
    if len(y) < 2:
        return [0.0, 1.0]
    tp, fp, fn = (y & p).sum(1), (~y.astype(bool) & p.astype(bool)).sum(1), (y.astype(bool) & ~p.astype(bool)).sum(1)

    def micro(a, b, c, axis=-1):
        a, b, c = a.sum(axis), b.sum(axis), c.sum(axis)
        return np.where(2 * a + b + c > 0, 2 * a / np.maximum(2 * a + b + c, 1), 0.0)

    res = bootstrap((tp, fp, fn), micro, paired=True, vectorized=True, n_resamples=RESAMPLES,
                    confidence_level=CONFIDENCE, method="percentile", random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return [round(float(np.nan_to_num(low)), 4), round(float(np.nan_to_num(high, nan=1.0)), 4)]


def multilabel_report(labels: list[str], y_true, probs, items: list[str], origins: list[str],
                      thresholds: list[float], max_misclassified: int = 200) -> dict:
    """The report of a model that gives several labels per example, each label decided at its own
    threshold: micro/macro-F1, subset accuracy, per-label precision/recall/F1, and the examples with
    a label wrong (missed or extra), the surest mistakes first."""
    from ftapp.tasks import SeveralLabels as task

    y = np.asarray(y_true, dtype=int).reshape(-1, len(labels))
    p = np.asarray(probs, dtype=float).reshape(-1, len(labels))
    pred = task.predicted(p, thresholds)
    prec, rec, f1, support = (precision_recall_fscore_support(y, pred, zero_division=0) if len(y)
                              else [np.zeros(len(labels))] * 4)
    wrong = []
    for i in np.flatnonzero((pred != y).any(1)):
        miss = [labels[j] for j in np.flatnonzero((y[i] == 1) & (pred[i] == 0))]
        extra = [labels[j] for j in np.flatnonzero((y[i] == 0) & (pred[i] == 1))]
        # how sure the worst wrong decision was: distance of its probability from the label's threshold
        sure = max(abs(p[i, j] - thresholds[j]) for j in np.flatnonzero(pred[i] != y[i]))
        wrong.append({"item": items[i], "origin": origins[i], "true": [labels[j] for j in np.flatnonzero(y[i])],
                      "predicted": [labels[j] for j in np.flatnonzero(pred[i])], "missed": miss, "extra": extra,
                      "confidence": round(float(sure), 4)})
    wrong.sort(key=lambda w: -w["confidence"])
    return {"task": task.kind, "n": int(len(y)), **task.metrics(p, y, thresholds),
            "interval": {"micro_f1": micro_f1_interval(y, pred)}, "labels": labels,
            "thresholds": [round(float(t), 4) for t in thresholds],
            "per_label": [{"label": labels[j], "threshold": round(float(thresholds[j]), 4),
                           "precision": round(float(prec[j]), 4) if support[j] else None,
                           "recall": round(float(rec[j]), 4) if support[j] else None,
                           "f1": round(float(f1[j]), 4) if support[j] else None, "support": int(support[j])}
                          for j in range(len(labels))],
            "misclassified": wrong[:max_misclassified], "n_misclassified": len(wrong)}


def number_report(y_true, predicted, items: list[str], origins: list[str], max_errors: int = 200,
                  max_points: int = 1000, seed: int = 0) -> dict:
    """The report of a model that predicts a number, in the target's own unit: R², Spearman's rank
    correlation, MAE and RMSE (bootstrap intervals for R² and MAE), the residuals' 5th and 95th
    percentiles (the interval Try it gives around a prediction), the largest errors and the points
    of a predicted-vs-actual scatter."""
    from scipy.stats import bootstrap
    from sklearn.metrics import r2_score

    from ftapp.tasks import Number as task

    y, p = np.asarray(y_true, dtype=float), np.asarray(predicted, dtype=float).reshape(-1)
    out = {"task": task.kind, "n": int(len(y)), **task.metrics(p[:, None], y), "interval": {}}
    if len(y) >= 3:
        rng = np.random.default_rng(seed)
        for key, stat in (("r2", lambda a, b: r2_score(a, b)), ("mae", lambda a, b: float(np.abs(a - b).mean()))):
            res = bootstrap((y, p), stat, paired=True, vectorized=False, n_resamples=RESAMPLES // 4,
                            confidence_level=CONFIDENCE, method="percentile", random_state=rng)
            low, high = res.confidence_interval
            out["interval"][key] = [round(float(np.nan_to_num(low)), 4), round(float(np.nan_to_num(high)), 4)]
    residuals = y - p
    out["residual_interval"] = [float(v) for v in np.percentile(residuals, [5, 95])] if len(y) else [0.0, 0.0]
    order = np.argsort(-np.abs(residuals))[:max_errors]
    out["largest_errors"] = [{"item": items[i], "origin": origins[i], "true": float(y[i]), "predicted": float(p[i]),
                              "error": float(p[i] - y[i])} for i in order]
    picks = np.random.default_rng(seed).permutation(len(y))[:max_points]
    out["scatter"] = [[float(y[i]), float(p[i])] for i in sorted(picks)]
    return out


def most_confused(labels: list[str], matrix: list[list[int]], k: int = 15) -> list[dict]:
    """The k most frequent mistakes (true class, predicted class, count): what to read instead of
    a confusion matrix with hundreds of classes."""
    pairs = [(n, labels[i], labels[j]) for i, row in enumerate(matrix or []) for j, n in enumerate(row)
             if i != j and n > 0]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [{"true": t, "predicted": p, "count": n} for n, t, p in pairs[:k]]


class UnusableData(UserFacingError):
    """Labelled data a model cannot be scored on; the message is for the user."""


def evaluate_file(clf, path, workdir, *, text_column=None, label_column=None, path_column=None,
                  limits=None, what: str = "data", label_map: dict | None = None,
                  merge_similar: bool = False) -> dict:
    """Score a trained model on a labelled file (the CLI's `evaluate`, training's --test-data).
    The run's class edits apply to it as to the training data; rows of classes the model lacks are
    left out and named in `warnings` (an error only when no row is left)."""
    from ftapp.data import Limits, load_dataset
    from ftapp.data.labels import LabelEdits, apply_edits

    ds, report = load_dataset(path, workdir=workdir, modality=clf.modality, text_column=text_column,
                              label_column=label_column, path_column=path_column, limits=limits or Limits(),
                              task=clf.task)
    if not report.ok:
        raise UnusableData(f"The {what} cannot be used: " + " ".join(str(p) for p in report.errors))
    if ds.separator:
        return _evaluate_labels(clf, ds, what)
    if ds.numeric:   # the model's numbers in the target's unit, against the file's
        values = clf.values(clf.proba_encoded(clf.preprocess.encode(ds.items)))
        return number_report([float(v) for v in ds.labels], values.numpy(), ds.items, ds.origins)
    ds, _, _ = apply_edits(ds, LabelEdits(label_map=label_map, merge_similar=merge_similar, classes=clf.labels))
    unknown = Counter(label for label in ds.labels if label not in clf.labels)
    known = [i for i, label in enumerate(ds.labels) if label in clf.labels]
    if not known:
        raise UnusableData(f"None of the {what}'s classes is one the model knows ({', '.join(sorted(unknown))}); "
                           f"it knows: {', '.join(clf.labels[:20])}.")
    ds = ds.subset(known)
    y = [clf.labels.index(label) for label in ds.labels]
    out = evaluation_report(clf.labels, y, clf.proba_encoded(clf.preprocess.encode(ds.items)), ds.items, ds.origins,
                            unsure_below=clf.unsure_below)
    if unknown:
        out["unknown_classes"] = dict(sorted(unknown.items()))
        out["warnings"] = [f"{sum(unknown.values())} row(s) of {len(unknown)} class(es) the model was not trained "
                           f"on were left out: " + ", ".join(f"{c} ({n})" for c, n in sorted(unknown.items())[:10])
                           + (", …" if len(unknown) > 10 else "") + "."]
    return out


def _evaluate_labels(clf, ds, what: str) -> dict:
    """Several labels per example: labels the model does not know are left out of each example
    (named in `warnings`); an error only when none of the file's labels is one the model knows."""
    from ftapp.tasks import targets

    unknown = Counter(label for row in ds.labels for label in ds.split_label(row) if label not in clf.labels)
    if not set(ds.classes) & set(clf.labels):
        raise UnusableData(f"None of the {what}'s labels is one the model knows ({', '.join(sorted(unknown)[:20])}); "
                           f"it knows: {', '.join(clf.labels[:20])}.")
    probs = clf.proba_encoded(clf.preprocess.encode(ds.items))
    out = multilabel_report(clf.labels, targets(ds, clf.labels), probs, ds.items, ds.origins, clf.thresholds)
    if unknown:
        out["unknown_labels"] = dict(sorted(unknown.items()))
        out["warnings"] = [f"{len(unknown)} label(s) the model was not trained on were left out of the examples that "
                           "carry them: " + ", ".join(f"{c} ({n})" for c, n in sorted(unknown.items())[:10])
                           + (", …" if len(unknown) > 10 else "") + "."]
    return out
