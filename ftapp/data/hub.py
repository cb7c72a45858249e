"""Data through the `datasets` library: a dataset on the Hugging Face Hub, a Parquet file, or a folder
written by `Dataset.save_to_disk`. Each becomes the same `Table` an uploaded CSV becomes, so the
column pickers, limits and report are the ones every upload gets:

- class-label columns (integers with names) become their names;
- picture columns (the `Image` feature) are written out as files, and the column holds their names;
- anything else that is not text (numbers, lists) becomes its text form.

A Hub dataset is named `hf://datasets/OWNER/NAME?config=C&split=S` (config and split optional), one
string that travels through settings, the CLI and the API like a file path. Before downloading,
one short request (no retries) checks that the Hub answers and the dataset exists, so no network
means one clear line in seconds rather than a minute of retries.
"""
from __future__ import annotations

import io
import logging
import os
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd

from .report import DataReport, Limits, human_size
from .text import Table, cell_str

log = logging.getLogger(__name__)

HUB_SCHEME = "hf://datasets/"
CHECK_TIMEOUT_S = 8
PICTURE_FOLDER = "pictures"


def is_hub_source(source) -> bool:
    return str(source).startswith(HUB_SCHEME)


def hub_source(dataset_id: str, config: str | None = None, split: str | None = None) -> str:
    """The one-string form of a Hub dataset (what the UI's three boxes build)."""
    query = "&".join(f"{k}={quote(v.strip())}" for k, v in (("config", config), ("split", split)) if v and v.strip())
    return HUB_SCHEME + dataset_id.strip().strip("/") + (f"?{query}" if query else "")


def parse_hub_source(source: str) -> tuple[str, str | None, str | None]:
    parts = urlsplit(source[len(HUB_SCHEME):])
    query = parse_qs(parts.query)
    dataset_id = (parts.netloc + parts.path).strip("/")
    return dataset_id, (query.get("config") or [None])[0], (query.get("split") or [None])[0]


def hub_display_name(source: str) -> str:
    dataset_id, config, split = parse_hub_source(source)
    return dataset_id + (f" [{config}]" if config else "") + (f" ({split})" if split else "")


def _datasets():
    import datasets

    datasets.disable_progress_bars()   # the report says what happened; bars on stderr are noise in the CLI
    datasets.logging.set_verbosity_error()
    return datasets


# ---- reading ------------------------------------------------------------------------------------

def read_hub_dataset(source: str, workdir: str, report: DataReport, limits: Limits) -> Table | None:
    dataset_id, config, split = parse_hub_source(source)
    name = report.source
    if dataset_id.count("/") > 1 or not dataset_id or " " in dataset_id:
        report.error(name, "is not a Hub dataset name. Write it like 'owner/name' (as on huggingface.co/datasets).")
        return None
    if not _hub_answers(dataset_id, name, report, limits):
        return None
    datasets = _datasets()
    try:
        configs = datasets.get_dataset_config_names(dataset_id)
        if config is None and len(configs) > 1:
            report.error(name, f"has several parts (configs): {', '.join(configs[:12])}. Pick one in the config box.")
            return None
        if config is not None and config not in configs:
            report.error(name, f"has no config '{config}'. It has: {', '.join(configs[:12])}.")
            return None
        splits = datasets.get_dataset_split_names(dataset_id, config)
        split = _pick_split(split, splits, name, report)
        if split is None:
            return None
        ds = datasets.load_dataset(dataset_id, config, split=split)   # the shared cache: a run re-reads it free
    except Exception as exc:   # noqa: BLE001 — the library's errors are many; the user needs one line
        log.info("Hub dataset %s failed: %r", dataset_id, exc)
        report.error(name, f"could not be loaded from the Hub ({type(exc).__name__}: {str(exc)[:200]}). Check the "
                           "name, config and split on huggingface.co/datasets.")
        return None
    return table_from_datasets(ds, name, workdir, report)


def _hub_answers(dataset_id: str, name: str, report: DataReport, limits: Limits) -> bool:
    """One request, a short timeout: does the Hub answer, does the dataset exist, does it fit?"""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError

    try:
        info = HfApi().dataset_info(dataset_id, timeout=CHECK_TIMEOUT_S, files_metadata=True)
    except OfflineModeIsEnabled:
        report.error(name, "cannot be fetched: this app runs offline (HF_HUB_OFFLINE is set). Upload the data "
                           "as a file instead.")
        return False
    except GatedRepoError:
        report.error(name, "is gated on the Hub: accept its terms on huggingface.co and log in, or upload a copy.")
        return False
    except RepositoryNotFoundError:
        report.error(name, "was not found on the Hub (or it is private). Check the name on huggingface.co/datasets.")
        return False
    except Exception as exc:   # noqa: BLE001 — connection refused, DNS, timeouts: all mean "no Hub"
        log.info("Hub check for %s failed: %r", dataset_id, exc)
        report.error(name, "cannot be fetched: the Hugging Face Hub did not answer (no internet connection?). "
                           "Upload the data as a file instead.")
        return False
    size = sum(s.size or 0 for s in info.siblings or [])
    if size > limits.max_upload_bytes * 4:   # files of all configs and splits; one split is a fraction
        report.error(name, f"is {human_size(size)} on the Hub, too large for this app (limit about "
                           f"{human_size(limits.max_upload_bytes)} a split). Upload a sample as a file.")
        return False
    return True


