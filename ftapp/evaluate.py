"""Evaluation report: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix and
the misclassified examples, all from scikit-learn's metrics."""
from __future__ import annotations

import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


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
        "accuracy": float(accuracy_score(y_true, preds)) if y_true else 0.0,
        "macro_f1": float(f1_score(y_true, preds, labels=ids, average="macro", zero_division=0)) if y_true else 0.0,
        "labels": labels,
        "per_class": [{"label": labels[i], "precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(support[i])} for i in ids],
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
