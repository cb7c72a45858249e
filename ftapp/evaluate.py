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
