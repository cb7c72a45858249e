"""File names of a run folder and a model folder, and writing them safely. No imports of ftapp.

A run folder (an app run, or `ftapp train --out`) is also the model folder: the model's files sit
beside the run's records, so the folder loads with `transformers.pipeline` as it is. Each name is
spelled here once; `ftapp.runs.RunFolder` reads and writes them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

# ---- a run's records -----------------------------------------------------------------------------
SETTINGS = "settings.json"            # {"id", "owner", "created", "settings": what the user asked for}
STATUS = "status.json"                # Run.summary(), rewritten on every status/phase/info/best/settings event
EVENTS = "metrics.jsonl"              # every event, one JSON line each (progress at most every second)
EVENTS_BEFORE_RESTART = "metrics-before-restart.jsonl"   # a restarted run's cut-off curves
METRICS = "metrics.json"              # headline numbers of the model kept (the first model, then the final)
REPORT = "report.json"                # evaluation on the validation split (evaluate.evaluation_report)
TEST_REPORT = "test_report.json"      # the same on the held-out test slice (nothing was chosen on it)
TEST_FILE_REPORT = "test_file_report.json"   # the same on --test-data
LEARNING_CURVE = "learning_curve.json"      # the fitted head at growing shares of the training data
CANDIDATES = "candidates.json"        # what the run compared: the first model, Auto's candidates, their scores
PUBLISHED = "published.json"          # Hub repositories the model / its demo Space were pushed to
SHARE = "share.json"                  # the run's demo link: token, created, revoked, allow_download
DATA_REPORT = "data_report.json"      # what ingestion found
LABEL_ISSUES = "label_issues.csv"     # likely label errors, near-duplicates, outliers (ftapp/quality.py)
CLEANED_DATA = "cleaned_data.csv"     # the training + validation data with the suggested labels applied
ERROR_LOG = "error.log"               # the traceback of an unexpected failure
EXAMPLES = "examples"                 # validation pictures the app shows (uploads are temporary)
INPUTS = "input"                      # a queued run's own copy of its data file
WORKER_LOG = "worker.log"             # what a run's worker process printed (its stderr)
WORKER_LOCK = "worker.lock"           # held by the run's worker process for its whole life
CHECKPOINT = "checkpoint-{step}.pt"  # the resumable training state at a step (ftapp.train.checkpoint)
CHECKPOINT_INFO = "checkpoint.json"   # which of them is complete, and what it holds: step, epoch, recipe
                                      # (read without torch); a run is resumable when this file exists
MODEL_TMP = ".model-tmp"              # a model being written; moved into place file by file

# ---- a model folder --------------------------------------------------------------------------------
MODEL_META = "ftapp_model.json"       # kind, modality, labels, source: what ftapp's loader reads
SENTENCE_HEAD = "ftapp_head.safetensors"   # a sentence-embedding model's classification head

# ---- an ONNX export --------------------------------------------------------------------------------
ONNX_MODEL = "model.onnx"
ONNX_INT8 = "model.int8.onnx"         # the same graph with int8 weights (onnxruntime's dynamic quantisation)
ONNX_CHECK = "onnx_check.json"        # onnxruntime against torch on validation examples
ONNX_PREPROCESSING = "preprocessing.json"


def atomic_write(path: Path, write) -> None:
    """write(tmp_path), then rename over `path`: a kill while writing leaves the old file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def atomic_write_json(path: Path, data) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str)))


def read_json(path: Path):
    """The JSON in `path`, or None when it is missing or unreadable (half-written by a crash)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
