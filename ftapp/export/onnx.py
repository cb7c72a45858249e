"""ONNX export: the model as one graph (dynamic batch and sequence axes), the preprocessing it needs
beside it, and a check with onnxruntime on the run's validation examples (same top-1,
probabilities within 1e-3) that is recorded with the export and refuses a graph that differs.
Beside it, an int8 copy (onnxruntime's dynamic quantisation of the weights): its size, speed and
agreement with the model are measured on the same examples and recorded, never assumed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from ftapp.export.public import ExportError
from ftapp.files import ONNX_CHECK, ONNX_INT8, ONNX_MODEL, ONNX_PREPROCESSING
from ftapp.runs import RunFolder
from ftapp.tasks import NUMBER, SEVERAL, TASKS

TOLERANCE = 1e-3


class _Logits(torch.nn.Module):
    """The classifier behind plain tensor inputs and one tensor output (what ONNX exports)."""

    def __init__(self, clf):
        super().__init__()
        self.clf = clf
        self.model = clf.model

    def forward(self, *inputs):
        return self.clf.forward(dict(zip(input_names(self.clf), inputs))).float()


def input_names(clf) -> list[str]:
    """The graph's inputs: token ids and mask, pixels, or a recording's features (Whisper: a log-mel
    spectrogram, `input_features`)."""
    return {"text": ["input_ids", "attention_mask"], "audio": [getattr(clf.preprocess, "key", "")]}.get(
        clf.modality, ["pixel_values"])


def _examples(run_dir: Path, clf) -> list:
    """The validation examples the run kept (texts, or pictures and recordings copied into the run folder)."""
    report = RunFolder(run_dir).report() or {}
    items = [e["item"] for e in report.get("examples") or []]
    if clf.modality != "text":
        items = [str(run_dir / i) for i in items if (run_dir / i).is_file()]
    return items or (["an example text", "another, longer example text to check the export"]
                     if clf.modality == "text" else [])


def _export_graph(module, inputs: tuple, names: list[str], path: Path) -> None:
    text = names[0] == "input_ids"   # only texts vary in length; pictures and recordings have one shape
    dynamic = {n: {0: "batch", 1: "sequence"} if text else {0: "batch"} for n in names}
    dynamic["logits"] = {0: "batch"}
    try:   # the current (dynamo) exporter first; the TorchScript one where it cannot trace a model
        shapes = {n: {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")} if text
                  else {0: torch.export.Dim("batch")} for n in names}
        torch.onnx.export(module, inputs, str(path), input_names=names, output_names=["logits"], dynamo=True,
                          dynamic_shapes=(tuple(shapes[n] for n in names),), external_data=False, verbose=False,
                          report=False)
    except Exception:  # noqa: BLE001 — any failure of the new exporter: the proven one
        torch.onnx.export(module, inputs, str(path), input_names=names, output_names=["logits"], dynamo=False,
                          dynamic_axes=dynamic, opset_version=17)


def export_onnx(run_dir: str | Path, out: str | Path) -> Path:
    """Writes OUT/model.onnx, OUT/preprocessing.json (+ tokenizer files), OUT/onnx_check.json.
    Raises ExportError when onnxruntime's predictions differ from ftapp's."""
    import onnxruntime

    from ftapp.export.card import onnx_usage
    from ftapp.models import load_trained

    run_dir, out = Path(run_dir), Path(out)
    if not RunFolder(run_dir).has_model:
        raise ExportError("This run has no saved model to export. Pick a finished run.")
    clf = load_trained(run_dir)
    clf.model.eval()
    out.mkdir(parents=True, exist_ok=True)
    items = _examples(run_dir, clf)
    if not items:
        raise ExportError("This run kept no validation examples to check the ONNX export against.")
    encoded = clf.preprocess.encode(items)
    batch = clf.preprocess.collate(encoded)
    names = input_names(clf)
    inputs = tuple(batch[n] for n in names)
    _export_graph(_Logits(clf).eval(), inputs, names, out / ONNX_MODEL)

    several = clf.task == SEVERAL
    pre = {"labels": clf.labels, "modality": clf.modality, "unsure_below": clf.unsure_below}
    if several:   # a sigmoid per label, each label at its own threshold
        pre.update(task=clf.task, thresholds=clf.thresholds)
    if clf.modality == "text":
        clf.preprocess.tokenizer.save_pretrained(out)
        pre.update(max_length=clf.preprocess.max_length, padding="right, with attention_mask")
    elif clf.modality == "audio":   # the feature extractor's settings sit beside it (preprocessor_config.json)
        clf.preprocess.hf_processor.save_pretrained(out)
        spec = clf.preprocess.spec
        pre.update(sampling_rate=spec.sampling_rate, seconds=spec.seconds, input=names[0],
                   features="mono, resampled to sampling_rate, cut or zero-padded to seconds, then the feature "
                            "extractor of preprocessor_config.json (transformers' AutoFeatureExtractor)")
    else:
        spec = clf.preprocess.spec
        pre.update(size=spec.size, mean=list(spec.mean), std=list(spec.std),
                   resize="squash to size x size, bilinear; pixels / 255, then (x - mean) / std, channels first")
    (out / ONNX_PREPROCESSING).write_text(json.dumps(pre, indent=2))

    ours = clf.proba_encoded(encoded).numpy()
    theirs, seconds = _run(out / ONNX_MODEL, clf, encoded, names)
    # a number: the same value within the tolerance relative to its size; classes and labels: the same answers
    tolerance = TOLERANCE * max(1.0, float(np.abs(ours).max())) if clf.task == NUMBER else TOLERANCE
    same = clf.task == NUMBER or (TASKS[clf.task].predicted(ours, clf.thresholds)
                                  == TASKS[clf.task].predicted(theirs, clf.thresholds)).all()
    check = {"examples": len(items), "same_top1": bool(same),
             "agree": "same numbers" if clf.task == NUMBER else "same labels" if several else "same top class",
             "max_probability_difference": float(np.abs(ours - theirs).max()), "tolerance": tolerance,
             "onnxruntime": onnxruntime.__version__}
    check["ok"] = check["same_top1"] and check["max_probability_difference"] <= tolerance
    if not check["ok"]:
        (out / ONNX_CHECK).write_text(json.dumps(check, indent=2))
        raise ExportError(f"The ONNX model does not predict what the trained model predicts (largest difference "
                          f"{check['max_probability_difference']:.2g}). The zip export is unaffected.")
    check["int8"] = _int8(out, clf, encoded, names, ours, seconds)
    (out / ONNX_CHECK).write_text(json.dumps(check, indent=2))
    number = clf.task == NUMBER
    agree = ("values within" if number else f"same {'labels' if several else 'top class'}, probabilities within")
    (out / "README.md").write_text(f"# ONNX export\n\nChecked with onnxruntime on {len(items)} validation examples: "
                                   f"{agree} {tolerance:g} ({ONNX_CHECK}).\n\n{int8_line(check['int8'])}\n\n"
                                   + "\n".join(onnx_usage(clf.modality, ".", several, number)))
    return out


def int8_line(int8: dict) -> str:
    """The int8 copy in one sentence, from its measurements."""
    if "error" in int8:
        return f"No int8 copy: onnxruntime could not quantise this graph ({int8['error']})."
    if "none" in int8:
        return f"No int8 copy: {int8['none']}."
    agree = (f"numbers within {int8['max_probability_difference']:.2g} of the model's" if int8["same_answers"] is None
             else f"the model's answer on {100 * int8['same_answers']:.0f} % of them (largest probability difference "
                  f"{int8['max_probability_difference']:.2g})")
    return (f"`{int8['file']}` is the same graph with int8 matrix weights: {int8['megabytes']:g} MB instead of "
            f"{int8['megabytes_full']:g} MB, {int8['time_vs_full']:g}× the time on these examples, {agree}. Load "
            "it in place of `model.onnx` where size or speed matters more than that difference.")


def _run(path: Path, clf, encoded: list, names: list[str]) -> tuple[np.ndarray, float]:
    """onnxruntime's answers (probabilities, or the number) on the examples, and the seconds it took."""
    import time

    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out, started = [], time.perf_counter()
    for i in range(0, len(encoded), 16):      # several batch sizes and lengths: the axes are dynamic
        b = clf.preprocess.collate(encoded[i: i + 16])
        logits = session.run(None, {n: b[n].numpy() for n in names})[0]
        out.append(TASKS[clf.task].probs(logits).numpy())
    return np.concatenate(out), time.perf_counter() - started


