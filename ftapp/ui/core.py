"""The app's state and the operations the tabs and the API endpoints share.

No training math here: data loading, training, prediction and export are the engine's; this
module only decides *whose* data/run is meant (the session's data: data_ops.py) and turns engine
objects into plain dicts. Every user-facing failure is a `UserError`.
"""
from __future__ import annotations

import atexit
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ftapp.data import Limits
from ftapp.data.hub import is_hub_source
from ftapp.models.catalog import default_model, looks_like_local_path
from ftapp.runner import Runner
from ftapp.runs import Run, RunFolder, RunStore, Status
from ftapp.ui import session as sess
from ftapp.ui.data_ops import EXAMPLES, SessionData, UserError, run_task  # noqa: F401 — UserError, EXAMPLES: the app's
from ftapp.ui.policy import Quotas, Retention, disk_problem, removal_time
from ftapp.ui.texts import status_markdown

log = logging.getLogger("ftapp.ui")


def resumable(run: Run) -> bool:
    """A run whose training process died (interrupted) and left a checkpoint."""
    return run.status == Status.INTERRUPTED and (run.dir / RunFolder.CHECKPOINT_INFO).is_file()


@dataclass
class AppContext(SessionData):
    store: RunStore
    runner: Runner
    hosted: bool
    limits: Limits
    runs_dir: Path
    files: sess.SessionFiles = field(default_factory=sess.SessionFiles)
    quotas: Quotas = field(default_factory=lambda: Quotas.for_mode(False))

    @classmethod
    def create(cls, runs_dir: str | os.PathLike | None = None, hosted: bool | None = None) -> "AppContext":
        hosted = sess.hosted() if hosted is None else hosted
        root = Path(runs_dir) if runs_dir else sess.runs_dir()
        store = RunStore(root, requeue=True)    # runs left waiting or training by a restart wait again
        limits = Limits(allow_local_paths=not hosted)
        # each run trains in its own process; FTAPP_WORKERS=thread keeps it in the server (tests that pace it)
        runner = Runner(store, limits=limits, allow_local_paths=not hosted, keep_inputs=True,
                        processes=os.environ.get("FTAPP_WORKERS", "process") != "thread", spare=True)
        for run in store.requeued():
            runner.resume(run)
        ctx = cls(store=store, runner=runner, hosted=hosted, limits=limits, runs_dir=root.resolve(),
                  quotas=Quotas.for_mode(hosted))
        atexit.register(ctx.files.close_all)   # upload folders never outlive the app (runs do)
        Retention(ctx, ctx.quotas).start()      # hosted: ended runs and idle uploads go after a day
        return ctx

    def exit_on_sigterm(self, grace_s: float = 20.0) -> None:
        """SIGTERM (what a platform sends before it stops a container): the training run writes a
        checkpoint and pauses, waiting runs stay queued in their folders, then the process exits;
        all of them go on when the app starts again. A second SIGTERM or Ctrl-C exits at once."""
        import threading

        from ftapp.signals import on_stop_signals

        def pause_and_exit():
            self.runner.shut_down()

            def finish():
                self.runner.wait_idle(grace_s)
                os._exit(0)
            threading.Thread(target=finish, name="ftapp-shutdown", daemon=True).start()
        on_stop_signals(pause_and_exit)

    # ---- owners and runs ---------------------------------------------------------------------
    def owner(self, browser_value, session_hash: str | None) -> str:
        return sess.owner_for(browser_value, session_hash)

    def runs(self, owner: str) -> list[Run]:
        return [r for r in self.store.list() if sess.can_see(r, owner, self.hosted)]

    def run(self, run_id: str | None, owner: str) -> Run | None:
        run = self.store.get(run_id) if run_id else None
        return run if run is not None and sess.can_see(run, owner, self.hosted) else None

    def latest_run(self, owner: str) -> Run | None:
        """What a (re)loaded page shows: this browser's latest run, else (local mode, e.g. after a
        restart) the latest earlier run."""
        runs = self.runs(owner)
        own = [r for r in runs if r.owner == owner]
        return (own or runs or [None])[0]

    def runs_with_model(self, owner: str) -> list[Run]:
        """Finished runs, and runs still training whose first model is ready (it is usable at once)."""
        return [r for r in self.runs(owner) if r.has_model]

    def position(self, run: Run) -> int | None:
        return self.runner.position(run) if run.active else None

    def active_data_paths(self) -> set[str]:
        return {r.settings.get("data") for r in self.store.list() if r.active and r.settings.get("data")}

    def sweep(self) -> None:
        try:
            self.files.sweep(self.active_data_paths())
        except Exception:  # noqa: BLE001 — cleaning up must never break a handler
            log.exception("sweeping session folders failed")

    def release_session(self, session_hash: str | None) -> None:
        """Called on unload (close *or* reload): drop the upload folder, never a run."""
        self.files.release(session_hash, self.active_data_paths())

    # ---- data ----------------------------------------------------------------------------------
    def start(self, owner: str, data: dict | None, settings: dict) -> Run:
        from ftapp.train.config import TrainConfig

        if not data:
            raise UserError("Load your data first (step 1).")
        if not data.get("ok"):
            raise UserError("The data has errors that block training. Fix them in step 1 and load it again.")
        if not is_hub_source(data["path"]) and not os.path.exists(data["path"]):
            raise UserError("The uploaded file is gone (the page was reloaded or closed). Upload it again in step 1.")
        model = (settings.get("model") or "").strip() or default_model(data["modality"])
        if self.hosted and looks_like_local_path(model):
            raise UserError("On this hosted app only Hugging Face Hub ids work (e.g. 'distilbert-base-uncased'), "
                            "not folders.")
        self._check_quotas(owner, model)
        cfg = {**settings, "model": model}
        limit = self.quotas.max_run_minutes
        if limit is not None:   # a run on a shared device is bounded, whatever was asked
            asked = cfg.get("time_budget")
            cfg["time_budget"] = min(float(asked), limit) if asked not in (None, "") else limit
        cfg.update(data=data["path"], label_map=settings.get("label_map") or data.get("label_map") or None,
                   row_edits=settings.get("row_edits") or data.get("row_edits") or None,
                   text_column=data.get("text_column"), task=settings.get("task") or run_task(data),
                   label_column=data.get("label_column"), path_column=data.get("path_column"))
        try:
            config = TrainConfig.from_user(cfg)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if config.problems():
            raise UserError(" ".join(config.problems()))
        return self.runner.submit(config, owner=owner, extra_settings={"data_name": data["name"],
                                                                         "modality": data.get("modality")})

    def _check_quotas(self, owner: str, model: str) -> None:
        q = self.quotas
        mine = [r for r in self.store.list(owner) if r.active]
        if q.max_active_per_visitor is not None and len(mine) >= q.max_active_per_visitor:
            raise UserError(f"You already have {'a run' if len(mine) == 1 else f'{len(mine)} runs'} waiting or "
                            f"training (run {mine[0].id}). Stop it with **Stop** in step 3, or wait until it "
                            "ends, then start the next one.")
        if q.max_queue is not None and self.runner.waiting() >= q.max_queue:
            raise UserError(f"The queue is full ({self.runner.waiting()} runs waiting, about "
                            f"{self.expected_wait_minutes()} minutes). Try again later.")
        problem = disk_problem(self.runs_dir, model, q)
        if problem:
            raise UserError(problem)

    def status_text(self, run: Run | None, snap: dict | None) -> str:
        """The status line of a run, with its queue position and wait, and when it will be removed."""
        if run is None:
            return status_markdown(None)
        pos = self.position(run)
        return status_markdown(snap, pos, self.expected_wait_minutes(run) if pos else None,
                               removal_time(run, self.quotas))

    def expected_wait_minutes(self, run: Run | None = None) -> int:
        """At most how many minutes until a run queued now (or `run`) starts."""
        return math.ceil(self.runner.wait_seconds(run) / 60)

    def retrain_with_fixes(self, owner: str, session_hash: str | None, run_id: str, row_edits: dict) -> Run:
        """A new run with a finished run's settings and the data check's row fixes, on the same data
        (loaded in step 1 of this session); the original run and the user's file stay untouched."""
        from ftapp.train.config import SETTINGS

        run = self.model_run(run_id, owner)
        data = self.session_data(session_hash)
        if not data or data.get("name") != run.settings.get("data_name"):
            raise UserError(f"Load the data of that run ({run.settings.get('data_name', 'its file')}) in step 1 "
                            "first, then press Retrain again.")
        if not row_edits:
            raise UserError("No fixes to retrain with: type a new label or tick drop in the table first.")
        settings = {k: v for k, v in run.settings.items() if k in SETTINGS}   # as asked: Auto decides again
        return self.start(owner, data, {**settings, "row_edits": {**(settings.get("row_edits") or {}), **row_edits}})

    def stop(self, owner: str, run_id: str | None) -> bool:
        run = self.run(run_id, owner)
        if run is None:
            return False
        return self.runner.stop(run.id, owner=owner)     # only ever your own run

    def resume(self, owner: str, run_id: str | None) -> Run:
        """Go on with a run whose training process died, from its last checkpoint."""
        run = self.run(run_id, owner)
        if run is None or run.owner != owner:
            raise UserError("That run does not exist or is not yours.")
        if not resumable(run):
            raise UserError("This run has no checkpoint to go on from (or its data is gone). Start it again.")
        self._check_quotas(owner, run.settings.get("model") or "")
        if not self.runner.resume_interrupted(run):
            raise UserError("This run cannot be resumed: its data is gone. Load it again and start a new run.")
        return run

    # ---- finished runs -------------------------------------------------------------------------
    def model_run(self, run_id: str | None, owner: str) -> Run:
        run = self.run(run_id, owner)
        if run is None:
            raise UserError("Pick one of your finished runs first." if not run_id else
                            "That run does not exist or is not yours.")
        if not run.has_model:
            raise UserError("This run has no model yet: its first model is ready seconds after training starts. "
                            "Wait a moment, or pick a finished run.")
        return run
