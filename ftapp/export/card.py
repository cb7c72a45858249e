"""The model card (README.md of an exported model): what the model does, the data it learned
from, its results beside the baselines — named for what they are —, the settings, its limits in
plain words, and how to load it with snippets that run as written."""
from __future__ import annotations

import html
import re
from pathlib import Path

from ftapp.data.audio import MODEL_RATE as AUDIO_RATE   # what the audio models hear
from ftapp.data.report import examples_noun
from ftapp.export.public import public_name, public_settings
from ftapp.models.catalog import looks_like_local_path
from ftapp.files import ONNX_MODEL, ONNX_PREPROCESSING
from ftapp.runs import Kept, RunFolder
from ftapp.tasks import is_number, is_several, named_score

LIBRARY = {"transformers": "transformers", "sentence": "setfit", "timm": "timm"}


def safe(text) -> str:
    """User-typed text (labels, file names) shown in Markdown/HTML: escape it so it stays text."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", html.escape(str(text), quote=False))


def _num(v) -> str:
    return "no examples" if v is None else f"{v:.3f}"


def _results(title: str, report: dict, what: str) -> list[str]:
    ci = report.get("interval") or {}

    def within(key: str) -> str:
        return f" (95 % interval {ci[key][0]:.3f}–{ci[key][1]:.3f})" if ci.get(key) else ""
    several = is_several(report)
    lines = [f"## {title}", "", what, ""]
    if is_number(report):
        return lines + [f"- R²: {report['r2']:.3f}{within('r2')}", f"- Spearman's rank correlation: {report['spearman']:.3f}",
                        f"- Mean absolute error: {report['mae']:.4g}{within('mae')}", f"- RMSE: {report['rmse']:.4g}",
                        f"- Examples: {report['n']}"] + [
            f"- Baseline, {safe(b['name'])}: R² {b['r2']:.3f}, MAE {b['mae']:.4g}"
            for key, b in (report.get("baselines") or {}).items() if key != "headline" and isinstance(b, dict)
            and "r2" in b] + [""]
    if several:
        lines += [f"- Micro F1: {report['micro_f1']:.3f}{within('micro_f1')} (every label decision counted together)",
                  f"- Macro F1: {report['macro_f1']:.3f}",
                  f"- Every label right: {report['subset_accuracy']:.3f} of the examples", f"- Examples: {report['n']}"]
    else:
        lines += [f"- Accuracy: {report['accuracy']:.3f}{within('accuracy')}",
                  f"- Macro F1: {report['macro_f1']:.3f}{within('macro_f1')}",
                  f"- Balanced accuracy: {report.get('balanced_accuracy', 0):.3f}", f"- Examples: {report['n']}"]
    for key, b in (report.get("baselines") or {}).items():
        name, score = named_score(b) if isinstance(b, dict) else ("", None)
        if key != "headline" and score is not None:
            lines.append(f"- Baseline, {safe(b['name'])}: {name} {score:.3f}, macro F1 {b['macro_f1']:.3f}")
    if several:
        lines += ["", "| label | threshold | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
        lines += [f"| {safe(c['label'])} | {c['threshold']:.3f} | {_num(c['precision'])} | {_num(c['recall'])} | "
                  f"{_num(c['f1'])} | {c['support']} |" for c in report["per_label"]]
        return lines + [""]
    lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {safe(c['label'])} | {_num(c['precision'])} | {_num(c['recall'])} | {_num(c['f1'])} | "
              f"{c['support']} |" for c in report["per_class"]]
    return lines + [""]


def usage(kind: str, modality: str, folder: str = "model", several: bool = False, number: bool = False) -> list[str]:
    """How to load the model folder without ftapp (the tests run these snippets as written).
    `several`: several labels per example, each at its threshold from ftapp_model.json."""
    example = {"text": "\"a text to classify\"", "audio": "clip"}.get(modality, "\"picture.jpg\"")
    if kind == "sentence" and number:
        return ["```python", "from setfit import SetFitModel", "",
                f"model = SetFitModel.from_pretrained(\"{folder}\")",
                "print(float(model.predict([\"a text to classify\"])[0]))", "```"]
    if kind == "sentence":
        if several:
            return ["```python", "import json", "from setfit import SetFitModel", "",
                    f"model = SetFitModel.from_pretrained(\"{folder}\")",
                    f"meta = json.load(open(\"{folder}/ftapp_model.json\"))",
                    "p = model.predict_proba([\"a text to classify\"])[0]",
                    "print([l for l, s, t in zip(meta[\"labels\"], p, meta[\"thresholds\"]) if s >= t])", "```"]
        return ["```python", "from setfit import SetFitModel", "",
                f"model = SetFitModel.from_pretrained(\"{folder}\")",
                "print(model.predict([\"a text to classify\"]))", "```"]
    task = PIPELINE_TASKS[modality]
    if number:    # problem_type "regression" in config.json: the score is the number itself
        lines = ["```python", "from transformers import pipeline", "",
                 f"predict = pipeline(\"{task}\", model=\"{folder}\")", f"print(predict([{example}])[0][\"score\"])",
                 "```"]
    elif several:   # a sigmoid per label (problem_type in config.json), each label at its own threshold
        lines = ["```python", "import json", "from transformers import pipeline", "",
                 f"classify = pipeline(\"{task}\", model=\"{folder}\", top_k=None)",
                 f"meta = json.load(open(\"{folder}/ftapp_model.json\"))",
                 "cut = dict(zip(meta[\"labels\"], meta[\"thresholds\"]))",
                 f"print([s[\"label\"] for s in classify([{example}])[0] if s[\"score\"] >= cut[s[\"label\"]]])",
                 "```"]
    else:
        lines = ["```python", "from transformers import pipeline", "",
                 f"classify = pipeline(\"{task}\", model=\"{folder}\")", f"print(classify({example}))", "```"]
    if modality == "audio":   # the pipeline opens files through ffmpeg and resamples through torchaudio: hand it samples
        lines[1:1] = [*AUDIO_CLIP, f"clip = {{\"raw\": x, \"sampling_rate\": {AUDIO_RATE}}}"]
    if kind == "timm":
        lines += ["", "or with timm itself:", "", "```python", "import timm", "",
                  f"model = timm.create_model(\"local-dir:{folder}\", pretrained=True).eval()", "```"]
    return lines


# the ONNX snippets' last lines: probabilities, and "not sure" under the threshold chosen on validation
ANSWER = ["p = np.exp(logits[0] - logits[0].max()); p /= p.sum()",
          "print(pre[\"labels\"][int(p.argmax())] if p.max() >= pre[\"unsure_below\"] else \"not sure\")"]
# several labels per example: a sigmoid per label, each at its own threshold
LABELS = ["p = 1 / (1 + np.exp(-logits[0]))",
          "print([l for l, s, t in zip(pre[\"labels\"], p, pre[\"thresholds\"]) if s >= t])"]
NUMBER = ["print(float(logits[0][0]))"]   # a number per example: the output is the number, in the target's unit


PIPELINE_TASKS = {"text": "text-classification", "image": "image-classification", "audio": "audio-classification"}
# a recording as the models hear it: mono, resampled (soundfile + scipy; no ffmpeg or torchaudio needed)
AUDIO_CLIP = ["import soundfile as sf", "from scipy.signal import resample_poly", "",
              "x, rate = sf.read(\"clip.wav\", dtype=\"float32\")", "x = x.mean(axis=1) if x.ndim == 2 else x",
              f"x = resample_poly(x, {AUDIO_RATE}, rate).astype(\"float32\")"]


def onnx_usage(modality: str, folder: str = "onnx", several: bool = False, number: bool = False) -> list[str]:
    answer = NUMBER if number else LABELS if several else ANSWER
    if modality == "audio":
        return ["```python", "import json, numpy as np, onnxruntime", "from transformers import AutoFeatureExtractor",
                *AUDIO_CLIP, "",
                f"pre = json.load(open(\"{folder}/{ONNX_PREPROCESSING}\"))",
                f"extract = AutoFeatureExtractor.from_pretrained(\"{folder}\")",
                "n = int(pre[\"seconds\"] * pre[\"sampling_rate\"])",
                "x = np.pad(x[:n], (0, max(0, n - len(x))))",
                "features = extract(x, sampling_rate=pre[\"sampling_rate\"], return_tensors=\"np\")[pre[\"input\"]]",
                f"session = onnxruntime.InferenceSession(\"{folder}/{ONNX_MODEL}\")",
                "logits = session.run(None, {pre[\"input\"]: features.astype(np.float32)})[0]",
                *answer, "```"]
    if modality == "text":
        return ["```python", "import json, numpy as np, onnxruntime", "from tokenizers import Tokenizer", "",
                f"pre = json.load(open(\"{folder}/{ONNX_PREPROCESSING}\"))",
                f"tokenizer = Tokenizer.from_file(\"{folder}/tokenizer.json\")",
                "tokenizer.enable_truncation(pre[\"max_length\"])",
                f"session = onnxruntime.InferenceSession(\"{folder}/{ONNX_MODEL}\")",
                "enc = tokenizer.encode(\"a text to classify\")",
                "logits = session.run(None, {\"input_ids\": np.array([enc.ids]), "
                "\"attention_mask\": np.array([enc.attention_mask])})[0]",
                *answer, "```"]
    return ["```python", "import json, numpy as np, onnxruntime", "from PIL import Image", "",
            f"pre = json.load(open(\"{folder}/{ONNX_PREPROCESSING}\"))",
            f"session = onnxruntime.InferenceSession(\"{folder}/{ONNX_MODEL}\")",
            "img = Image.open(\"picture.jpg\").convert(\"RGB\").resize((pre[\"size\"], pre[\"size\"]), Image.BILINEAR)",
            "x = (np.asarray(img, dtype=np.float32) / 255 - pre[\"mean\"]) / pre[\"std\"]",
            "logits = session.run(None, {\"pixel_values\": x.transpose(2, 0, 1)[None].astype(np.float32)})[0]",
            *answer, "```"]


def _data_lines(folder: RunFolder, settings: dict, meta: dict) -> list[str]:
    data = folder.read(RunFolder.DATA_REPORT) or {}
    counts = (data.get("train") or {}).get("class_counts") or {}
    status = folder.read(RunFolder.STATUS) or {}
    info = status.get("info") or {}
    lines = ["## Data", ""]
    if settings.get("data_name"):
        lines.append(f"From {safe(settings['data_name'])}: {sum(counts.values())} labelled "
                     f"{examples_noun(meta['modality'])} in {len(counts)} classes "
                     f"({', '.join(f'{safe(c)} {n}' for c, n in sorted(counts.items(), key=lambda kv: -kv[1])[:30])}"
                     f"{', …' if len(counts) > 30 else ''}).")
    if info.get("n_train") is not None:
        lines.append(f"Split: {info['n_train']} for training, {info.get('n_val', 0)} for validation"
                     + (f", {info['n_test']} held out for the test" if info.get("n_test") else "")
                     + "; identical examples were always kept on one side.")
    return lines + [""]


def _unsure(meta: dict, report: dict) -> str:
    """The "not sure" threshold saved with the model (ftapp_model.json's `unsure_below`) and how to apply it."""
    t, u = float(meta.get("unsure_below") or 0.0), (report or {}).get("unsure") or {}
    if not t:
        return ("On its validation examples, answering every time did better than any confidence threshold "
                "(`unsure_below` is 0 in ftapp_model.json).")
    return (f"Treat an answer under **{t:.0%}** confidence as \"not sure\" (`unsure_below` in ftapp_model.json; "
            f"`top = classify(item)[0]; answer = top[\"label\"] if top[\"score\"] >= {t} else \"not sure\"`): "
            f"chosen on validation, where answers under it were more often wrong than right; there it answered "
            f"{u.get('coverage', 0):.0%} of the examples, {(u.get('accuracy') or 0):.0%} of those right.")


def _limits(meta: dict, report: dict, test: dict | None) -> list[str]:
    thing = examples_noun(meta["modality"], 1)
    use = (f"- It predicts a number from a {thing}, within the range it learned from; on validation 90 % of the "
           "true values lay within `residual_interval` (ftapp_model.json) of its prediction." if is_number(meta) else
           f"- It says yes or no to each of the {len(meta['labels'])} labels above, each at its own threshold (chosen on "
           "validation where that label's F1 was best; `thresholds` in ftapp_model.json), and knows no others."
           if is_several(meta) else
           f"- It sorts a {thing} into one of the {len(meta['labels'])} classes above, and only those: it gives one "
           f"of them even to a {thing} that belongs to none, so check its confidence. " + _unsure(meta, report))
    hears = meta.get("audio") or {}
    if hears:   # what the model hears of a recording
        seconds = f"{hears['seconds']:g} second" + ("" if hears["seconds"] == 1 else "s")
        use += (f"\n- It hears the first {seconds} of a recording, mixed to mono and resampled to "
                f"{hears['sampling_rate']:,} Hz; longer recordings are cut, shorter ones padded with silence.")
    lines = ["## Intended use and limitations", "", use,
             f"- It learned from the examples described under Data; {thing}s unlike them ("
             + {"text": "another source, language, style or time", "recording": "another microphone, room, "
                "speaker or time"}.get(thing, "another camera, light, place or time")
             + ") can be sorted worse than the numbers below suggest."]
    shown = test or report or {}
    weak = [c for c in (shown.get("per_class") or shown.get("per_label") or []) if c.get("f1") is not None
            and c["f1"] < 0.7]
    if weak:
        lines.append("- Weaker classes: " + ", ".join(f"{safe(c['label'])} (F1 {c['f1']:.2f})" for c in weak[:8]) +
                     ". Decisions about them deserve a second look.")
    if not test:
        lines.append("- There was too little data to hold out a test set that nothing was chosen on, so the "
                     "numbers below are somewhat optimistic.")
    lines.append("- Use it to help people sort and triage, not to make decisions about people on its own.")
    return lines + [""]


def _class_edits(label_map: dict | None, merged_similar: bool, shown: int = 40) -> list[str]:
    """The recorded class edits: the labels in the data, and the class each became."""
    if not label_map:
        return []
    lines = ["## Class edits", "", "The labels in the data were edited before training (the file itself was not):"
             + (" labels that differ only in case or spaces were merged." if merged_similar else ""), "",
             "| label in the data | class |", "|---|---|"]
    items = sorted(label_map.items())
    lines += [f"| {safe(old)} | {safe(new) if new is not None else '*(left out)*'} |" for old, new in items[:shown]]
    if len(items) > shown:
        lines.append(f"| … {len(items) - shown} more | (settings.json) |")
    return lines + ["", "Apply the same mapping to new labelled data before scoring it (`ftapp evaluate` does).", ""]


def model_card(run_dir: Path) -> str:
    settings = public_settings(run_dir)
    folder = RunFolder(run_dir)
    report = folder.report() or {}
    test = folder.read(RunFolder.TEST_REPORT)
    meta = folder.model_meta()
    metrics = folder.metrics() or {}
    published = folder.read(RunFolder.PUBLISHED) or {}
    task = PIPELINE_TASKS[meta["modality"]]
    source = public_name(meta["source"])
    front = ["---", f"pipeline_tag: {task}", f"library_name: {LIBRARY[meta['kind']]}", "tags: [ftapp, fine-tuned]"]
    if "/" in source and not looks_like_local_path(meta["source"]):
        front.append(f"base_model: {source}")
    several, number = is_several(meta), is_number(meta)
    what = (f"to predict a number from each {meta['modality']}" if number else
            f"to give each {meta['modality']} any of {len(meta['labels'])} labels (several may apply, each decided at "
            f"its own threshold, in ftapp_model.json)" if several else
            f"to sort {meta['modality']} into {len(meta['labels'])} classes")
    lines = front + ["---", "", f"# Fine-tuned {safe(source)}", "",
                     f"Fine-tuned with ftapp {what}" + ("." if number else ": " + ", ".join(safe(l) for l in meta["labels"])
                                                        + "."), ""]
    if published:
        lines += [f"- {what.capitalize()}: https://huggingface.co/{'spaces/' if what == 'space' else ''}{repo}"
                  for what, repo in sorted(published.items())] + [""]
    lines += _data_lines(folder, settings, meta)
    if metrics.get("chosen") == Kept.FIRST_MODEL:
        lines += ["The kept model is the pre-trained network with all its blocks frozen and a logistic-regression "
                  "head on its features: it beat fine-tuning on the data that chose.", ""]
    if test:
        lines += _results("Test results", test, "On a held-out slice of the data that nothing was chosen on.")
    if report:
        what = ("Out-of-fold predictions of a cross-validation on all the examples (they also chose the method "
                "and the length: somewhat optimistic)." if report.get("cross_validated") else
                "On the validation split, which chose the checkpoint and the settings (somewhat optimistic).")
        lines += _results("Validation results", report, what)
    shown = test or report
    if shown and shown.get("confusion_matrix"):   # several labels per example: no one-answer matrix
        labels = [safe(l) for l in shown["labels"]]
        lines += [f"### Confusion matrix, {'test' if test else 'validation'} (rows: true class, columns: predicted)",
                  "", "![confusion matrix](confusion_matrix.png)", ""]
        if len(labels) <= 30:
            lines += ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
            lines += [f"| **{labels[i]}** | " + " | ".join(str(v) for v in row) + " |"
                      for i, row in enumerate(shown["confusion_matrix"])] + [""]
    if metrics.get("baseline_note"):
        lines += [f"**{safe(metrics['baseline_note'])}**", ""]
    lines += _limits(meta, report, test)
    lines += _class_edits(settings.get("label_map"), settings.get("merge_similar_labels"))
    values = {k: v for k, v in settings.items() if v is not None and k != "label_map"}
    lines += ["## Training settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {safe(k)} | {safe(v)} |" for k, v in sorted(values.items())]
    lines += ["", "## Use it", "", "This folder loads without ftapp:", ""] + usage(meta["kind"], meta["modality"],
                                                                                   several=several, number=number)
    lines += ["", "The ONNX export (`ftapp export --format onnx`) runs with onnxruntime alone:", ""]
    lines += onnx_usage(meta["modality"], several=several, number=number)
    return "\n".join(lines) + "\n"


def write_confusion_png(run_dir: Path, out: Path, cell: int = 44) -> Path | None:
    """The confusion matrix as a picture for the card (rows true, columns predicted), drawn with
    PIL: plotly's static export would need a browser."""
    from PIL import Image, ImageDraw

    report = RunFolder(run_dir).read(RunFolder.TEST_REPORT) or RunFolder(run_dir).report() or {}
    labels, matrix = report.get("labels") or [], report.get("confusion_matrix") or []
    if not labels or not matrix:
        return None
    n = len(labels)
    cell = max(8, min(cell, 1400 // n))
    left, top = 12 + 7 * min(24, max(len(str(l)) for l in labels)), 34
    img = Image.new("RGB", (left + n * cell + 10, top + n * cell + 10), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 2), "predicted ->", fill=(90, 90, 110))
    draw.text((2, 2), "true", fill=(90, 90, 110))
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, v in enumerate(row):
            share = v / total
            shade = int(255 - 200 * share)
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(shade, shade, 255), outline=(220, 220, 230))
            if cell >= 24:
                draw.text((box[0] + 4, box[1] + cell // 3), str(v), fill="white" if share > 0.6 else "black")
        if cell >= 14:
            draw.text((4, top + i * cell + cell // 3), str(labels[i])[:24], fill="black")
    if cell >= 14:
        for j, label in enumerate(labels):
            draw.text((left + j * cell + 2, 18), str(label)[:max(1, cell // 7)], fill="black")
    img.save(out)
    return out
