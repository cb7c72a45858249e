"""The run store: one folder per run, plus the live state the UI polls.

Data flows one way: the trainer records events here, the CLI and the UI read them. Recording
appends to an in-memory list and one line of metrics.jsonl, so a slow or absent reader can never
hold the trainer up. Runs found on disk at start-up are listed again; one that was still running
when the process died is marked "interrupted" (its best checkpoint, if saved, stays usable).
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ACTIVE = ("queued", "running")


def atomic_write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


@dataclass
class Run:
    id: str
    dir: Path
    owner: str
    settings: dict
    created: float = field(default_factory=time.time)
    status: str = "queued"          # queued | running | finished | stopped | failed | interrupted
    phase: str = "waiting in queue"
    message: str = ""
    progress: float = 0.0
    eta_seconds: float | None = None
    device: str = ""
    info: dict = field(default_factory=dict)     # block counts, parameter counts, cache use…
    steps: list = field(default_factory=list)    # {"step", "epoch", "loss"}
    epochs: list = field(default_factory=list)   # {"epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1"}
    best: dict = field(default_factory=dict)
    has_model: bool = False
    restored: bool = False          # found on disk at start-up (a run of an earlier app process)
    listeners: list = field(default_factory=list, repr=False)   # callables(kind, data): must be quick
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- written by the trainer --------------------------------------------------------
    def record(self, kind: str, **data) -> None:
        """Store one event and append it to metrics.jsonl. Cheap and never blocks on readers.
        Progress/ETA is transient (derived from the step count) and stays in memory only."""
        with self._lock:
            if kind == "step":
                self.steps.append(data)
            elif kind == "epoch":
                self.epochs.append(data)
            elif kind == "phase":
                self.phase = data["phase"]
            elif kind == "progress":
                self.progress, self.eta_seconds = data["progress"], data.get("eta_seconds")
            elif kind == "info":
                self.info.update(data)
            elif kind == "best":
                self.best = data
            elif kind == "status":
                self.status = data["status"]
                self.message = data.get("message", self.message)
                self.has_model = data.get("has_model", self.has_model)
            line = None if kind == "progress" else json.dumps({"t": round(time.time(), 3), "kind": kind, **data},
                                                              default=str)
        if line is not None:
            try:
                with open(self.dir / "metrics.jsonl", "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass  # a full disk must not kill training; the in-memory history stays complete
        if kind in ("status", "best", "info", "phase"):
            self.save_status()
        for listener in list(self.listeners):
            try:
                listener(kind, data)
            except Exception:  # noqa: BLE001 — a broken reader must never stop training
                self.listeners.remove(listener)

    def save_status(self) -> None:
        try:
            atomic_write_json(self.dir / "status.json", self.summary())
        except OSError:
            pass

    # ---- read by the UI / CLI ------------------------------------------------------------
    def summary(self) -> dict:
        return {"id": self.id, "owner": self.owner, "created": self.created, "status": self.status,
                "phase": self.phase, "message": self.message, "progress": self.progress,
                "eta_seconds": self.eta_seconds, "device": self.device, "info": dict(self.info),
                "best": dict(self.best), "has_model": self.has_model, "model": self.settings.get("model"),
                "data_name": self.settings.get("data_name", "")}

    def snapshot(self) -> dict:
        """A consistent copy of everything a chart needs."""
        with self._lock:
            return {**self.summary(), "steps": list(self.steps), "epochs": list(self.epochs),
                    "settings": dict(self.settings)}

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def new_run(run_dir: str | os.PathLike, settings: dict, owner: str = "local", run_id: str | None = None) -> Run:
    """A run in its own folder (the CLI's --out folder, or one under a RunStore's root)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(run_id or new_run_id(), run_dir, owner, dict(settings))
    atomic_write_json(run_dir / "settings.json", {"id": run.id, "owner": owner,
                                                  "created": run.created, "settings": settings})
    run.save_status()
    return run


class RunStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._load_existing()

    def create(self, settings: dict, owner: str = "local") -> Run:
        run_id = new_run_id()
        run = new_run(self.root / run_id, settings, owner, run_id)
        with self._lock:
            self._runs[run_id] = run
        return run

    def get(self, run_id: str, owner: str | None = None) -> Run | None:
        """The run, or None when it does not exist or belongs to someone else."""
        run = self._runs.get(run_id or "")
        if run is None or (owner is not None and run.owner != owner):
            return None
        return run

    def list(self, owner: str | None = None) -> list[Run]:
        runs = [r for r in self._runs.values() if owner is None or r.owner == owner]
        return sorted(runs, key=lambda r: r.created, reverse=True)

    def _load_existing(self) -> None:
        for settings_file in sorted(self.root.glob("*/settings.json")):
            try:
                run = self._read_run(settings_file.parent)
            except (OSError, ValueError, KeyError):
                continue  # a half-written folder: not a run we can show
            self._runs[run.id] = run

    @staticmethod
    def _read_run(run_dir: Path) -> Run:
        meta = json.loads((run_dir / "settings.json").read_text())
        run = Run(meta["id"], run_dir, meta.get("owner", "local"), meta["settings"], meta.get("created", 0),
                  restored=True)
        status_file = run_dir / "status.json"
        if status_file.exists():
            s = json.loads(status_file.read_text())
            for key in ("status", "phase", "message", "progress", "device", "info", "best", "has_model"):
                if key in s:
                    setattr(run, key, s[key])
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists():
            for line in metrics.read_text().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the last line may be cut off by a crash
                kind = event.pop("kind", None)
                event.pop("t", None)
                if kind == "step":
                    run.steps.append(event)
                elif kind == "epoch":
                    run.epochs.append(event)
        if run.status in ACTIVE:
            run.status = "interrupted"
            run.phase = "interrupted"
            run.message = ("The app stopped while this run was training."
                           + (" Its best model so far was saved and can be used." if run.has_model else ""))
            run.save_status()
        return run
