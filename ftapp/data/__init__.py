"""Data ingestion for ftapp: turns a user's zip / folder / table into a checked Dataset plus a
plain-language DataReport.  Pure PIL / pandas / scikit-learn / stdlib (no torch, no gradio), so the
CLI and the web app share it.

    ds, report = load_dataset("photos.zip", workdir=tmp)
    if report.ok:
        train, val, problems = train_val_split(ds)
        problems += find_leaks(train, val)
"""
from .images import IMAGE_EXTENSIONS, ImageError, open_image
from .ingest import UPLOAD_SUFFIXES, load_dataset
from .report import DataReport, Dataset, Limits, Problem
from .split import duplicate_groups, find_leaks, train_val_split

__all__ = ["UPLOAD_SUFFIXES", "Problem", "DataReport", "Dataset", "Limits", "load_dataset", "train_val_split", "find_leaks",
           "duplicate_groups", "open_image", "IMAGE_EXTENSIONS", "ImageError"]
