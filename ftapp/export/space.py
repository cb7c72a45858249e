"""A self-contained demo of one run, as a Hugging Face Space: a short Gradio app that loads the model
with the standard library for it (transformers' pipeline, or SetFit for a sentence model), pinned
requirements, a README with valid Spaces front matter and the model card, the model files, and a
few of the run's own examples. `python DIR/app.py` serves it offline; `publish_space` uploads it."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ftapp.export.bundle import check_repo, stage_model, upload
from ftapp.export.public import ExportError
from ftapp.data.report import examples_noun
from ftapp.export.card import PIPELINE_TASKS, safe
from ftapp.runs import RunFolder
from ftapp.tasks import NUMBER, ONE, SEVERAL

def pinned(name: str) -> str:
    """name==version of the package installed here (what the model was trained and checked with),
    without a local build tag (torch's "+cu130"), so pip on a Space installs the same release."""
    from importlib.metadata import version

    return f"{name}=={version(name).split('+')[0]}"

APP = '''\
"""{title} — a demo made with ftapp. Run it with: python app.py"""
import os
from pathlib import Path

import gradio as gr

HERE = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")   # everything it needs is in this folder

{load}


EXAMPLES = {examples}

{decide}


demo = gr.Interface(
    predict,
    {input},
    [{output}, gr.Markdown(label="Answer")],
    title={title!r},
    description={description!r},
    examples=EXAMPLES,
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
'''

DECIDE = {
    ONE: '''# ftapp chose this on validation: under it, the model's answers there were more often wrong than right
UNSURE_BELOW = {unsure_below}


def predict(item):
    scores = probabilities(item)
    top = max(scores, key=scores.get)
    if scores[top] >= UNSURE_BELOW:
        return scores, f"**Answer: {{top}}** ({{scores[top]:.0%}} sure)"
    return scores, f"**Answer: not sure** (most likely {{top}}, at {{scores[top]:.0%}}: under {{UNSURE_BELOW:.0%}})"''',
    SEVERAL: '''# several labels may apply: ftapp chose each label's threshold on validation (where its F1 was best)
THRESHOLDS = {thresholds}


def predict(item):
    scores = probabilities(item)
    on = [label for label in sorted(scores, key=scores.get, reverse=True) if scores[label] >= THRESHOLDS[label]]
    if on:
        return scores, "**Labels: " + ", ".join(on) + "**"
    return scores, "**No label** reaches its threshold."''',
    NUMBER: '''# on validation, 90 % of the true values lay within this of the prediction
RESIDUALS = {residuals}


def predict(item):
    value = next(iter(probabilities(item).values()))
    return value, f"**Predicted: {{value:.4g}}** (likely between {{value + RESIDUALS[0]:.4g}} and {{value + RESIDUALS[1]:.4g}})"''',
}

LOAD = {
    "pipeline": '''from transformers import pipeline

classify = pipeline("{task}", model=str(HERE / "model"), top_k=None)


def probabilities(item):
    return {{r["label"]: r["score"] for r in classify([item])[0]}}''',
    "audio-pipeline": '''import numpy as np
from scipy.signal import resample_poly
from transformers import pipeline

classify = pipeline("audio-classification", model=str(HERE / "model"), top_k=None)
RATE = classify.feature_extractor.sampling_rate


def probabilities(recording):
    rate, x = recording   # gr.Audio(type="numpy"): the sample rate and the samples (int16 from a microphone)
    x = x.astype(np.float32) / 32768 if x.dtype.kind == "i" else x.astype(np.float32)
    x = resample_poly(x.mean(axis=1) if x.ndim == 2 else x, RATE, rate).astype(np.float32)
    return {{r["label"]: r["score"] for r in classify({{"raw": x, "sampling_rate": RATE}})}}''',
    "setfit": '''from setfit import SetFitModel

model = SetFitModel.from_pretrained(str(HERE / "model"))


def probabilities(text):
    probs = model.predict_proba([text])[0]
    return {{label: float(p) for label, p in zip(model.labels, probs)}}''',
    "setfit-number": '''from setfit import SetFitModel

model = SetFitModel.from_pretrained(str(HERE / "model"))


def probabilities(text):
    return {{"value": float(model.predict([text])[0])}}''',
}


def _requirements(kind: str, modality: str) -> list[str]:
    names = ["gradio", "torch", "transformers"]
    if kind == "sentence":
        names += ["setfit", "sentence-transformers"]
    if kind == "timm":
        names += ["timm"]
    if modality == "image":
        names += ["torchvision", "pillow"]
    if modality == "audio":
        names += ["scipy", "soundfile"]
    return [pinned(n) for n in names]


def _front_matter(title: str, description: str) -> str:
    return "\n".join(["---", f"title: {json.dumps(title)}", "emoji: 🔎", "colorFrom: indigo", "colorTo: blue",
                      "sdk: gradio", f"sdk_version: {pinned('gradio').split('==')[1]}", "app_file: app.py", "pinned: false",
                      f"short_description: {json.dumps(description[:60])}", "---", ""])


def export_space(run_dir: str | Path, out: str | Path) -> Path:
    run_dir, out = Path(run_dir), Path(out)
    folder = RunFolder(run_dir)
    meta = folder.model_meta()
    if meta is None:
        raise ExportError("This run has no saved model to export. Pick a finished run.")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"'{out}' is not empty. Choose a new folder for the demo Space.")
    out.mkdir(parents=True, exist_ok=True)
    stage_model(run_dir, out / "model")
    labels, modality = meta["labels"], meta["modality"]
    examples = (folder.report() or {}).get("examples") or []
    if modality in ("image", "audio"):
        (out / "examples").mkdir()
        shown = []
        for i, e in enumerate(examples[:8]):
            src = run_dir / e["item"]
            if src.is_file():
                dst = out / "examples" / f"{i:02d}-{Path(src).name}"
                shutil.copyfile(src, dst)
                shown.append(f"examples/{dst.name}")
        examples_code = "[[str(HERE / p)] for p in " + repr(shown) + "]"
        input_code = ('gr.Image(type="pil", label="Picture", sources=["upload", "webcam"])' if modality == "image" else
                      'gr.Audio(type="numpy", label="Recording", sources=["upload", "microphone"])')
    else:
        examples_code = repr([[e["item"]] for e in examples[:8]])
        input_code = 'gr.Textbox(lines=4, label="Text")'
    shown_labels = ", ".join(labels[:12]) + ("…" if len(labels) > 12 else "")
    thing = {"audio": "Sound"}.get(modality, examples_noun(modality, 1).capitalize())
    title = f"{thing} classifier: {shown_labels}"[:80]
    things = examples_noun(modality)
    task_kind = meta.get("task", ONE)
    several, number = task_kind == SEVERAL, task_kind == NUMBER
    description = (f"Predicts a number from {things}. Made with ftapp." if number else
                   f"Gives {things} any of {len(labels)} labels (several may apply). Made with ftapp." if several
                   else f"Sorts {things} into {len(labels)} classes. Made with ftapp.")
    if number:
        title = f"{thing} to number"
    decide = DECIDE[task_kind].format(unsure_below=float(meta.get("unsure_below") or 0.0),
                                      thresholds=repr(dict(zip(labels, meta.get("thresholds") or []))),
                                      residuals=repr(meta.get("residual_interval") or [0.0, 0.0]))
    kind = (("setfit-number" if number else "setfit") if meta["kind"] == "sentence" else
            "audio-pipeline" if modality == "audio" else "pipeline")
    output = ('gr.Number(label="Prediction")' if number else
              f'gr.Label(num_top_classes={len(labels) if several else 5}, label="Prediction")')
    task = PIPELINE_TASKS[modality]
    (out / "app.py").write_text(APP.format(title=title, description=description, examples=examples_code,
                                           input=input_code, load=LOAD[kind].format(task=task), decide=decide,
                                           output=output))
    (out / "requirements.txt").write_text("\n".join(_requirements(meta["kind"], modality)) + "\n")
    card = (out / "model" / "README.md").read_text()
    card = card.split("---", 2)[2] if card.startswith("---") else card   # the model's own front matter goes
    (out / "README.md").write_text(_front_matter(title, description) + f"\n# {safe(title)}\n\n"
                                   "A demo of a model fine-tuned with ftapp: try it above. The model folder is "
                                   "`model/`; its card follows.\n" + card)
    return out


def publish_space(run_dir: str | Path, repo_id: str, token: str) -> str:
    """Create or update a Space with the demo (token used for this call only, never stored);
    the run remembers the Space so the model card links it."""
    repo_id, token = check_repo(repo_id, token)
    folder = RunFolder(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_space(run_dir, Path(tmp) / "space")
        url = upload(bundle, repo_id, token, "space", "Demo made with ftapp", space_sdk="gradio")
    folder.write(RunFolder.PUBLISHED, {**(folder.read(RunFolder.PUBLISHED) or {}), "space": url})
    return f"https://huggingface.co/spaces/{url}"