def _pick_split(split, splits: list[str], name: str, report: DataReport) -> str | None:
    if split is not None:
        if split not in splits:
            report.error(name, f"has no split '{split}'. It has: {', '.join(splits)}.")
            return None
        return split
    chosen = "train" if "train" in splits else splits[0]
    if len(splits) > 1:
        report.warn(name, f"has the splits {', '.join(splits)}; '{chosen}' was used. Add ?split=… (or fill the "
                          "split box) for another; a separate test split makes a good test file.")
    return chosen


def read_parquet(path: str, name: str, workdir: str, report: DataReport) -> Table | None:
    datasets = _datasets()

    try:   # through `datasets`, which reads the column types (class names, pictures) a Hub export keeps
        ds = datasets.Dataset.from_parquet(path, cache_dir=os.path.join(workdir, "hf-cache"), keep_in_memory=True)
    except Exception as exc:   # noqa: BLE001
        log.info("parquet %s failed: %r", path, exc)
        report.error(name, "could not be read as a Parquet file (it may be damaged). Save it again, or as CSV.")
        return None
    return table_from_datasets(ds, name, workdir, report)


def is_saved_dataset(folder: str) -> bool:
    """A folder `Dataset.save_to_disk` (or `DatasetDict.save_to_disk`) wrote."""
    has = lambda f: os.path.isfile(os.path.join(folder, f))   # noqa: E731
    return has("dataset_dict.json") or (has("dataset_info.json") and has("state.json"))


def read_saved_dataset(folder: str, name: str, workdir: str, report: DataReport) -> Table | None:
    datasets = _datasets()

    try:
        ds = datasets.load_from_disk(folder, keep_in_memory=True)
    except Exception as exc:   # noqa: BLE001
        log.info("saved dataset %s failed: %r", folder, exc)
        report.error(name, "looks like a saved `datasets` folder but could not be read. Save it again.")
        return None
    if isinstance(ds, datasets.DatasetDict):
        split = _pick_split(None, list(ds), name, report)
        ds = ds[split]
    return table_from_datasets(ds, name, workdir, report)


# ---- the conversion ---------------------------------------------------------------------------

def table_from_datasets(ds, name: str, workdir: str, report: DataReport) -> Table | None:
    """A `datasets.Dataset` as a Table of strings: class labels by name, pictures as files."""
    import datasets

    if ds.num_rows == 0:
        report.error(name, "has no rows.")
        return None
    columns = {}
    for col, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            columns[col] = _write_pictures(ds.cast_column(col, datasets.Image(decode=False))[col], col, workdir)
        elif isinstance(feature, datasets.ClassLabel):
            columns[col] = ["" if v is None or v < 0 else feature.int2str(int(v)) for v in ds[col]]
        else:
            columns[col] = [cell_str(v) for v in ds[col]]
    df = pd.DataFrame(columns, dtype=object)
    return Table(name, df, [f"{name} row {i + 1}" for i in range(len(df))])


def _write_pictures(values: list[dict | None], col: str, workdir: str) -> list[str]:
    """Each picture to PICTURE_FOLDER/<col>-<row>.<ext>; the table holds the path relative to workdir."""
    folder = os.path.join(workdir, PICTURE_FOLDER)
    os.makedirs(folder, exist_ok=True)
    names = []
    for i, value in enumerate(values):
        data = (value or {}).get("bytes")
        if not data:
            names.append("")
            continue
        ext = os.path.splitext((value or {}).get("path") or "")[1].lower() or _sniff(data)
        rel = f"{PICTURE_FOLDER}/{col}-{i:06d}{ext}"
        with open(os.path.join(workdir, rel), "wb") as f:
            f.write(data)
        names.append(rel)
    return names


def _sniff(data: bytes) -> str:
    from PIL import Image

    try:
        fmt = Image.open(io.BytesIO(data)).format or "PNG"
    except Exception:  # noqa: BLE001 — check_image says why later, with the row
        return ".png"
    return {"JPEG": ".jpg", "TIFF": ".tif"}.get(fmt, "." + fmt.lower())
