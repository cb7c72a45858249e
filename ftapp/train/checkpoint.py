"""A run's resumable checkpoint: the kept fitter's whole state (weights, optimizer, schedule,
early-stopping count, random state, the curves so far) in `checkpoint-STEP.pt`, and which one is
complete and what it holds in `checkpoint.json` (read at start-up without torch). The state is
written first, then the JSON names it, then older states go: a kill at any moment leaves the JSON
naming a whole state that matches it (the server cuts the curves at the JSON's step, the process
goes on from the state's). At most every CHECKPOINT_SECONDS after a validation, and always when the
process is asked to stop (SIGTERM); removed when the run ends."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

from ftapp.files import CHECKPOINT, CHECKPOINT_INFO, atomic_write, atomic_write_json, read_json
from ftapp.server_load import wait_while_busy
from ftapp.train.config import CHECKPOINT_SECONDS

log = logging.getLogger("ftapp")


def every_seconds() -> float:
    """How often a checkpoint may be written (FTAPP_CHECKPOINT_SECONDS overrides; the weights and
    optimizer state of a full fine-tune are a few hundred MB, so not after every validation)."""
    return float(os.environ.get("FTAPP_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS))


def save(run_dir: Path, state: dict) -> None:
    run_dir = Path(run_dir)
    name = CHECKPOINT.format(step=state["step"])
    atomic_write(run_dir / name, lambda p: torch.save(state, p))
    atomic_write_json(run_dir / CHECKPOINT_INFO, {"file": name, "step": state["step"], "epoch": state["epoch"],
                                                  "recipe": state["recipe"], "saved": time.time()})
    for old in _states(run_dir):
        if old.name != name:
            old.unlink(missing_ok=True)


def load(run_dir: Path) -> dict | None:
    """The checkpoint checkpoint.json names, or None (none yet, or unreadable: the run starts again)."""
    info = read_json(Path(run_dir) / CHECKPOINT_INFO) or {}
    path = Path(run_dir) / info.get("file", "")
    if not info or not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 — a damaged file must not fail the run: it starts from the beginning
        log.warning("checkpoint %s unreadable; the run starts again", path)
        return None


def _states(run_dir: Path) -> list[Path]:
    """Every state file, whole or half-written."""
    pattern = CHECKPOINT.format(step="*")
    return [*Path(run_dir).glob(pattern), *Path(run_dir).glob(f".{pattern}.tmp")]


def started(state: dict) -> float:
    """When the run would have started for the time it already used (its budget goes on)."""
    return time.time() - state.get("elapsed", 0)


def remove(run_dir: Path) -> None:
    for path in (Path(run_dir) / CHECKPOINT_INFO, Path(run_dir) / f".{CHECKPOINT_INFO}.tmp", *_states(run_dir)):
        path.unlink(missing_ok=True)


def writer(run, started_at: float | None = None):
    """The "checkpoint" listener of a Training: rate-limited, except at shut-down (final)."""
    last = {"t": time.time()}
    started_at = started_at or time.time()

    def write(_training, fitter, final: bool, extra: dict) -> None:
        if not final and time.time() - last["t"] < every_seconds():
            return
        if not final:
            wait_while_busy()   # a few hundred MB written: not while the app's server answers visitors
        try:
            save(run.dir, {**fitter.state_dict(), **extra, "elapsed": time.time() - started_at})
        except OSError:
            log.warning("could not write the checkpoint of run %s", run.id)
            return
        last["t"] = time.time()
    return write
