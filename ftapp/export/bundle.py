"""The model folder a user takes away: the model in its standard layout, the model card, the
settings (without file-system paths) — as a zip, or pushed to the Hugging Face Hub."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from ftapp.export.card import model_card, write_confusion_png
from ftapp.export.public import ExportError, public_settings
from ftapp.runs import RunFolder

# Beside the model's own files (listed in its ftapp_model.json when it was saved): its results.
RESULT_FILES = (RunFolder.METRICS, RunFolder.REPORT, RunFolder.TEST_REPORT)
REPO_ID = re.compile(r"[\w.-]+/[\w.-]+|[\w.-]+")


def stage_model(run_dir: str | Path, dest: Path) -> Path:
    """Copy the run's model into `dest` with its card and settings (run bookkeeping stays behind)."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    if not folder.has_model:
        raise ExportError("This run has no saved model to export. Pick a finished run.")
    dest.mkdir(parents=True, exist_ok=True)
    for name in [*(folder.model_meta() or {}).get("files", [RunFolder.MODEL_META]), *RESULT_FILES]:
        source = run_dir / name
        if source.is_dir():
            shutil.copytree(source, dest / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copyfile(source, dest / name)
    (dest / RunFolder.SETTINGS).write_text(json.dumps(public_settings(run_dir), indent=2))
    write_confusion_png(run_dir, dest / "confusion_matrix.png")
    (dest / "README.md").write_text(model_card(run_dir))
    return dest


def zip_folder(folder: Path, out: Path, prefix: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f"{prefix}/{f.relative_to(folder).as_posix()}")
    return out


def export_zip(run_dir: str | Path, dest_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage_model(run_dir, Path(tmp) / "model")
        return zip_folder(staged, Path(dest_dir) / f"ftapp-model-{run_dir.name}.zip", "model")


def check_repo(repo_id: str, token: str) -> tuple[str, str]:
    repo_id = (repo_id or "").strip()
    if not REPO_ID.fullmatch(repo_id):
        raise ExportError("Enter a repository name like 'your-name/my-model'.")
    if not (token or "").strip():
        raise ExportError("Enter a Hugging Face access token with write permission.")
    return repo_id, token.strip()


def upload(folder: Path, repo_id: str, token: str, repo_type: str, message: str, **create) -> str:
    """Create (or reuse) a repository and upload a folder into it. The token is used for this call
    only: never stored or logged, and removed from any error shown."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, exist_ok=True, **create).repo_id
        api.upload_folder(folder_path=str(folder), repo_id=url, repo_type=repo_type, commit_message=message)
    except Exception as exc:  # noqa: BLE001 — network/auth errors of every kind become one message
        reason = str(exc).replace(token, "***").splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ExportError(f"Could not push to the Hugging Face Hub ({reason}). Check the token, "
                          "the repository name and the internet connection.") from None
    return url


def push_to_hub(run_dir: str | Path, repo_id: str, token: str) -> str:
    """Push as the owner of `token`."""
    repo_id, token = check_repo(repo_id, token)
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage_model(Path(run_dir), Path(tmp) / "model")
        url = upload(staged, repo_id, token, "model", "Upload model fine-tuned with ftapp")
    RunFolder(run_dir).write(RunFolder.PUBLISHED, {**(RunFolder(run_dir).read(RunFolder.PUBLISHED) or {}),
                                                   "model": url})
    return f"https://huggingface.co/{url}"
