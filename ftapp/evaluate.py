"""Evaluation: accuracy, macro-F1, balanced accuracy, per-class precision/recall/F1, confusion
matrix and the misclassified examples, all from scikit-learn's metrics.

`scores` is the one definition of the headline numbers, used by the per-epoch log, report.json,
the Evaluate tab, the CLI and the model card: averages over classes run over the classes present
in the scored data (a class with no examples there has no F1 to average, and is shown as "no
examples" rather than counted as 0).
"""
from __future__ import annotations

import torch
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)


def scores(y_true: list[int], preds: list[int]) -> dict:
    """accuracy, macro_f1 and balanced_accuracy (mean recall), over the classes present in y_true."""
    if not len(y_true):
        return {"accuracy": 0.0, "macro_f1": 0.0, "balanced_accuracy": 0.0}
    present = sorted(set(y_true))
    return {"accuracy": float(accuracy_score(y_true, preds)),
            "macro_f1": float(f1_score(y_true, preds, labels=present, average="macro", zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, preds))}


def evaluation_report(labels: list[str], y_true: list[int], probs: torch.Tensor,
                      items: list[str], origins: list[str], max_misclassified: int = 200) -> dict:
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
        "labels": labels,
        # classes without examples here: support 0, and None where a score cannot be had
        "per_class": [{"label": labels[i], "precision": round(float(p[i]), 4) if support[i] else None,
                       "recall": round(float(r[i]), 4) if support[i] else None,
                       "f1": round(float(f[i]), 4) if support[i] else None, "support": int(support[i])}
                      for i in ids],
        "confusion_matrix": confusion_matrix(y_true, preds, labels=ids).tolist() if y_true else [],
        "misclassified": wrong[:max_misclassified],
        "n_misclassified": len(wrong),
    }


class UnusableData(Exception):
    """Labelled data a model cannot be scored on; the message is for the user."""


def evaluate_file(clf, path, workdir, *, text_column=None, label_column=None, path_column=None,
                  limits=None, what: str = "data") -> dict:
    """Score a trained model on a labelled file (the CLI's `evaluate`, training's --test-data)."""
    from ftapp.data import Limits, load_dataset

    ds, report = load_dataset(path, workdir=workdir, modality=clf.modality, text_column=text_column,
                              label_column=label_column, path_column=path_column, limits=limits or Limits())
    if not report.ok:
        raise UnusableData(f"The {what} cannot be used: " + " ".join(str(p) for p in report.errors))
    unknown = sorted(set(ds.labels) - set(clf.labels))
    if unknown:
        raise UnusableData(f"The {what} has classes the model was not trained on: {', '.join(unknown)}.")
    y = [clf.labels.index(label) for label in ds.labels]
    return evaluation_report(clf.labels, y, clf.proba_encoded(clf.preprocess.encode(ds.items)), ds.items, ds.origins)
