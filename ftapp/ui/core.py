"""The app's state and the operations the tabs and the API endpoints share.

No training math here: data loading, training, prediction and export are the engine's; this
module only decides *whose* data/run is meant, copies uploads into the session's folder and
turns engine objects into plain dicts. Every user-facing failure is a `UserError`.
"""
from __future__ import annotations

import atexit
import logging
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ftapp.data import UPLOAD_SUFFIXES, DataReport, Dataset, Limits, labels, load_dataset
from ftapp.errors import UserFacingError
from ftapp.data.hub import hub_display_name, is_hub_source
from ftapp.data.ingest import recheck
from ftapp.models.catalog import default_model, looks_like_local_path
from ftapp.runner import Runner
from ftapp.runs import Run, RunStore
from ftapp.ui import session as sess
from ftapp.ui.policy import Quotas, Retention, disk_problem, removal_time
from ftapp.ui.texts import status_markdown

log = logging.getLogger("ftapp.ui")

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "support_tickets": REPO_ROOT / "assets" / "examples" / "support_tickets.csv",
    "shapes": REPO_ROOT / "assets" / "examples" / "shapes.zip",
}


def _one_example_each(ds, width: int = 80) -> dict[str, str]:
    """One example per class, shortened (a text, or a picture's file name), for the class table."""
    out: dict[str, str] = {}
    for item, label in zip(ds.items, ds.labels) if ds is not None else ():
        if label not in out:
            text = os.path.basename(item) if ds.modality == "image" else " ".join(item.split())
            out[label] = text if len(text) <= width else text[: width - 1] + "…"
    return out


class UserError(UserFacingError):
    """A failure explained in plain words; shown as is."""


