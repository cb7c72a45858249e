"""What the frozen-layers slider shows: block count, names and trainable parameters for each k."""
from __future__ import annotations

import threading
from collections import OrderedDict

from ftapp.models.catalog import default_frozen_layers, looks_like_local_path

_CACHE: "OrderedDict[tuple, dict]" = OrderedDict()
_TOKENIZERS: dict = {}          # the text models' tokenizers, beside their options (same keys)
_LOCK = threading.Lock()
_MAX = 16


def cached_freezing_options(name: str, modality: str | None) -> dict | None:
    """The options of a model already inspected, or None. Never loads a model (slider moves)."""
    with _LOCK:
        opts = _CACHE.get((name, modality))
        if opts is not None:
            _CACHE.move_to_end((name, modality))
        return opts


def freezing_options(name: str, modality: str | None, allow_local_paths: bool = True) -> dict:
    """Loads the model once per name (then cached) with a two-class head; raises ModelError."""
    from ftapp.models.loading import load_pretrained

    hit = cached_freezing_options(name, modality)
    if hit is not None and (allow_local_paths or not looks_like_local_path(name)):
        return hit
    clf = load_pretrained(name, ["a", "b"], modality=modality, allow_local_paths=allow_local_paths)
    trainable = []
    for k in range(clf.n_blocks + 1):
        clf.freeze(k)
        trainable.append(clf.param_counts()[0])
    opts = {"n_blocks": clf.n_blocks, "block_names": clf.layout.block_names,
            "default_frozen": default_frozen_layers(clf.n_blocks, clf.modality),
            "total_params": clf.param_counts()[1], "trainable_params": trainable, "modality": clf.modality}
    with _LOCK:
        _CACHE[(name, modality)] = opts
        if clf.modality == "text":
            _TOKENIZERS[(name, modality)] = clf.preprocess.tokenizer
        while len(_CACHE) > _MAX:
            _TOKENIZERS.pop(_CACHE.popitem(last=False)[0], None)
    return opts


def language_check(name: str, modality: str | None, texts: list[str]) -> str | None:
    """The tokenizer-fit warning for texts with a model already inspected (None: fine or unknown)."""
    from ftapp.models.fit import language_warning, tokenizer_fit

    tokenizer = _TOKENIZERS.get((name, modality))
    if tokenizer is None or not texts:
        return None
    return language_warning(name, tokenizer_fit(tokenizer, texts))
