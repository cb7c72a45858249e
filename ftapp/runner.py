"""Runs queue for the machine: each run trains in its own process (ftapp/worker.py), in order of
arrival, as many at once as there are GPU slots (one per visible CUDA device; one on a CPU machine).

The app submits work here (the CLI trains in its own process, without a queue). A run asking for
several GPUs (the "gpus" setting) waits until that many are free and trains on all of them through
torchrun; on a CPU, the "processes" setting splits one run over several processes the same way.
Stopping signals the run's process (it keeps its best model) or takes it out of the queue; only the
run's owner may do either. `processes=False` keeps the old in-process thread (tests that patch the
engine from inside use it).
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import deque

from ftapp.data import Limits
from ftapp.files import INPUTS
from ftapp.hardware import gpu_count, gpu_ids
from ftapp import server_load
from ftapp.runs import Run, RunFolder, RunStore, Status, prepare_resume
from ftapp.train.config import TrainConfig

log = logging.getLogger("ftapp")
TRAINER_NICENESS = 10


def _engine_missing(config, run, **_kwargs) -> None:
    run.record("status", status=Status.FAILED,
               message="The training engine could not be loaded (see the server log). Reinstall ftapp.")


class Runner:
    def __init__(self, store: RunStore, *, limits: Limits = Limits(), allow_local_paths: bool = True,
                 keep_inputs: bool = False, processes: bool = True, slots: int | None = None,
                 spare: bool = False):
        """`keep_inputs`: copy each run's data file into its folder when queued (the app's uploads
        live in per-session folders that a restart or a closed tab removes); removed when it ends.
        `slots`: runs at once (default: one per visible GPU, else one). `spare`: keep a training
        process started ahead (ftapp.worker.Spare), so a run starts without seconds of imports."""
        self.store = store
        self.limits = limits
        self.allow_local_paths = allow_local_paths
        self.keep_inputs = keep_inputs
        self.processes = processes
        self.gpus = gpu_count() if processes else 0
        self.free = list(range(slots if slots is not None else max(1, self.gpus)))
        self._queue: deque[tuple[Run, TrainConfig, bool]] = deque()
        self._active: dict[str, tuple[Run, object]] = {}     # run id -> (run, its Worker or None)
        self._cv = threading.Condition()
        self._spare = None
        self.keep_spare = spare and processes
        # how busy the server is, which its training processes wait on (server_load.py)
        self.server_load = server_load.start_counting(store.root / server_load.FILE) if processes else None
        self._refill_spare()
        threading.Thread(target=self._dispatch, name="ftapp-dispatcher", daemon=True).start()

    # ---- the queue ---------------------------------------------------------------------------
    def submit(self, config: TrainConfig, owner: str = "local", extra_settings: dict | None = None) -> Run:
        run = self.store.create({**config.to_dict(), **(extra_settings or {})}, owner=owner)
        if self.keep_inputs and config.data and os.path.isfile(config.data):
            kept = run.dir / INPUTS / os.path.basename(config.data)
            kept.parent.mkdir()
            shutil.copyfile(config.data, kept)
            config.data = str(kept)
            run.amend_settings(data=str(kept))
        self._enqueue(run, config, resume=False)
        return run

    def resume(self, run: Run) -> None:
        """Queue again a run an earlier process left waiting or training (RunStore(requeue=True)):
        from its checkpoint when it has one."""
        self._enqueue(run, TrainConfig.from_dict(run.settings), resume=run.requeued)

    def resume_interrupted(self, run: Run) -> bool:
        """Resume: a run whose process died goes on from its last checkpoint."""
        if run.status != Status.INTERRUPTED or not prepare_resume(run):
            return False
        self._enqueue(run, TrainConfig.from_dict(run.settings), resume=True)
        return True

    def _enqueue(self, run: Run, config: TrainConfig, resume: bool) -> None:
        with self._cv:
            self._queue.append((run, config, resume))
            self._cv.notify_all()

    def position(self, run: Run) -> int | None:
        """0 while training, n when n runs are ahead of it, None when not waiting or running."""
        with self._cv:
            if run.id in self._active:
                return 0
            for i, (queued, _, _) in enumerate(self._queue):
                if queued is run:
                    return i + len(self._active)   # the queue before it plus the runs training
        return None

    def waiting(self) -> int:
        with self._cv:
            return len(self._queue)

    def wait_seconds(self, before: Run | None = None) -> float:
        """At most how long until a run queued now (or `before`) would start: what the runs training
        have left of their time budgets plus the budgets of the runs waiting ahead, shared by the slots."""
        with self._cv:
            total = 0.0
            for run, _ in self._active.values():
                budget = float(run.settings.get("time_budget") or 0) * 60
                total += max(0.0, budget - (time.time() - (run.started_at or time.time())))
            for queued, config, _ in self._queue:
                if queued is before:
                    break
                total += config.time_budget * 60
            return total / max(1, len(self.free) + len(self._active))

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
        run.stop_event.set()    # the in-process loop reads it; a Worker passes it on as SIGINT
        return True

    # ---- training ------------------------------------------------------------------------------
    def _slots_for(self, config: TrainConfig) -> int:
        return max(1, min(int(config.gpus or 1), self.gpus)) if self.gpus else 1

    def _dispatch(self) -> None:
        """Start the head of the queue whenever it has the slots it needs (in order: no overtaking)."""
        while True:
            with self._cv:
                while not self._queue or len(self.free) < self._slots_for(self._queue[0][1]):
                    self._cv.wait()
                run, config, resume = self._queue.popleft()
                slots = [self.free.pop(0) for _ in range(self._slots_for(config))]
                self._active[run.id] = (run, None)
            threading.Thread(target=self._train, args=(run, config, resume, slots), name=f"ftapp-run-{run.id}",
                             daemon=True).start()

    def _train(self, run: Run, config: TrainConfig, resume: bool, slots: list[int]) -> None:
        try:
            if self.processes:
                self._in_a_process(run, config, resume, slots)
            else:
                self._in_this_process(run, config, resume)
        except Exception:  # noqa: BLE001 — a run must end with a status, whatever happened here
            log.exception("run %s could not be trained", run.id)
            if not run.ended:
                run.record("status", status=Status.FAILED, message="The run could not be started (see the server log).")
        finally:
            self._refill_spare()
            with self._cv:
                self._active.pop(run.id, None)
                self.free = sorted(self.free + slots)
                self._cv.notify_all()
            # a run paused by shut-down, or cut off with a checkpoint to resume from, keeps its data
            if run.ended and not (run.status == Status.INTERRUPTED and (run.dir / RunFolder.CHECKPOINT_INFO).is_file()):
                shutil.rmtree(run.dir / INPUTS, ignore_errors=True)

    def _in_a_process(self, run: Run, config: TrainConfig, resume: bool, slots: list[int]) -> None:
        from ftapp.worker import Worker, launcher

        env = {"CUDA_VISIBLE_DEVICES": ",".join(gpu_ids()[s] for s in slots)} if self.gpus else {}
        if self.server_load is not None:
            env[server_load.ENV] = str(self.server_load.path)
        n = len(slots) if self.gpus else max(1, int(config.processes or 1))
        spare, self._spare = (self._spare, None) if n == 1 else (None, self._spare)
        worker = Worker(run, resume=resume, hosted=not self.allow_local_paths, env=env,
                        launcher=launcher(n) if n > 1 else None, spare=spare)
        with self._cv:
            self._active[run.id] = (run, worker)
        worker.run_to_end()

    def _refill_spare(self) -> None:
        """A spare process for the next run, started while none trains (its imports would slow one)."""
        if self.keep_spare and (self._spare is None or not self._spare.alive()):
            from ftapp.worker import Spare

            self._spare = Spare()

    def _in_this_process(self, run: Run, config: TrainConfig, resume: bool) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINER_NICENESS)
        except (AttributeError, OSError):
            pass
        try:
            from ftapp.train.job import execute
        except Exception:  # noqa: BLE001 — report it on the run, never leave it queued forever
            log.exception("the training engine could not be loaded")
            execute = _engine_missing
        execute(config, run, limits=self.limits, allow_local_paths=self.allow_local_paths, resume=resume)

    # ---- shutting down -------------------------------------------------------------------------
    def shut_down(self) -> list[Run]:
        """The process is going away: the runs training write a checkpoint and pause (they resume
        after a restart); the waiting ones stay queued in their folders. Returns the paused runs."""
        with self._cv:
            self._queue.clear()
            active = [run for run, _ in self._active.values()]
            self.keep_spare = False
        if self._spare is not None:
            self._spare.close()
        for run in active:
            run.shutdown_event.set()
        return active

    def wait_idle(self, timeout: float) -> bool:
        """Until no run is training (after shut_down: the paused runs have written their checkpoints)."""
        deadline = time.time() + timeout
        while self._active and time.time() < deadline:
            time.sleep(0.1)
        return not self._active

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run has ended (for the CLI and tests)."""
        deadline = None if timeout is None else time.time() + timeout
        while run.active or run.id in self._active:     # ended, and its process and inputs cleaned up
            if deadline is not None and time.time() > deadline:
                return False
            time.sleep(0.1)
        return True
