"""Getting a trained model out: a zip of the run's model folder, or a push to the Hugging Face Hub,
each with a generated model card (settings, metrics, confusion matrix)."""
from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from ftapp.models.catalog import SENTENCE_HEAD, looks_like_local_path
from ftapp.runs import RunFolder

# What belongs in an exported model; run bookkeeping (metrics.jsonl, work files) stays behind.
MODEL_FILES = ("config.json", "model.safetensors", RunFolder.MODEL_META, "preprocessor_config.json",
               "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
               "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model",
               RunFolder.METRICS, RunFolder.REPORT, RunFolder.TEST_REPORT,
               # a sentence model: the sentence-transformers / SetFit layout
               SENTENCE_HEAD, "modules.json", "sentence_bert_config.json", "config_setfit.json", "model_head.pkl")
MODEL_FOLDERS = ("1_Pooling", "2_Normalize")
# Settings leave the machine without file-system paths (a server's temp folders, a user's disk).
PATH_SETTINGS = ("data", "val_data", "test_data")


class ExportError(Exception):
    """The message is for the user."""


def _safe(text) -> str:
    """User-typed text (labels, file names) shown in Markdown/HTML: escape it so it stays text."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", html.escape(str(text), quote=False))


def _public_name(model: str) -> str:
    """A Hub id or bundled name as is; a model folder on this disk by its folder name only."""
    return Path(model).name if looks_like_local_path(model) else model


def _settings(run_dir: Path) -> dict:
    """The settings the run used (the engine's choices included), without file-system paths."""
    settings = RunFolder(run_dir).effective_settings()
    public = {k: v for k, v in settings.items() if k not in PATH_SETTINGS}
    if public.get("model"):
        public["model"] = _public_name(public["model"])
    return public


def _num(v) -> str:
    return "no examples" if v is None else f"{v:.3f}"


def _results(title: str, report: dict, what: str) -> list[str]:
    lines = [f"## {title}", "", what, "",
             f"- Accuracy: {report['accuracy']:.3f}", f"- Macro F1: {report['macro_f1']:.3f}",
             f"- Balanced accuracy: {report.get('balanced_accuracy', 0):.3f}", f"- Examples: {report['n']}"]
    for key, b in (report.get("baselines") or {}).items():
        if key != "headline" and isinstance(b, dict) and "accuracy" in b:
            lines.append(f"- Baseline, {_safe(b['name'])}: accuracy {b['accuracy']:.3f}, macro F1 {b['macro_f1']:.3f}")
    lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {_safe(c['label'])} | {_num(c['precision'])} | {_num(c['recall'])} | {_num(c['f1'])} | "
              f"{c['support']} |" for c in report["per_class"]]
    return lines + [""]


def model_card(run_dir: Path) -> str:
    settings = _settings(run_dir)
    folder = RunFolder(run_dir)
    report = folder.report() or {}
    test = folder.read(RunFolder.TEST_REPORT)
    meta = folder.model_meta()
    task = "text-classification" if meta["modality"] == "text" else "image-classification"
    library = {"transformers": "transformers", "sentence": "setfit", "timm": "timm"}[meta["kind"]]
    lines = ["---", f"pipeline_tag: {task}", f"library_name: {library}",
             "tags: [ftapp, fine-tuned]", "---", "",
             f"# Fine-tuned {_safe(_public_name(meta['source']))}", "",
             f"Fine-tuned with ftapp to sort {meta['modality']} into {len(meta['labels'])} classes: "
             + ", ".join(_safe(l) for l in meta["labels"]) + ".", ""]
    if test:
        lines += _results("Test results", test, "On a held-out slice of the data that nothing was chosen on.")
    if report:
        what = ("Out-of-fold predictions of a cross-validation on all the examples (they also chose the method "
                "and the length: somewhat optimistic)." if report.get("cross_validated") else
                "On the validation split, which chose the checkpoint and the settings (somewhat optimistic).")
        lines += _results("Validation results", report, what)
        labels = [_safe(l) for l in report["labels"]]
        lines += ["### Confusion matrix (rows: true class, columns: predicted)", "",
                  "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [f"| **{labels[i]}** | " + " | ".join(str(v) for v in row) + " |"
                  for i, row in enumerate(report["confusion_matrix"])]
    shown = {k: v for k, v in settings.items() if v is not None}
    lines += ["", "## Training settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {_safe(k)} | {_safe(v)} |" for k, v in sorted(shown.items())]
    if meta["kind"] == "transformers":
        lines += ["", "## Use it", "", "```python", "from transformers import pipeline",
                  f"clf = pipeline(\"{task}\", model=\"path/to/this/folder\")", "```"]
    elif meta["kind"] == "sentence":
        lines += ["", "## Use it", "", "```python", "from setfit import SetFitModel",
                  "model = SetFitModel.from_pretrained(\"path/to/this/folder\")",
                  "model.predict([\"a text to classify\"])", "```"]
    return "\n".join(lines) + "\n"


def _stage(run_dir: Path, dest: Path) -> Path:
    run_dir = Path(run_dir)
    if not RunFolder(run_dir).has_model:
        raise ExportError("This run has no saved model to export. Pick a finished run.")
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, dest / name)
    for name in MODEL_FOLDERS:
        if (run_dir / name).is_dir():
            shutil.copytree(run_dir / name, dest / name, dirs_exist_ok=True)
    settings = _settings(run_dir)
    (dest / RunFolder.SETTINGS).write_text(json.dumps(settings, indent=2))
    (dest / "README.md").write_text(model_card(run_dir))
    return dest


def export_zip(run_dir: str | Path, dest_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        staged = _stage(run_dir, Path(tmp) / "model")
        out = Path(dest_dir) / f"ftapp-model-{run_dir.name}.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(staged.rglob("*")):
                zf.write(f, f"model/{f.relative_to(staged).as_posix()}")
    return out


def push_to_hub(run_dir: str | Path, repo_id: str, token: str) -> str:
    """Push as the owner of `token`. The token is used for this call only: never stored or logged."""
    from huggingface_hub import HfApi

    repo_id = (repo_id or "").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+|[\w.-]+", repo_id):
        raise ExportError("Enter a repository name like 'your-name/my-model'.")
    if not (token or "").strip():
        raise ExportError("Enter a Hugging Face access token with write permission.")
    api = HfApi(token=token.strip())
    with tempfile.TemporaryDirectory() as tmp:
        staged = _stage(Path(run_dir), Path(tmp) / "model")
        try:
            url = api.create_repo(repo_id, exist_ok=True).repo_id
            api.upload_folder(folder_path=str(staged), repo_id=url, commit_message="Upload model fine-tuned with ftapp")
        except Exception as exc:  # noqa: BLE001 — network/auth errors of every kind become one message
            reason = str(exc).replace(token.strip(), "***").splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ExportError(f"Could not push to the Hugging Face Hub ({reason}). Check the token, "
                              "the repository name and the internet connection.") from None
    return f"https://huggingface.co/{url}"