def _int8(out: Path, clf, encoded: list, names: list[str], ours: np.ndarray, fp32_seconds: float) -> dict:
    """The int8 copy and what it costs: size, time on the examples against the full-precision graph,
    and how often it gives the model's answer. A model it cannot quantise gets the reason instead."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        # matrix products only: int8 convolutions (ConvInteger) ran 12× slower on this CPU and moved an
        # EfficientNet's numbers by hundreds of units; transformers' weights are nearly all matrices
        quantize_dynamic(str(out / ONNX_MODEL), str(out / ONNX_INT8), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
        theirs, seconds = _run(out / ONNX_INT8, clf, encoded, names)
    except Exception as exc:  # noqa: BLE001 — the full-precision export stands on its own
        (out / ONNX_INT8).unlink(missing_ok=True)
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else type(exc).__name__}
    full, small = (out / ONNX_MODEL).stat().st_size, (out / ONNX_INT8).stat().st_size
    if small > 0.9 * full:   # weights mostly in convolutions (pictures' nets): nothing worth a second file
        (out / ONNX_INT8).unlink()
        return {"none": f"int8 matrix weights would make the file only {100 * (1 - small / full):.0f} % smaller "
                        "(most of its weights are embeddings or convolutions, which this int8 copy leaves as they are)"}
    task = TASKS[clf.task]
    same = None if clf.task == NUMBER else (task.predicted(ours, clf.thresholds) == task.predicted(theirs, clf.thresholds))
    return {"file": ONNX_INT8, "megabytes": round((out / ONNX_INT8).stat().st_size / 2**20, 2),
            "megabytes_full": round((out / ONNX_MODEL).stat().st_size / 2**20, 2),
            "time_vs_full": round(seconds / max(fp32_seconds, 1e-9), 2),
            # a number is never exactly the same: its largest difference (in its own unit) says it
            "same_answers": None if same is None else round(float(same.reshape(len(same), -1).all(1).mean()), 4),
            "max_probability_difference": float(np.abs(ours - theirs).max())}


def zip_onnx(run_dir: str | Path, dest_dir: str | Path) -> Path:
    """The ONNX export as one zip (for the app's download button)."""
    import tempfile

    from ftapp.export.bundle import zip_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = export_onnx(run_dir, Path(tmp) / "onnx")
        out = Path(dest_dir) / f"ftapp-onnx-{Path(run_dir).name}.zip"
        zip_folder(folder, out, "onnx")
        shutil.rmtree(folder, ignore_errors=True)
        return out
