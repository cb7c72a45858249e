"""The session's data in the app: loading an upload, a bundled example or a Hub dataset into the
session's folder, the class editor's edits and counts, and the data check. No training here: the
data layer reads, ftapp.data.labels edits, ftapp.quality checks.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ftapp.data import UPLOAD_SUFFIXES, DataReport, Dataset, labels, load_dataset
from ftapp.data.hub import hub_display_name, is_hub_source
from ftapp.data.ingest import recheck
from ftapp.errors import UserFacingError as UserError   # the app's failures explained in plain words
from ftapp.models.catalog import looks_like_local_path
from ftapp.train.config import TASKS
from ftapp.ui import session as sess


REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "support_tickets": REPO_ROOT / "assets" / "examples" / "support_tickets.csv",
    "shapes": REPO_ROOT / "assets" / "examples" / "shapes.zip",
    "drums": REPO_ROOT / "assets" / "examples" / "drums.zip",
}


def _one_example_each(ds, width: int = 80) -> dict[str, str]:
    """One example per class, shortened (a text, or a picture's file name), for the class table."""
    out: dict[str, str] = {}
    for item, label in zip(ds.items, ds.labels) if ds is not None else ():
        if label not in out:
            text = " ".join(item.split()) if ds.modality == "text" else os.path.basename(item)
            out[label] = text if len(text) <= width else text[: width - 1] + "…"
    return out


def run_task(data: dict) -> str:
    """What a run trains on the loaded data: one class, several labels or a number per example, as
    step 1 shows it."""
    return data["task"] if data.get("task") in (TASKS.single, TASKS.multi, TASKS.regression) else TASKS.single


class SessionData:
    """The data side of AppContext (a mixin: it reads self.files, self.limits, self.hosted and
    self.active_data_paths())."""

    def load_data(self, session_hash: str | None, source: str | None = None, example: str | None = None,
                  text_column: str | None = None, label_column: str | None = None,
                  path_column: str | None = None, keep: dict | None = None, hub: str | None = None,
                  task: str | None = None):
        """Load an upload (copied into the session folder), a bundled example, a Hub dataset
        (hf://datasets/…), or re-load the session's current data with other columns or another
        answer (`keep`; `task`: one class or several labels per example, else as chosen before, else
        read off the label column). Returns (data, ds, report_dict)."""
        task = task or (keep or {}).get("task_choice") or TASKS.auto
        s = self.files.get(session_hash)
        if hub:
            data_path, name = hub, hub_display_name(hub)
        elif example:
            path = EXAMPLES.get(example)
            if path is None:
                raise UserError(f"Unknown example '{example}'. Choose one of: {', '.join(repr(e) for e in EXAMPLES)}.")
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
                                  limits=self.limits, task=task)
        rep = report.to_dict()
        rep["source"] = name
        data = {"path": data_path, "name": name, "ok": bool(report.ok), "modality": report.modality,
                "text_column": report.text_column, "label_column": report.label_column,
                "path_column": report.path_column, "columns": list(report.columns or []),
                "class_counts": dict(report.class_counts or {}), "n_items": len(ds) if ds is not None else 0,
                # a sample of the texts: step 2 checks how well a model's tokenizer fits them
                "sample_texts": list(ds.items[:300]) if ds is not None and ds.modality == "text" else [],
                "load_count": n, "example": example or None, "task_choice": task,
                "task": report.details.get("task", TASKS.single),   # what a run trains
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
                                 limits=self.limits, task=run_task(data))
            if ds is None:
                raise UserError("The data could not be read again. Load it again in step 1.")
            ds, _, _ = labels.apply_edits(ds, labels.LabelEdits(row_edits=data.get("row_edits"),
                                                                label_map=data.get("label_map")))
            return check_dataset(ds, model, allow_local_paths=not self.hosted)

