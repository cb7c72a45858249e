"""Runs queue for the device: one worker thread trains one run at a time, in order of arrival.

The app submits work here (the CLI trains in its own process, without a queue); the worker calls
`job.execute`, which records everything on the Run. Stopping sets the run's flag (checked every
training step) or takes it out of the queue; only the run's owner may do either.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import deque

from ftapp.data import Limits
from ftapp.runs import Run, RunStore, Status
from ftapp.train.config import TrainConfig


log = logging.getLogger("ftapp")
INPUTS = "input"    # a queued run's own copy of its data file (Runner(keep_inputs=True))
TRAINER_NICENESS = 10


def _engine_missing(config, run, **_kwargs) -> None:
    run.record("status", status=Status.FAILED,
               message="The training engine could not be loaded (see the server log). Reinstall ftapp.")


class Runner:
    def __init__(self, store: RunStore, *, limits: Limits = Limits(), allow_local_paths: bool = True,
                 keep_inputs: bool = False):
        """`keep_inputs`: copy each run's data file into its folder when queued (the app's uploads
        live in per-session folders that a restart or a closed tab removes); removed when it ends."""
        self.store = store
        self.limits = limits
        self.allow_local_paths = allow_local_paths
        self.keep_inputs = keep_inputs
        self._queue: deque[tuple[Run, TrainConfig]] = deque()
        self._current: Run | None = None
        self._cv = threading.Condition()
        threading.Thread(target=self._work, name="ftapp-trainer", daemon=True).start()

    def submit(self, config: TrainConfig, owner: str = "local", extra_settings: dict | None = None) -> Run:
        if self.keep_inputs and config.data and os.path.isfile(config.data):
            run = self.store.create({**config.to_dict(), **(extra_settings or {})}, owner=owner)
            kept = run.dir / INPUTS / os.path.basename(config.data)
            kept.parent.mkdir()
            shutil.copyfile(config.data, kept)
            config.data = str(kept)
            run.amend_settings(data=str(kept))
        else:
            run = self.store.create({**config.to_dict(), **(extra_settings or {})}, owner=owner)
        self._enqueue(run, config)
        return run

    def resume(self, run: Run) -> None:
        """Queue again a run an earlier process left waiting or training (RunStore(requeue=True))."""
        self._enqueue(run, TrainConfig.from_dict(run.settings))

    def _enqueue(self, run: Run, config: TrainConfig) -> None:
        with self._cv:
            self._queue.append((run, config))
            self._cv.notify()

    def position(self, run: Run) -> int | None:
        """0 while training, n when n runs are ahead of it, None when not waiting or running."""
        with self._cv:
            if run is self._current:
                return 0
            ahead = 1 if self._current is not None else 0
            for i, (queued, _) in enumerate(self._queue):
                if queued is run:
                    return i + ahead   # runs ahead of it: the queue before it plus the one training
        return None

    def waiting(self) -> int:
        with self._cv:
            return len(self._queue)

    def wait_seconds(self, before: Run | None = None) -> float:
        """At most how long until a run queued now (or `before`) would start: what the run training
        has left of its time budget plus the budgets of the runs waiting ahead."""
        with self._cv:
            total = 0.0
            if self._current is not None:
                budget = float(self._current.settings.get("time_budget") or 0) * 60
                started = self._current.started_at or time.time()
                total += max(0.0, budget - (time.time() - started))
            for queued, config in self._queue:
                if queued is before:
                    break
                total += config.time_budget * 60
            return total

    def stop(self, run_id: str, owner: str | None = None) -> bool:
        """Ask a run to stop (its best model so far is kept). False if not yours or not active."""
        run = self.store.get(run_id, owner)
        if run is None or not run.active:
            return False
        with self._cv:
            for item in list(self._queue):
                if item[0] is run:
                    self._queue.remove(item)
                    run.record("phase", phase="cancelled")
                    run.record("status", status=Status.STOPPED, message="Cancelled before it started.")
                    return True
        run.stop_event.set()
        return True

    def _work(self) -> None:
        # Training yields the CPU to the server's threads: status polls, page loads and predictions
        # stay quick while a run keeps both cores busy (the OpenMP threads torch starts from this
        # thread inherit the niceness). Measured with benchmarks/load_test.py; see the README.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINER_NICENESS)
        except (AttributeError, OSError):
            pass
        # Load the engine here, in the background, while the app starts serving pages: importing
        # ftapp stays fast, and the first run does not pay ~3 s of torch/transformers imports.
        try:
            from ftapp.train.job import execute
            import transformers.modeling_utils  # noqa: F401 — what the first model load would import
        except Exception:  # noqa: BLE001 — report it on the runs, never leave them queued forever
            log.exception("the training engine could not be loaded")
            execute = _engine_missing

        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                run, config = self._queue.popleft()
                self._current = run
            try:
                execute(config, run, limits=self.limits, allow_local_paths=self.allow_local_paths,
                        resume=run.requeued)
            finally:
                with self._cv:
                    self._current = None
                if run.ended:   # a run paused by shut-down keeps its data for when it goes on
                    shutil.rmtree(run.dir / INPUTS, ignore_errors=True)

    def shut_down(self) -> Run | None:
        """The process is going away: the run training writes a checkpoint and pauses (it resumes
        after a restart); the waiting ones stay queued in their folders. Returns the paused run."""
        with self._cv:
            self._queue.clear()
            current = self._current
        if current is not None:
            current.shutdown_event.set()
        return current

    def wait_idle(self, timeout: float) -> bool:
        """Until no run is training (after shut_down: the paused run has written its checkpoint)."""
        deadline = time.time() + timeout
        while self._current is not None and time.time() < deadline:
            time.sleep(0.1)
        return self._current is None

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run has ended (for the CLI and tests)."""
        deadline = None if timeout is None else time.time() + timeout
        while run.active:
            if deadline is not None and time.time() > deadline:
                return False
            time.sleep(0.1)
        return True
