"""The models ftapp offers: two bundled offline defaults, then a curated list of Hub ids.

Any other Hub id or local folder that transformers' Auto* classes load works too;
the catalog only decides what the app lists first and how it describes them.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

# Written beside every model ftapp saves (kind, modality, labels, source): how ftapp reloads it.
MODEL_META = "ftapp_model.json"

BUNDLED_TEXT = "all-MiniLM-L6-v2 (bundled)"
BUNDLED_IMAGE = "EfficientNet-Lite0 (bundled)"


@dataclass(frozen=True)
class ModelSpec:
    name: str          # what the user picks; a Hub id for Hub models
    modality: str      # "image" | "text"
    offline: bool      # True when it ships with the app (works with no network)
    description: str   # one line: what it is, size, speed on a laptop CPU

    def to_dict(self) -> dict:
        return asdict(self)


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(BUNDLED_TEXT, "text", True,
              "Small sentence encoder (22M parameters, 6 blocks). Fast on CPU; good for short texts."),
    ModelSpec(BUNDLED_IMAGE, "image", True,
              "Mobile image classifier pre-trained on ImageNet (4.7M parameters, 8 blocks). Fast on CPU."),
    ModelSpec("distilbert-base-uncased", "text", False,
              "English DistilBERT (66M, 6 blocks). About 3x slower than MiniLM; stronger on longer texts."),
    ModelSpec("roberta-base", "text", False,
              "RoBERTa base (125M, 12 blocks). Accurate on English; wants a GPU."),
    ModelSpec("bert-base-multilingual-cased", "text", False,
              "Multilingual BERT (178M, 12 blocks), 104 languages. Wants a GPU."),
    ModelSpec("microsoft/resnet-50", "image", False,
              "ResNet-50 on ImageNet (25M, 5 blocks). Solid all-rounder; slow on CPU."),
    ModelSpec("facebook/convnext-tiny-224", "image", False,
              "ConvNeXt-Tiny on ImageNet (28M, 5 blocks). Accurate; wants a GPU."),
    ModelSpec("google/vit-base-patch16-224-in21k", "image", False,
              "Vision Transformer base on ImageNet-21k (86M, 12 blocks). Wants a GPU."),
)


def models_for(modality: str | None = None) -> list[ModelSpec]:
    """Bundled models first, then the Hub list, filtered to one modality when given."""
    specs = [s for s in CATALOG if modality in (None, s.modality)]
    return sorted(specs, key=lambda s: not s.offline)


def find_spec(name: str) -> ModelSpec | None:
    return next((s for s in CATALOG if s.name == name), None)


def looks_like_local_path(name: str) -> bool:
    """A folder on this disk (or written like one), as opposed to a catalog name or Hub id."""
    name = (name or "").strip()
    return (name.startswith(("/", ".", "~", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", name))
            or os.path.isdir(name))


def default_model(modality: str) -> str:
    return BUNDLED_TEXT if modality == "text" else BUNDLED_IMAGE


def default_frozen_layers(n_blocks: int, modality: str) -> int:
    """What a newcomer gets: keep the early, general-purpose blocks, adapt the later ones.

    Text: freeze the first third (MiniLM: 2 of 6). Images: freeze all but the last two blocks
    (EfficientNet-Lite0: 6 of 8), so training reuses ImageNet features and runs fast on CPU
    thanks to the frozen-prefix cache.
    """
    if n_blocks <= 1:
        return 0
    return n_blocks // 3 if modality == "text" else max(n_blocks - 2, 0)
