"""Who is looking, and where their uploads live.

Every browser gets an owner id: a random token kept in its localStorage (``gr.BrowserState``) so
that a page reload keeps it; ``request.session_hash`` changes on every reload, so it is only the
fallback for API clients. Only the owner can stop a run, and a reload reattaches to the owner's
latest run.

Hosted mode (a public Space): every browser sees only its own runs. Local mode (one person on
their own machine): also every earlier run found on disk at start-up (earlier app sessions, the
history after a restart), but two tabs open at the same time still keep their live runs apart;
local model folders are allowed.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ftapp.ui")

_OWNER_RE = re.compile(r"^(u|api)-[0-9a-f]{32}$")


def hosted() -> bool:
    """True on a public deployment: FTAPP_MODE=hosted, or on Spaces unless FTAPP_MODE=local."""
    mode = os.environ.get("FTAPP_MODE", "").strip().lower()
    if mode == "hosted":
        return True
    if mode == "local":
        return False
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("SYSTEM", "").lower() == "spaces"


def runs_dir() -> Path:
    return Path(os.environ.get("FTAPP_RUNS_DIR") or "./runs")


def new_owner_id() -> str:
    return "u-" + secrets.token_hex(16)


def valid_owner_id(value) -> bool:
    return isinstance(value, str) and bool(_OWNER_RE.match(value))


def api_owner_id(session_hash: str | None) -> str:
    """A stable owner for an API client session (gradio_client keeps one session_hash)."""
    import hashlib

    digest = hashlib.sha256(f"ftapp-api:{session_hash or ''}".encode()).hexdigest()[:32]
    return "api-" + digest


def owner_for(browser_value, session_hash: str | None) -> str:
    """The owner id to file runs under and to filter runs by."""
    if valid_owner_id(browser_value):
        return browser_value
    return api_owner_id(session_hash)


def can_see(run, viewer: str, is_hosted: bool) -> bool:
    """Your own runs; in local mode also the runs of earlier app processes."""
    return run.owner == viewer or (not is_hosted and run.restored)




# ---------------------------------------------------------------------------------------------
# Per-session upload folders
# ---------------------------------------------------------------------------------------------

@dataclass
class SessionData:
    dir: Path
    touched: float = field(default_factory=time.time)
    data: dict | None = None          # what load_data found: path, name, modality, columns, ok …
    closed: bool = False


class SessionFiles:
    """One temp folder per browser/API session for its uploads (never for runs).

    `release` is called from ``demo.unload`` (which also fires on a reload): the folder is removed,
    unless a queued or running run still needs the data in it; `sweep` retries those later.
    """

    def __init__(self, max_sessions: int = 500):
        self._sessions: dict[str, SessionData] = {}
        self._lock = threading.Lock()
        self.max_sessions = max_sessions

    def get(self, session_hash: str | None, create: bool = True) -> SessionData | None:
        key = session_hash or "no-session"
        with self._lock:
            s = self._sessions.get(key)
            if s is None and create:
                s = SessionData(Path(tempfile.mkdtemp(prefix="ftapp-session-")))
                self._sessions[key] = s
            if s is not None:
                s.touched = time.time()
            return s

    def release(self, session_hash: str | None, in_use: set[str] | None = None) -> None:
        with self._lock:
            s = self._sessions.get(session_hash or "no-session")
            if s is not None:
                s.closed = True
        self.sweep(in_use or set())

    def sweep(self, in_use: set[str], max_idle_s: float | None = None) -> None:
        """Remove closed sessions' folders (and the oldest when there are too many, and those idle
        longer than `max_idle_s`) unless an active run still reads data from them."""
        now = time.time()
        with self._lock:
            items = sorted(self._sessions.items(), key=lambda kv: kv[1].touched)
            excess = max(0, len(items) - self.max_sessions)
            doomed = [k for i, (k, s) in enumerate(items)
                      if s.closed or i < excess or (max_idle_s is not None and now - s.touched > max_idle_s)]
            for key in doomed:
                s = self._sessions[key]
                if any(is_inside(p, s.dir) for p in in_use):
                    continue
                del self._sessions[key]
                shutil.rmtree(s.dir, ignore_errors=True)

    def close_all(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                shutil.rmtree(s.dir, ignore_errors=True)
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


def is_inside(path: str, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
