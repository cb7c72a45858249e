"""Getting a trained model out, in the formats the tools people already have load:

- bundle.py  the model folder (transformers / SetFit / timm layout + model card) as a zip, or
             pushed to the Hugging Face Hub
- onnx.py    an ONNX file + the preprocessing it needs, checked against ftapp with onnxruntime
- space.py   a self-contained Gradio demo (a Hugging Face Space), and publishing it
- card.py    the model card: data, settings, results beside the baselines, how to load it
"""
from ftapp.export.bundle import export_zip, push_to_hub, stage_model
from ftapp.export.card import model_card
from ftapp.export.onnx import export_onnx
from ftapp.export.public import ExportError
from ftapp.export.space import export_space, publish_space

FORMATS = ("zip", "onnx", "space")


def export(run_dir, fmt: str, out):
    """The CLI's and the app's one entry point: `fmt` is zip | onnx | space."""
    if fmt == "zip":
        return export_zip(run_dir, out)
    if fmt == "onnx":
        return export_onnx(run_dir, out)
    if fmt == "space":
        return export_space(run_dir, out)
    raise ExportError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")


__all__ = ["ExportError", "FORMATS", "export", "export_onnx", "export_space", "export_zip", "model_card",
           "publish_space", "push_to_hub", "stage_model"]
