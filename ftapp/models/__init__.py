"""Model catalog, loading, block layout, freezing and LoRA. No Gradio here.

The catalog is plain data; everything else needs torch and transformers and is imported on
first use, so listing models (the app's first page, `ftapp models`) starts fast.
"""
from ftapp.models.catalog import (BUNDLED_IMAGE, BUNDLED_TEXT, CATALOG, ModelSpec, default_frozen_layers, default_model,
                                  find_spec, models_for)

_LAZY = {"Classifier": "ftapp.models.classifier", "ModelError": "ftapp.models.loading",
         "load_pretrained": "ftapp.models.loading", "load_trained": "ftapp.models.loading"}

__all__ = ["BUNDLED_IMAGE", "BUNDLED_TEXT", "CATALOG", "ModelSpec", "default_frozen_layers", "default_model", "find_spec",
           "models_for",
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ftapp.models' has no attribute {name!r}")
