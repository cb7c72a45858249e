"""A classical baseline beside every result, fitted in seconds with scikit-learn.

Text: TF-IDF of word 1–2-grams and character 2–5-grams + logistic regression: it needs no
pre-trained model, so it shows when the chosen model does not fit the data's language or kind.
Images: the frozen model's features + logistic regression (the linear probe, probe.py).
"""
from __future__ import annotations

import warnings

import numpy as np


def tfidf_baseline(train_texts: list[str], train_y: list[int], *, C: float = 10.0):
    """A fitted scikit-learn pipeline (predict_proba on raw texts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=300_000))
    model = make_pipeline(features, LogisticRegression(C=C, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train_texts, np.asarray(train_y))
    return model


def predict_proba(model, texts: list[str], n_classes: int) -> np.ndarray:
    """Class probabilities in the run's class order (a class absent from training gets 0)."""
    p = model.predict_proba(texts)
    out = np.zeros((len(texts), n_classes))
    out[:, model.classes_] = p
    return out
