"""Cheap baselines beside every result, fitted in seconds with scikit-learn, and scored on exactly
the examples the model's numbers are on (out-of-fold when the model's are).

- Text: TF-IDF of word 1–2-grams and character 2–5-grams + logistic regression. It needs no
  pre-trained model, so it shows when the chosen model does not fit the data's language or kind.
- Pictures: colour histograms + gradient-orientation histograms (HOG, scikit-image) of a small
  copy of each picture + logistic regression: it shows when the deep model adds little (drawings,
  symbols, charts).
- Recordings: each mel band's mean and spread over time of the model's own log-mel input (Whisper's
  80 bands) + logistic regression: the classic sound baseline, it shows what loudness and timbre
  alone tell apart.
- All: the first model (frozen features + logistic regression) is the third.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ftapp.train.probe import logistic_regression

# Chosen on photos5 and red/blue test squares (test accuracy): 16-pixel cells / 4 colour bins / C = 0.01
# gave 0.731 / 1.0; 8-pixel cells 0.692 / 0.85 (their 1,764 shape numbers drown the 64 colour ones);
# 8 colour bins 0.596–0.692; C = 0.1 or 1 0.673.
SMALL_SIDE = 64      # pictures are shrunk to this before their histograms are taken
COLOUR_BINS = 4      # per channel: 4 × 4 × 4 colour cells
CELL = 16            # pixels per gradient-histogram cell
C = 0.01
AUDIO_C = 0.1        # as the first model's on standardised sound features (probe.STANDARDISED_C); not tuned apart


class TextBaseline:
    name = "TF-IDF + logistic regression"
    key = "tfidf"

    def fit(self, texts: list[str], y: list[int]) -> "TextBaseline":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=300_000))
        self.model = make_pipeline(features, classifier(10.0, y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(texts, np.asarray(y))
        return self

    def proba(self, texts: list[str], n_classes: int) -> np.ndarray:
        return _in_class_order(self.model, _scores(self.model, texts), n_classes)


class _FeaturesBaseline:
    """Hand-made features of each example (`features`), standardised, + logistic regression at `c`."""
    c = 1.0

    def fit(self, items: list[torch.Tensor], y: list[int]) -> "_FeaturesBaseline":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), classifier(self.c, y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.features(items), np.asarray(y))
        return self

    def proba(self, items: list[torch.Tensor], n_classes: int) -> np.ndarray:
        return _in_class_order(self.model, _scores(self.model, self.features(items)), n_classes)


class PictureBaseline(_FeaturesBaseline):
    name = "colour and gradient histograms + logistic regression"
    key = "histogram"
    c = C

    @staticmethod
    def features(pictures: list[torch.Tensor]) -> np.ndarray:
        """Per picture (uint8 CHW): a joint colour histogram and a HOG descriptor of a small grey copy."""
        from skimage.feature import hog

        small = torch.nn.functional.interpolate(torch.stack(pictures).float(), size=(SMALL_SIDE, SMALL_SIDE),
                                                mode="area")
        out = []
        for img in small.numpy():
            cells = np.clip((img / 256 * COLOUR_BINS).astype(int), 0, COLOUR_BINS - 1)
            colour = np.bincount(((cells[0] * COLOUR_BINS + cells[1]) * COLOUR_BINS + cells[2]).ravel(),
                                 minlength=COLOUR_BINS ** 3)
            grey = img.mean(0)
            shape = hog(grey, orientations=9, pixels_per_cell=(CELL, CELL), cells_per_block=(2, 2), feature_vector=True)
            out.append(np.concatenate([colour / colour.sum(), shape]))
        return np.asarray(out)


class AudioBaseline(_FeaturesBaseline):
    name = "log-mel statistics + logistic regression"
    key = "logmel"
    c = AUDIO_C

    @staticmethod
    def features(spectrograms: list[torch.Tensor]) -> np.ndarray:
        """Per recording (bands × frames, the model's input features): each band's mean and standard
        deviation over time, and those of its frame-to-frame change."""
        x = torch.stack(spectrograms).float()
        if x.ndim == 2:   # a waveform model's input: one "band"
            x = x[:, None, :]
        delta = x.diff(dim=-1)
        return torch.cat([x.mean(-1), x.std(-1), delta.abs().mean(-1), delta.std(-1)], dim=1).numpy()



def classifier(c: float, y):
    """Logistic regression as every fit in ftapp uses it; several labels per example (`y` a 0/1 row
    per example): one-vs-rest, a binary fit per label (scikit-learn's OneVsRestClassifier); a number
    (`y` fractions): ridge regression, its strength chosen by RidgeCV's leave-one-out error."""
    if np.asarray(y).dtype.kind == "f":
        from sklearn.linear_model import RidgeCV

        from ftapp.train.probe import RIDGE_ALPHAS

        return RidgeCV(alphas=RIDGE_ALPHAS)
    if np.asarray(y).ndim == 2:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=2000))
    return logistic_regression(c)


def _scores(model, x) -> np.ndarray:
    """Class probabilities, or for a number the prediction as a one-column array."""
    return model.predict_proba(x) if hasattr(model, "predict_proba") else np.asarray(model.predict(x))[:, None]


def _in_class_order(model, p: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities in the run's class order (a class absent from training gets 0; several
    labels per example: one probability per label, already in order; a number: its one column)."""
    if p.shape[1] == n_classes and len(getattr(model, "classes_", range(n_classes))) == n_classes:
        return p
    out = np.zeros((len(p), n_classes))
    out[:, model.classes_] = p
    return out


def baseline_for(modality: str):
    return {"text": TextBaseline, "audio": AudioBaseline}.get(modality, PictureBaseline)


def baseline_name(modality: str, y) -> str:
    """The modality's baseline by name: its fit is ridge regression when the targets are numbers."""
    name = baseline_for(modality).name
    return name.replace("logistic regression", "ridge regression") if np.asarray(y).dtype.kind == "f" else name


def predictions(modality: str, train_items, train_y, items, n_classes: int) -> np.ndarray:
    """The modality's baseline fitted on the training examples, its probabilities on `items`."""
    return baseline_for(modality)().fit(train_items, train_y).proba(items, n_classes)


def out_of_fold(modality: str, items, y, folds, n_classes: int) -> np.ndarray:
    """Probabilities of each example from a baseline fitted on the other folds (rows of folds not
    given stay 0)."""
    probs = np.zeros((len(items), n_classes))
    for tr, te in folds:
        probs[te] = predictions(modality, [items[i] for i in tr], [y[i] for i in tr], [items[i] for i in te],
                                n_classes)
    return probs


def named(name: str, probs: np.ndarray, y, thresholds=None, scale: float = 1.0) -> dict:
    """A baseline's result on some examples: its name, scores and which examples it got (wholly)
    right. Several labels per example: decided at `thresholds`, or at thresholds tuned on these
    examples when None — as the model's own are on validation, so both are equally optimistic there."""
    from ftapp import tasks

    task = tasks.of(y)
    if task.kind == tasks.SEVERAL and thresholds is None:
        thresholds = tasks.thresholds(probs, y)
    out = {"name": name, **task.metrics(probs, y, thresholds, scale=scale),
           "correct": task.correct(probs, y, thresholds).tolist()}
    return out if thresholds is None else {**out, "thresholds": list(thresholds)}


