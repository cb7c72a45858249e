"""What an export may say about a run, and its error: shared by every export format (a leaf: it
imports no other export module)."""
from __future__ import annotations

from pathlib import Path

from ftapp.errors import UserFacingError
from ftapp.models.catalog import looks_like_local_path
from ftapp.runs import RunFolder

# Settings leave the machine without file-system paths (a server's temp folders, a user's disk).
PATH_SETTINGS = ("data", "val_data", "test_data")


class ExportError(UserFacingError):
    """The message is for the user."""


def public_name(model: str) -> str:
    """A Hub id or bundled name as is; a model folder on this disk by its folder name only."""
    return Path(model).name if looks_like_local_path(model) else model


def public_settings(run_dir: Path) -> dict:
    """The settings the run used (the engine's choices included), without file-system paths."""
    settings = RunFolder(run_dir).effective_settings()
    public = {k: v for k, v in settings.items() if k not in PATH_SETTINGS}
    if public.get("model"):
        public["model"] = public_name(public["model"])
    return public