@dataclass
class AppContext:
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
        runner = Runner(store, limits=limits, allow_local_paths=not hosted, keep_inputs=True)
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
    def load_data(self, session_hash: str | None, source: str | None = None, example: str | None = None,
                  text_column: str | None = None, label_column: str | None = None,
                  path_column: str | None = None, keep: dict | None = None, hub: str | None = None):
        """Load an upload (copied into the session folder), a bundled example, a Hub dataset
        (hf://datasets/…), or re-load the session's current data with other columns (`keep`).
        Returns (data, ds, report_dict)."""
        s = self.files.get(session_hash)
        if hub:
            data_path, name = hub, hub_display_name(hub)
        elif example:
            path = EXAMPLES.get(example)
            if path is None:
                raise UserError(f"Unknown example '{example}'. Choose 'support_tickets' or 'shapes'.")
            if not path.exists():
                raise UserError("The bundled example is missing from this installation.")
            data_path, name = str(path), path.name
        elif source:
            name = os.path.basename(source)
            if not name.lower().endswith(UPLOAD_SUFFIXES):
                raise UserError(f"'{name}' is not a file ftapp can read. Upload a .zip of class folders "
                                "or a table (.csv, .tsv, .txt, .jsonl, .xlsx, .parquet).")
            # a fresh folder per upload: a queued run may still need the previous file
            in_use = self.active_data_paths()
            for old in s.dir.glob("upload-*"):
                if not any(sess.is_inside(p, old) for p in in_use):
                    shutil.rmtree(old, ignore_errors=True)
            upload_dir = s.dir / f"upload-{(s.data or {}).get('load_count', 0) + 1}-{os.urandom(3).hex()}"
            upload_dir.mkdir(parents=True)
            data_path = str(upload_dir / name)
            shutil.copyfile(source, data_path)
        elif keep and keep.get("path"):
            data_path, name = keep["path"], keep["name"]
            if not is_hub_source(data_path) and not os.path.exists(data_path):
                raise UserError("The uploaded file is gone (the page was reloaded or closed). Upload it again.")
        else:
            raise UserError("Upload a file or pick one of the examples first.")

        # a fresh extraction folder for the preview; the run extracts its own copy
        n = (s.data or {}).get("load_count", 0) + 1
        workdir = s.dir / f"work-{n}"
        for old in s.dir.glob("work-*"):
            shutil.rmtree(old, ignore_errors=True)
        ds, report = load_dataset(data_path, workdir=workdir, text_column=text_column or None,
                                  label_column=label_column or None, path_column=path_column or None,
                                  limits=self.limits)
        rep = report.to_dict()
        rep["source"] = name
        data = {"path": data_path, "name": name, "ok": bool(report.ok), "modality": report.modality,
                "text_column": report.text_column, "label_column": report.label_column,
                "path_column": report.path_column, "columns": list(report.columns or []),
                "class_counts": dict(report.class_counts or {}), "n_items": len(ds) if ds is not None else 0,
                # a sample of the texts: step 2 checks how well a model's tokenizer fits them
                "sample_texts": list(ds.items[:300]) if ds is not None and ds.modality == "text" else [],
                "load_count": n, "example": example or None,
                # the class editor works on these: the labels as loaded, one example each, the edits
                "raw_counts": dict(report.class_counts or {}), "class_examples": _one_example_each(ds),
                "rows": list(zip(ds.origins, ds.labels)) if ds is not None else [],
                "label_map": {}, "report": rep}
        s.data = data
        return data, ds, rep

    def edit_classes(self, session_hash: str | None, edits: dict) -> dict:
        """Compose `edits` (current class -> new name, None = drop; see ftapp.data.labels) onto the
        session's class edits; the class counts follow at once. Nothing is re-read or rewritten."""
        data = self.session_data(session_hash)
        if not data or not data.get("ok"):
            raise UserError("Load your data first.")
        label_map = labels.compose(data.get("label_map") or {}, edits) if edits is not None else {}
        counts = self.edited_counts(data, label_map)
        if len(counts) < 2:
            raise UserError("That would leave fewer than two classes; training needs at least two.")
        report = recheck(DataReport.from_dict(data["report"]), counts)
        data.update(label_map=label_map, class_counts=counts, edited_report=report.to_dict())
        return data

    @staticmethod
    def edited_counts(data: dict, label_map: dict) -> dict[str, int]:
        """The class counts after the row fixes and the class edits, through the one function training
        uses (labels.apply_edits) on the loaded rows' labels."""
        from collections import Counter

        rows = data.get("rows") or []
        ds = Dataset(data.get("modality") or "text", [""] * len(rows), [r[1] for r in rows], [r[0] for r in rows])
        edited, _, _ = labels.apply_edits(ds, labels.LabelEdits(row_edits=data.get("row_edits"), label_map=label_map))
        return dict(sorted(Counter(edited.labels).items()))

    def session_data(self, session_hash: str | None) -> dict | None:
        s = self.files.get(session_hash, create=False)
        return s.data if s else None

    # ---- training ------------------------------------------------------------------------------
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
                   text_column=data.get("text_column"),
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

    def check_data(self, session_hash: str | None, model: str | None = None) -> list[dict]:
        """Step 1's "Check my data": the session's data (with its class edits and row fixes) through
        ftapp/quality.py."""
        import tempfile

        from ftapp.quality import check_dataset

        data = self.session_data(session_hash)
        if not data or not data.get("ok"):
            raise UserError("Load your data first.")
        if self.hosted and model and looks_like_local_path(model):
            model = None
        with tempfile.TemporaryDirectory(prefix="ftapp-check-") as work:
            ds, _ = load_dataset(data["path"], workdir=work, text_column=data.get("text_column"),
                                 label_column=data.get("label_column"), path_column=data.get("path_column"),
                                 limits=self.limits)
            if ds is None:
                raise UserError("The data could not be read again. Load it again in step 1.")
            ds, _, _ = labels.apply_edits(ds, labels.LabelEdits(row_edits=data.get("row_edits"),
                                                                label_map=data.get("label_map")))
            return check_dataset(ds, model, allow_local_paths=not self.hosted)

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
