"""The run store: one folder per run, plus the live state the UI polls.

Data flows one way: the trainer records events here, the CLI and the UI read them. Recording
appends to an in-memory list and one line of metrics.jsonl, so a slow or absent reader can never
hold the trainer up. Runs found on disk at start-up are listed again; one that was still running
when the process died is marked "interrupted" (its best checkpoint, if saved, stays usable).

This module owns the run folder: the names of its files, how to read them, the statuses and the
event kinds. Everyone else asks it.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftapp import files
from ftapp.files import WORKER_LOCK, atomic_write_json, read_json


class Status:
    """A run's status."""
    QUEUED, RUNNING = "queued", "running"
    FINISHED, STOPPED, FAILED, INTERRUPTED = "finished", "stopped", "failed", "interrupted"


ACTIVE = (Status.QUEUED, Status.RUNNING)
TERMINAL = (Status.FINISHED, Status.STOPPED, Status.FAILED, Status.INTERRUPTED)


class Candidate:
    """What a run compares ("candidate" events, candidates.json, the Auto table): the first model,
    fine-tuning recipes, and where each stands."""
    FIRST_MODEL = "frozen features + logistic regression"   # the first model's name (the linear probe)
    FIRST = "first model"          # the first model's status
    TRAINING = "training"          # a recipe being tried
    DROPPED = "dropped"            # left behind by Auto's search
    CHOSEN = "chosen"              # the recipe Auto trains to the end
    CHECKED = "checked"            # fine-tuning measured by cross-validation
    ENDED = (FIRST, DROPPED, CHOSEN, CHECKED)


class Kept:
    """Which model a run kept (metrics.json "chosen")."""
    FINE_TUNED = "fine-tuned"
    FIRST_MODEL = "probe"

# The events a run records (`Run.record(kind, **data)`), each one line of metrics.jsonl ("progress" at
# most once every PROGRESS_EVERY_S: a server following a worker process reads it from there).
PROGRESS_EVERY_S = 1.0
EVENTS = {
    "status": "status (queued | running | finished | stopped | failed | interrupted), message, has_model",
    "phase": "phase: what the run is doing now, in words ('training', 'validating epoch 2', …)",
    "progress": "progress (0–1) and eta_seconds",
    "step": "one optimizer step: step, epoch (fractional), loss, lr",
    "epoch": "one validation: epoch, train_loss, val_loss, val_accuracy, val_macro_f1",
    "best": "a new best epoch: the same keys as 'epoch'",
    "info": "facts about the run, merged into Run.info (keys below)",
    "settings": "effective settings the engine chose or changed (lr, frozen_layers, batch_size …)",
    "candidate": "one candidate the run compares (Auto): name, recipe, status, val_loss, val_accuracy, curve",
}
INFO_KEYS = {
    "n_train": "training examples", "n_val": "validation examples", "classes": "class names, sorted",
    "warnings": "data warnings, in words", "data_summary": "the data report as plain text",
    "n_blocks": "blocks of the model", "frozen_layers": "blocks kept frozen",
    "trainable_params": "parameters that train", "total_params": "all parameters",
    "freezing": "the freezing summary, in words", "lr": "learning rate", "device": "what trains, in words",
    "used_cache": "whether the frozen-prefix cache is used", "precision": "bf16 | fp32",
    "notice": "something the user should know (e.g. an out-of-memory retry)",
    "train_seconds": "seconds spent in the training loop", "n_test": "held-out test examples",
    "class_weights": "whether rare classes weigh more", "head": "transformers | sentence | timm",
    "plan": "the planned length: steps_per_epoch, epochs, total_steps, warmup_steps, eval_every_epochs",
    "cross_validation_folds": "when the data is small: the parts of the cross-validation",
    "probe": "frozen features + logistic regression on the validation data", "chosen": "fine-tuned | probe",
    "result": "the headline numbers of a finished run (val/test accuracy, the baseline and its note)",
    "split_warnings": "warnings from splitting (beyond the data report's)",
    "language": "how well the tokenizer fits the texts", "language_warning": "the advice when it fits poorly",
    "label_issues": "likely label errors found (label_issues.csv)",
    "near_duplicates": "near-duplicate pairs with different labels (label_issues.csv)",
}


