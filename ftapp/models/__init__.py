"""Model catalog, loading, block layout, freezing and LoRA. No Gradio here."""
from ftapp.models.catalog import BUNDLED_IMAGE, BUNDLED_TEXT, CATALOG, ModelSpec, default_model, find_spec, models_for
from ftapp.models.classifier import Classifier
from ftapp.models.loading import ModelError, load_pretrained, load_trained

__all__ = ["BUNDLED_IMAGE", "BUNDLED_TEXT", "CATALOG", "Classifier", "ModelError", "ModelSpec",
           "default_model", "find_spec", "load_pretrained", "load_trained", "models_for"]
