"""What the frozen-layers slider shows: block count, names and trainable parameters for each k."""
from __future__ import annotations

import functools

from ftapp.models.loading import load_pretrained
from ftapp.train.config import default_frozen_layers


@functools.lru_cache(maxsize=8)
def freezing_options(name: str, modality: str, allow_local_paths: bool = True) -> dict:
    """Loads the model once per name (cached) with a two-class head; raises ModelError."""
    clf = load_pretrained(name, ["a", "b"], modality=modality, allow_local_paths=allow_local_paths)
    trainable = []
    for k in range(clf.n_blocks + 1):
        clf.freeze(k)
        trainable.append(clf.param_counts()[0])
    return {"n_blocks": clf.n_blocks, "block_names": clf.layout.block_names,
            "default_frozen": default_frozen_layers(clf.n_blocks, clf.modality),
            "total_params": clf.param_counts()[1], "trainable_params": trainable,
            "modality": clf.modality}