class RunFolder:
    """The files of one run folder (an app run, or the CLI's --out folder)."""

    SETTINGS, STATUS, EVENTS, METRICS = files.SETTINGS, files.STATUS, files.EVENTS, files.METRICS
    REPORT, TEST_REPORT, TEST_FILE_REPORT = files.REPORT, files.TEST_REPORT, files.TEST_FILE_REPORT
    LEARNING_CURVE, CANDIDATES, PUBLISHED, SHARE = files.LEARNING_CURVE, files.CANDIDATES, files.PUBLISHED, files.SHARE
    DATA_REPORT, LABEL_ISSUES, CLEANED_DATA = files.DATA_REPORT, files.LABEL_ISSUES, files.CLEANED_DATA
    MODEL_META, ERROR_LOG, EXAMPLES, INPUTS = files.MODEL_META, files.ERROR_LOG, files.EXAMPLES, files.INPUTS
    WORKER_LOG, WORKER_LOCK = files.WORKER_LOG, files.WORKER_LOCK
    CHECKPOINT, CHECKPOINT_INFO = files.CHECKPOINT, files.CHECKPOINT_INFO

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def read(self, name: str) -> dict | None:
        return read_json(self.path / name)

    def write(self, name: str, data) -> None:
        atomic_write_json(self.path / name, data)

    @property
    def has_model(self) -> bool:
        return (self.path / self.MODEL_META).is_file()

    def report(self) -> dict | None:
        return self.read(self.REPORT)

    def metrics(self) -> dict | None:
        return self.read(self.METRICS)

    def model_meta(self) -> dict | None:
        return self.read(self.MODEL_META)

    def requested_settings(self) -> dict:
        return (self.read(self.SETTINGS) or {}).get("settings") or {}

    def effective_settings(self) -> dict:
        """What the run actually used: the request, overlaid with what the engine chose."""
        status = self.read(self.STATUS) or {}
        return {**self.requested_settings(), **(status.get("effective") or {})}

    def modality(self) -> str | None:
        """text / image, from the settings, the model files or the data report."""
        m = self.requested_settings().get("modality")
        if m:
            return m
        meta = self.model_meta()
        if meta and meta.get("modality"):
            return meta["modality"]
        rep = self.read(self.DATA_REPORT)
        return (rep.get("train") or {}).get("modality") if rep else None


