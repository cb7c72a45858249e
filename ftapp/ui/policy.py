"""Fair shares and bounded disk for a public deployment: how many runs a visitor may have waiting or
training, how long the queue may grow, how long one run may train, how long finished runs and
uploads are kept, and how much free disk a new run needs. Generous or off in local mode; each
setting has an environment override (README: Local and hosted mode)."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ftapp.ui")

GB = 2**30


def _env_number(name: str, default: float | None) -> float | None:
    """A number from the environment; "0", "off" or "none" turns the limit off."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("0", "off", "none", "no"):
        return None
    try:
        return float(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, raw)
        return default


@dataclass(frozen=True)
class Quotas:
    max_active_per_visitor: int | None    # runs waiting or training at once, per visitor
    max_queue: int | None                 # runs waiting, all visitors together
    max_run_minutes: float | None         # a run's time budget is capped at this
    retention_hours: float | None         # ended runs and idle uploads are removed after this
    min_free_disk_gb: float = 1.0         # a run needs at least this (or 3x the model) free

    @classmethod
    def for_mode(cls, hosted: bool) -> "Quotas":
        def whole(v):
            return None if v is None else int(v)
        return cls(
            max_active_per_visitor=whole(_env_number("FTAPP_MAX_ACTIVE_RUNS", 1 if hosted else None)),
            max_queue=whole(_env_number("FTAPP_MAX_QUEUE", 20 if hosted else None)),
            max_run_minutes=_env_number("FTAPP_MAX_RUN_MINUTES", 30 if hosted else None),
            retention_hours=_env_number("FTAPP_RETENTION_HOURS", 24 if hosted else None),
            min_free_disk_gb=_env_number("FTAPP_MIN_FREE_DISK_GB", 1.0) or 0.0)


def model_bytes(model: str) -> int:
    """The size of a local model folder's weights; 0 for a Hub id or a bundled model (the 1 GB
    floor covers those: the bundled ones are under 100 MB)."""
    from ftapp.models.catalog import looks_like_local_path

    path = Path(model)
    if not looks_like_local_path(model) or not path.is_dir():
        return 0
    try:
        return sum(f.stat().st_size for f in path.rglob("*") if f.suffix in (".safetensors", ".bin", ".pth", ".pt"))
    except OSError:
        return 0


def disk_problem(folder: Path, model: str, quotas: Quotas) -> str | None:
    need = max(3 * model_bytes(model), quotas.min_free_disk_gb * GB)
    free = shutil.disk_usage(folder).free
    if free >= need:
        return None
    return (f"Not enough free disk to start a run: {free / GB:.1f} GB free, about {need / GB:.1f} GB needed. "
            "Delete or download older runs, or try again later.")


def removal_time(run, quotas: Quotas) -> float | None:
    """When an ended run will be removed (its last status change + the retention period)."""
    if quotas.retention_hours is None or not run.ended:
        return None
    return (run.ended_at or run.created) + quotas.retention_hours * 3600


class Retention:
    """Removes ended runs older than the retention period and idle upload folders: at start-up and
    then every `every_s` seconds, in a background thread."""

    def __init__(self, ctx, quotas: Quotas, every_s: float = 3600):
        self.ctx, self.quotas, self.every_s = ctx, quotas, every_s

    def sweep(self, now: float | None = None) -> list[str]:
        if self.quotas.retention_hours is None:
            return []
        now = time.time() if now is None else now
        removed = [run.id for run in self.ctx.store.list() if (t := removal_time(run, self.quotas)) and t <= now]
        for run_id in removed:
            self.ctx.store.remove(run_id)
        self.ctx.files.sweep(self.ctx.active_data_paths(), max_idle_s=self.quotas.retention_hours * 3600)
        if removed:
            log.info("retention: removed %d run(s) older than %g h", len(removed), self.quotas.retention_hours)
        return removed

    def start(self) -> None:
        if self.quotas.retention_hours is None:
            return

        def loop():
            while True:
                try:
                    self.sweep()
                except Exception:  # noqa: BLE001 — cleaning up must never take the app down
                    log.exception("retention sweep failed")
                time.sleep(self.every_s)
        threading.Thread(target=loop, name="ftapp-retention", daemon=True).start()
