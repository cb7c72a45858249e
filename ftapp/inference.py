"""Predictions from finished runs. Models stay loaded between calls (small LRU cache)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ftapp.models import Classifier, ModelError, load_trained
from ftapp.runs import RunFolder

_CACHE: "OrderedDict[tuple[str, float], Classifier]" = OrderedDict()
_LOCK = threading.Lock()
_MAX_MODELS = 3


def model_for(run_dir: str | Path) -> Classifier:
    run_dir = Path(run_dir)
    marker = run_dir / RunFolder.MODEL_META
    if not marker.exists():
        raise ModelError("This run has no saved model yet. Pick a finished run.")
    key = (str(run_dir.resolve()), marker.stat().st_mtime)   # a re-saved model is reloaded
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    clf = load_trained(run_dir)
    with _LOCK:
        _CACHE[key] = clf
        while len(_CACHE) > _MAX_MODELS:
            _CACHE.popitem(last=False)
    return clf


def predict_run(run_dir: str | Path, item, top_k: int = 5) -> dict[str, float]:
    """item: a text, an image path or a PIL image. Wrong or missing input gets a plain message."""
    clf = model_for(run_dir)
    _check_input(clf, item)
    try:
        return clf.predict([item], top_k=top_k)[0]
    except ValueError as exc:   # unreadable image: open_image says why in plain words
        raise ModelError(str(exc)) from None


def explain_run(run_dir: str | Path, item, target: str | None = None) -> dict:
    """Why the model says what it says about `item` (ftapp/explain.py): words with weights, or a heatmap."""
    from ftapp.explain import explain

    clf = model_for(run_dir)
    _check_input(clf, item)
    try:
        with _LOCK_EXPLAIN:   # one at a time: each is a burst of forward passes on the shared model
            return explain(clf, item, target)
    except ValueError as exc:
        raise ModelError(str(exc)) from None


_LOCK_EXPLAIN = threading.Lock()


def _check_input(clf, item) -> None:
    if clf.modality == "text":
        if item is not None and not isinstance(item, str):
            raise ModelError("This model reads text: type a sentence.")
        if not (item or "").strip():
            raise ModelError("Type some text first.")
    elif clf.modality == "audio":
        if item is None or item == "":
            raise ModelError("Upload a recording or record one with the microphone first.")
        if isinstance(item, str) and not Path(item).is_file():
            raise ModelError("This model hears recordings: upload a WAV, FLAC, OGG or MP3 file.")
    elif item is None or item == "":
        raise ModelError("Upload a picture or take one with the webcam first.")
    elif isinstance(item, str) and not Path(item).is_file():
        raise ModelError("This model reads images: upload a picture.")
