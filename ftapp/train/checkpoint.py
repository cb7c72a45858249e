"""A run's resumable checkpoint: the kept fitter's whole state (weights, optimizer, schedule,
early-stopping count, random state, the curves so far) in `checkpoint.pt`, and what it holds in
`checkpoint.json` (read at start-up without torch). Written atomically — a kill while writing
leaves the previous one usable — at most every CHECKPOINT_SECONDS after a validation, and always
when the process is asked to stop (SIGTERM); removed when the run ends."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch

log = logging.getLogger("ftapp")

STATE = "checkpoint.pt"
INFO = "checkpoint.json"


def every_seconds() -> float:
    """How often a checkpoint may be written (FTAPP_CHECKPOINT_SECONDS; the weights and optimizer
    state of a full fine-tune are a few hundred MB, so not after every validation)."""
    return float(os.environ.get("FTAPP_CHECKPOINT_SECONDS", 60))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(run_dir: Path, state: dict) -> None:
    run_dir = Path(run_dir)
    _atomic(run_dir / STATE, lambda p: torch.save(state, p))
    info = {"step": state["step"], "epoch": state["epoch"], "recipe": state["recipe"], "saved": time.time()}
    _atomic(run_dir / INFO, lambda p: p.write_text(json.dumps(info)))


def info(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / INFO).read_text())
    except (OSError, ValueError):
        return None


def load(run_dir: Path) -> dict | None:
    """The last complete checkpoint, or None (none yet, or unreadable: the run starts again)."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 — a damaged file must not fail the run: it starts from the beginning
        log.warning("checkpoint %s unreadable; the run starts again", path)
        return None


def remove(run_dir: Path) -> None:
    for name in (STATE, INFO, STATE + ".tmp", INFO + ".tmp"):
        (Path(run_dir) / name).unlink(missing_ok=True)


def writer(run, started: float | None = None):
    """on_checkpoint for Training: rate-limited, except at shut-down (the fitter's last call)."""
    last = {"t": time.time()}
    started = started or time.time()

    def write(state: dict) -> None:
        final = run.shutdown_event.is_set()
        if not final and time.time() - last["t"] < every_seconds():
            return
        try:
            save(run.dir, {**state, "elapsed": time.time() - started})
        except OSError:
            log.warning("could not write the checkpoint of run %s", run.id)
            return
        last["t"] = time.time()
    return write