@dataclass
class Run:
    id: str
    dir: Path
    owner: str
    settings: dict                  # what was asked for (settings.json)
    created: float = field(default_factory=time.time)
    status: str = "queued"          # one of ACTIVE or TERMINAL
    phase: str = "waiting in queue"
    message: str = ""
    progress: float = 0.0
    eta_seconds: float | None = None
    device: str = ""
    info: dict = field(default_factory=dict)        # INFO_KEYS
    effective: dict = field(default_factory=dict)   # settings the engine chose or changed
    candidates: dict = field(default_factory=dict)  # name -> the latest "candidate" event
    steps: list = field(default_factory=list)       # "step" events
    epochs: list = field(default_factory=list)      # "epoch" events
    best: dict = field(default_factory=dict)
    has_model: bool = False
    started_at: float | None = None  # when it began training (after waiting in the queue)
    ended_at: float | None = None    # when it reached a TERMINAL status (retention counts from here)
    restored: bool = False          # found on disk at start-up (a run of an earlier app process)
    requeued: bool = False          # restored while waiting or training: queued again
    listeners: list = field(default_factory=list, repr=False)   # callables(kind, data): must be quick
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    # set when the process is going away (SIGTERM): the run writes a checkpoint and pauses, unfinished
    shutdown_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _progress_written: float = field(default=0.0, repr=False)

    @property
    def files(self) -> RunFolder:
        return RunFolder(self.dir)

    # ---- written by the trainer --------------------------------------------------------
    def record(self, kind: str, **data) -> None:
        """Store one event and append it to metrics.jsonl. Cheap and never blocks on readers."""
        if kind not in EVENTS:
            raise ValueError(f"unknown run event {kind!r}")   # a programming mistake
        now = time.time()
        with self._lock:
            self._apply(kind, data)
            quiet = (kind == "progress" and now - self._progress_written < PROGRESS_EVERY_S
                     and 0 < data["progress"] < 1)   # the first and the last are always written
            if kind == "progress" and not quiet:
                self._progress_written = now
            line = None if quiet else json.dumps({"t": round(now, 3), "kind": kind, **data}, default=str)
        if line is not None:
            try:
                with open(self.dir / RunFolder.EVENTS, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass  # a full disk must not kill training; the in-memory history stays complete
        if kind in ("status", "best", "info", "phase", "settings", "candidate"):
            self.save_status()
        self._tell(kind, data)

    def _tell(self, kind: str, data: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, data)
            except Exception:  # noqa: BLE001 — a broken reader must never stop training
                self.listeners.remove(listener)

    def follow(self, event: dict) -> None:
        """An event another process recorded in this run's folder (a worker's metrics.jsonl line):
        applied in memory and told to the listeners, not written again."""
        event = dict(event)
        kind = event.pop("kind", None)
        if kind not in EVENTS:
            return
        t = event.pop("t", None)
        with self._lock:
            self._apply(kind, {**event, "t": t} if kind == "status" else event)
        self._tell(kind, event)

    def _apply(self, kind: str, data: dict) -> None:
        """The one place that interprets events: live recording and re-reading metrics.jsonl."""
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
            self.device = data.get("device", self.device)
        elif kind == "settings":
            self.effective.update(data)
        elif kind == "candidate":
            self.candidates[data["name"]] = data
        elif kind == "best":
            self.best = data
        elif kind == "status":
            self.status = data["status"]
            self.message = data.get("message", self.message)
            self.has_model = data.get("has_model", self.has_model)
            if self.status == "running" and self.started_at is None:
                self.started_at = data.get("t") or time.time()
            if self.status in TERMINAL:
                self.ended_at = data.get("t") or time.time()

    def save_status(self) -> None:
        try:
            self.files.write(RunFolder.STATUS, self.summary())
        except OSError:
            pass

    # ---- read by the UI / CLI ------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    def amend_settings(self, **values) -> None:
        """Write values into settings.json itself: for what the request meant but only the data
        could spell out (the class edits as applied, e.g. which labels --merge-similar-labels merged)."""
        self.settings.update(values)
        meta = self.files.read(RunFolder.SETTINGS) or {"id": self.id, "owner": self.owner, "created": self.created}
        self.files.write(RunFolder.SETTINGS, {**meta, "settings": self.settings})

    @property
    def effective_settings(self) -> dict:
        """What the run used: the request overlaid with the engine's choices (refills the form)."""
        return {**self.settings, **self.effective}

    def summary(self) -> dict:
        return {"id": self.id, "owner": self.owner, "created": self.created, "status": self.status,
                "phase": self.phase, "message": self.message, "progress": self.progress,
                "eta_seconds": self.eta_seconds, "device": self.device, "info": dict(self.info),
                "effective": dict(self.effective), "candidates": list(self.candidates.values()),
                "best": dict(self.best), "has_model": self.has_model,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "model": self.settings.get("model"), "data_name": self.settings.get("data_name", "")}

    # ---- the demo link ------------------------------------------------------------------
    def share(self, allow_download: bool = False) -> dict:
        """The run's demo link (created once, kept across restarts in share.json): an unguessable
        token; a revoked link stays revoked, and sharing again makes a new token."""
        current = self.files.read(RunFolder.SHARE)
        if current and not current.get("revoked"):
            if current.get("allow_download") != allow_download:
                current["allow_download"] = allow_download
                self.files.write(RunFolder.SHARE, current)
            return current
        share = {"token": secrets.token_urlsafe(24), "created": time.time(), "revoked": False,
                 "allow_download": allow_download}
        self.files.write(RunFolder.SHARE, share)
        return share

    def revoke_share(self) -> bool:
        current = self.files.read(RunFolder.SHARE)
        if not current or current.get("revoked"):
            return False
        self.files.write(RunFolder.SHARE, {**current, "revoked": True, "revoked_at": time.time()})
        return True

    def snapshot(self) -> dict:
        """A consistent copy of everything a chart needs."""
        with self._lock:
            return {**self.summary(), "steps": list(self.steps), "epochs": list(self.epochs),
                    "settings": self.effective_settings}


class EventTail:
    """Reads the lines appended to a run's metrics.jsonl since the last call (a worker's events):
    never the whole file again, and never half a line."""

    def __init__(self, path: Path):
        self.path, self.offset, self._rest = Path(path), 0, b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return []
        self.offset += len(chunk)
        lines = (self._rest + chunk).split(b"\n")
        self._rest = lines.pop()              # an unfinished last line waits for the next read
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def new_run(run_dir: str | os.PathLike, settings: dict, owner: str = "local", run_id: str | None = None) -> Run:
    """A run in its own folder (the CLI's --out folder, or one under a RunStore's root)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(run_id or new_run_id(), run_dir, owner, dict(settings))
    run.files.write(RunFolder.SETTINGS, {"id": run.id, "owner": owner, "created": run.created, "settings": settings})
    run.save_status()
    return run


def open_run(run_dir: Path) -> Run:
    """A run folder as it is on disk, with its whole history (nothing changed)."""
    folder = RunFolder(run_dir)
    meta = json.loads((folder / RunFolder.SETTINGS).read_text())
    run = Run(meta["id"], Path(run_dir), meta.get("owner", "local"), meta["settings"], meta.get("created", 0),
              restored=True)
    status = folder.read(RunFolder.STATUS) or {}
    for key in ("status", "phase", "message", "progress", "device", "info", "effective", "best", "has_model",
                "started_at", "ended_at"):
        if key in status:
            setattr(run, key, status[key])
    run.candidates = {c["name"]: c for c in status.get("candidates") or []}
    events = folder / RunFolder.EVENTS
    if events.exists():
        for line in events.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the last line may be cut off by a crash
            kind = event.pop("kind", None)
            event.pop("t", None)
            if kind in ("step", "epoch"):   # the rest is already in status.json
                run._apply(kind, event)
    return run


def hold_lock(run_dir: Path):
    """The worker's side: held until the process exits (the kernel releases it however it ends). It
    holds the process id, as lock files do (the load test kills the run's process by it)."""
    import fcntl

    lock = open(Path(run_dir) / WORKER_LOCK, "a")
    fcntl.flock(lock, fcntl.LOCK_EX)    # blocks while an earlier worker of this run still finishes
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def wait_for_earlier_worker(run_dir: Path, timeout_s: float = 300) -> bool:
    """The app's side, before it starts a run's worker: a worker left by a server that was killed
    (it pauses on its own: ftapp.signals.pause_when_server_dies) may still be writing its checkpoint."""
    import fcntl

    path = Path(run_dir) / WORKER_LOCK
    if not path.exists():
        return True
    deadline = time.time() + timeout_s
    with open(path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
                return True
            except BlockingIOError:
                if time.time() > deadline:
                    return False
                time.sleep(0.2)


def read_run(run_dir: Path, requeue: bool = False, resume_interrupted: bool = False) -> Run:
    """A run folder written by an earlier process, with its whole history. A run that was waiting
    or training when that process ended is marked interrupted — or, with `requeue` and its data
    still there, made to wait again (`Run.requeued`): from its checkpoint when it has one, else from
    the beginning. `resume_interrupted` (ftapp train --resume): a run already marked interrupted too."""
    if requeue:     # the training process of a server that was killed may still be writing its checkpoint
        wait_for_earlier_worker(run_dir)
    run = open_run(run_dir)
    cut_off = run.active or (resume_interrupted and run.status == Status.INTERRUPTED)
    if cut_off and requeue and prepare_resume(run, "The app restarted while this run "
                                                   + ("waited" if run.status == Status.QUEUED else "was training")):
        pass
    elif run.active:
        run.status = Status.INTERRUPTED
        run.phase = Status.INTERRUPTED
        run.message = ("The app stopped while this run was training."
                       + (" Its best model so far was saved and can be used." if run.has_model else ""))
        run.save_status()
    return run


def prepare_resume(run: Run, cause: str = "The training process stopped") -> bool:
    """Make a cut-off run wait to go on: from its checkpoint when it has one (the curves up to it
    stay, later steps go), else from the beginning (the cut-off attempt's curves are kept beside).
    False, and nothing changed, when its data is gone."""
    if not _inputs_present(run.settings):
        return False
    folder, events = run.files, run.dir / RunFolder.EVENTS
    saved = (folder.read(RunFolder.CHECKPOINT_INFO) or {}) if run.status != Status.QUEUED else {}
    if saved:
        _cut_events(run, events, saved["step"])
        run.message = f"{cause}; it continues from its checkpoint (epoch {saved['epoch']}, step {saved['step']})."
    else:
        if events.exists():
            events.replace(folder / files.EVENTS_BEFORE_RESTART)
        run.steps, run.epochs, run.best, run.candidates = [], [], {}, {}
        run.message = f"{cause}; it starts again from the beginning."
    run.progress, run.eta_seconds, run.started_at, run.ended_at = 0.0, None, None, None
    run.status, run.phase = Status.QUEUED, "waiting to go on"
    run.requeued = True
    run.save_status()
    return True


def _cut_events(run: Run, events: Path, step: int) -> None:
    """Drop the steps and validations after `step` (the checkpoint's): resumed training emits them again."""
    keep = lambda e: e.get("kind") not in ("step", "epoch") or e.get("step", 0) <= step   # noqa: E731
    lines = []
    for line in events.read_text().splitlines() if events.exists() else []:
        try:
            if keep(json.loads(line)):
                lines.append(line)
        except ValueError:
            continue
    events.write_text("".join(line + "\n" for line in lines))
    run.steps = [s for s in run.steps if s.get("step", 0) <= step]
    run.epochs = [e for e in run.epochs if e.get("step", 0) <= step]


def _inputs_present(settings: dict) -> bool:
    from ftapp.data.hub import is_hub_source

    data = settings.get("data")
    return bool(data) and (is_hub_source(str(data)) or os.path.exists(data))


class RunStore:
    def __init__(self, root: str | os.PathLike, requeue: bool = False):
        """`requeue`: runs an earlier process left waiting or training wait again (the app's queue
        lives in the run folders), oldest first in `requeued()`; without it they are interrupted."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._requeue = requeue
        self._load_existing()

    def requeued(self) -> list[Run]:
        return sorted((r for r in self._runs.values() if r.requeued and r.status == "queued"), key=lambda r: r.created)

    def create(self, settings: dict, owner: str = "local") -> Run:
        run_id = new_run_id()
        run = new_run(self.root / run_id, settings, owner, run_id)
        with self._lock:
            self._runs[run_id] = run
        return run

    def remove(self, run_id: str) -> bool:
        """Delete an ended run and its folder (retention); an active run is never removed."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.active:
                return False
            del self._runs[run_id]
        shutil.rmtree(run.dir, ignore_errors=True)
        return True

    def get(self, run_id: str, owner: str | None = None) -> Run | None:
        """The run, or None when it does not exist or belongs to someone else."""
        run = self._runs.get(run_id or "")
        if run is None or (owner is not None and run.owner != owner):
            return None
        return run

    def shared(self, token: str | None) -> tuple[Run | None, str]:
        """The run a demo token opens, and why not when none: "ok" | "revoked" | "unknown"."""
        import hmac

        if not token:
            return None, "unknown"
        for run in list(self._runs.values()):
            share = run.files.read(RunFolder.SHARE)
            if share and hmac.compare_digest(str(share.get("token", "")), str(token)):
                return (None, "revoked") if share.get("revoked") or not run.has_model else (run, "ok")
        return None, "unknown"

    def list(self, owner: str | None = None) -> list[Run]:
        runs = [r for r in self._runs.values() if owner is None or r.owner == owner]
        return sorted(runs, key=lambda r: r.created, reverse=True)

    def _load_existing(self) -> None:
        for settings_file in sorted(self.root.glob(f"*/{RunFolder.SETTINGS}")):
            try:
                run = read_run(settings_file.parent, requeue=self._requeue)
            except (OSError, ValueError, KeyError):
                continue  # a half-written folder: not a run we can show
            self._runs[run.id] = run
