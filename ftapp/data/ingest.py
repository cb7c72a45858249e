"""`load_dataset`: the single entry point, dispatching on what the user gave us.

    .zip            -> safe extraction into workdir, then treated like a folder
    folder          -> one table file inside?  table.  Otherwise class folders
                       (the folders that directly hold pictures / .txt files are the classes)
    table file      -> text table, or image table when a column holds picture file names
    hf://datasets/… -> a Hub dataset; it, a .parquet file and a `save_to_disk` folder are read
                       through `datasets` (hub.py) into the same table

Nothing here raises for bad user data: every problem goes into the DataReport
and the Dataset is None whenever there is an error.
"""
from __future__ import annotations

import copy
import logging
import os
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass

from ftapp.train.config import TASKS

from .archive import ARCHIVE_EXTENSIONS, is_junk, note_junk, safe_extract
from .hub import (hub_display_name, is_hub_source, is_saved_dataset, read_hub_dataset, read_parquet,
                  read_saved_dataset)
from .labels import label_key
from .task import decide_task, describe as describe_task, guess_task, label_counts, not_numbers, task_warning
from .audio import AUDIO_EXTENSIONS, inspect as inspect_audio, summarise as summarise_audio
from .images import IMAGE_EXTENSIONS, check_image, unsupported_reason
from .report import DataReport, Dataset, Limits, display_name, examples_noun, human_size
from .text import (OLD_EXCEL, LABEL_NAMES, PATH_NAMES, TABLE_EXTENSIONS, Table, choose_text_columns, complete_rows,
                   encoding_warning, find_column, fold_flag_columns, is_id_column, normalise_numeric_labels, read_table,
                   read_text_file, resolve_chosen, text_examples_from_table, truncation_message)

log = logging.getLogger(__name__)

MIN_PER_CLASS = 5
GROUP_AFTER = 3        # more warnings of one kind than this become one line with a count
MAX_IMBALANCE = 10.0
# Table files that can sit inside a zip/folder.  ".txt" is excluded: inside folders, .txt files are examples.
INNER_TABLE_EXTENSIONS = TABLE_EXTENSIONS - {".txt"}
# What an upload may be: a zip of class folders, a table, or a Parquet file (old spreadsheet formats are
# accepted too, and answered with how to save them in a format that can be read).
UPLOAD_SUFFIXES = tuple(sorted({".zip", ".parquet"} | TABLE_EXTENSIONS | OLD_EXCEL))
_TWIN = re.compile(r"^(.*) \((\d+)\)$")   # how text.py names a repeated column header
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def load_dataset(source: str | os.PathLike, *, workdir: str | os.PathLike, modality: str | None = None,
                 text_column: str | None = None, label_column: str | None = None,
                 path_column: str | None = None, limits: Limits = Limits(),
                 task: str = TASKS.auto) -> tuple[Dataset | None, DataReport]:
    """`task`: "single", "multi" (several labels per example) or "auto" (read off the label column)."""
    if modality not in (None, "image", "text", "audio"):
        raise ValueError("modality must be None, 'image', 'text' or 'audio'")  # caller's bug, not the user's data
    source = os.fspath(source)
    report = DataReport(source=hub_display_name(source) if is_hub_source(source) else display_name(source))
    try:
        ds = _load(source, os.fspath(workdir), modality, text_column, label_column, path_column, limits, report)
    except Exception:  # last safety net: a bug must not look like a crash to the user
        log.exception("unexpected failure while loading %s", source)
        report.error(report.source, "could not be read because of an unexpected problem in this app. "
                                    "Try saving the data again (e.g. as CSV or a fresh zip); if that does not "
                                    "help, please report it.")
        ds = None
    if ds is not None:
        report.details["n_loading_problems"] = len(report.problems)
        _final_checks(ds, report, task)
    if not report.ok:
        ds = None
    return ds, report


def recheck(report: DataReport, counts: dict[str, int]) -> DataReport:
    """The report after class edits: the loading problems kept, the class checks redone on `counts`."""
    redone = copy.deepcopy(report)
    redone.problems = redone.problems[:report.details.get("n_loading_problems", len(report.problems))]
    redone.details = {k: v for k, v in redone.details.items() if k == "n_loading_problems"}
    check_classes(redone, counts, report.details.get("task", TASKS.auto))
    return redone


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

def _load(source, workdir, modality, text_column, label_column, path_column, limits, report) -> Dataset | None:
    name = report.source
    pickers = dict(modality=modality, text_column=text_column, label_column=label_column, path_column=path_column,
                   limits=limits, report=report)
    if is_hub_source(source):
        return _load_via_datasets(lambda d: read_hub_dataset(source, d, report, limits), name, workdir, "hub", pickers)
    if not os.path.exists(source):
        report.error(name, "could not be found. Check the file or folder name.")
        return None
    os.makedirs(workdir, exist_ok=True)

    if os.path.isdir(source) and is_saved_dataset(source):
        return _load_via_datasets(lambda d: read_saved_dataset(source, name, d, report), name, workdir, "saved",
                                  pickers)
    if os.path.isdir(source):
        return _load_folder(source, f"{name}/", upload_root=source, modality=modality, text_column=text_column,
                            label_column=label_column, path_column=path_column, limits=limits, report=report,
                            unpacked_zip=False)

    size = os.path.getsize(source)
    if size > limits.max_upload_bytes:
        report.error(name, f"is {human_size(size)}, more than the {human_size(limits.max_upload_bytes)} "
                           f"allowed. Upload fewer or smaller files.")
        return None
    if size == 0:
        report.error(name, "is empty (0 bytes). Check that you picked the right file.")
        return None

    ext = os.path.splitext(source)[1].lower()
    # Browsers and upload widgets sometimes lose the extension: recognise a zip by its content too.
    if ext == ".zip" or (ext not in TABLE_EXTENSIONS and zipfile.is_zipfile(source)
                         and ext not in (".xlsx", ".xlsm")):
        root = safe_extract(source, workdir, limits, report, name)
        if root is None:
            return None
        return _load_folder(root, f"{name}:", upload_root=root, modality=modality, text_column=text_column,
                            label_column=label_column, path_column=path_column, limits=limits, report=report,
                            unpacked_zip=True)
    if ext == ".parquet":
        return _load_via_datasets(lambda d: read_parquet(source, name, d, report), name, workdir, "parquet", pickers)
    if ext in TABLE_EXTENSIONS or ext in OLD_EXCEL:
        # A table uploaded on its own: in hosted mode it may not point at pictures on the server.
        upload_root = os.path.dirname(os.path.abspath(source)) if limits.allow_local_paths else None
        return _load_table(source, name, upload_root, modality, text_column, label_column, path_column,
                           limits, report)
    if ext in IMAGE_EXTENSIONS:
        report.error(name, "is a single picture. Upload a zip (or folder) with one sub-folder per class, "
                           "each holding pictures of that class.")
        return None
    report.error(name, f"is a '{ext or 'no extension'}' file, which cannot be used. Upload a .zip of class "
                       f"folders, or a table (.csv, .tsv, .txt, .xlsx, .jsonl, .parquet).")
    return None


def _load_via_datasets(read, name, workdir, sub, pickers) -> Dataset | None:
    """A table read through `datasets` into workdir/sub (its pictures too), then the usual table path."""
    folder = os.path.join(workdir, sub)
    os.makedirs(folder, exist_ok=True)
    table = read(folder)
    if table is None:
        return None
    return _load_table(os.path.join(folder, "table"), name, folder, table=table, **pickers)


def _walk(root: str, report: DataReport, limits: Limits, label: str, check_caps: bool) -> list[str] | None:
    """All user files under root (relative paths, sorted); OS junk is noted, not returned.

    check_caps: apply the file-count and size caps (for folders; an unpacked zip was already
    checked against its own caps before extraction).
    """
    files, junk = [], []
    total = 0
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        kept = []
        for d in sorted(dirnames):
            if is_junk(d):  # __MACOSX/, .git/ ...: not walked
                junk.append(d + "/")
            else:
                kept.append(d)
        dirnames[:] = kept  # os.walk descends only into what is left here
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if is_junk(fn):
                junk.append(rel)
                continue
            if os.path.islink(full):
                real = os.path.realpath(full)
                if not limits.allow_local_paths and not real.startswith(real_root + os.sep):
                    report.skip(rel, "is a shortcut to a file outside the upload, so it was left out.")
                    continue
            files.append(rel)
            try:
                total += os.path.getsize(full)
            except OSError:
                pass
            if check_caps and len(files) > limits.max_members:
                report.error(label, f"holds more than {limits.max_members:,} files, the limit. Use fewer files.")
                return None
    if check_caps and total > limits.max_upload_bytes:
        report.error(label, f"holds {human_size(total)} of files, more than the "
                            f"{human_size(limits.max_upload_bytes)} allowed. Use fewer or smaller files.")
        return None
    note_junk(report, label, junk)
    return files


def _load_folder(root, origin_prefix, upload_root, modality, text_column, label_column, path_column,
                 limits, report, unpacked_zip: bool) -> Dataset | None:
    files = _walk(root, report, limits, report.source, check_caps=not unpacked_zip)
    if files is None:
        return None
    if not files:
        report.error(report.source, "contains no files. Add one sub-folder per class with your pictures "
                                    "or .txt files in it.")
        return None

    def ext(f):
        return os.path.splitext(f)[1].lower()

    tables = [f for f in files if ext(f) in INNER_TABLE_EXTENSIONS | OLD_EXCEL]
    txts = [f for f in files if ext(f) == ".txt"]
    images = [f for f in files if ext(f) in IMAGE_EXTENSIONS]
    sounds = [f for f in files if ext(f) in AUDIO_EXTENSIONS]
    in_class_folders = [f for f in txts + images + sounds if "/" in f]
    # A lone .txt at the top with no class folders is a delimited table, not an example.
    if not tables and not in_class_folders and len(txts) == 1:
        tables = txts

    if len(tables) == 1 and not _table_is_side_note(root, tables[0], images + sounds, modality, path_column, limits):
        t = tables[0]
        if len(files) > 1 and not images and not sounds:
            others = [f for f in files if f != t][:3]
            report.warn(report.source, f"the table {t} was used; other files were ignored "
                                       f"(for example {', '.join(others)}).")
        return _load_table(os.path.join(root, t), t, upload_root, modality, text_column, label_column,
                           path_column, limits, report, inside_upload=True)
    if tables and in_class_folders:
        # Class folders win; a table next to them (notes, an index without file names) is not an example.
        report.warn(", ".join(tables[:3]), "was not used: the examples were taken from the class folders. "
                                           "To use a table instead, give it a column with the file names.")
        files = [f for f in files if f not in tables]
    elif len(tables) > 1:
        report.error(report.source, f"holds several tables ({', '.join(tables[:5])}) and it is unclear which "
                                    f"one to use. Upload just one table.")
        return None

    if modality is None:
        if not images and not txts and not sounds:
            kinds = Counter(ext(f) or "(no extension)" for f in files)
            report.error(report.source, "contains no pictures, recordings or .txt files (found: "
                                        + ", ".join(f"{n} {e}" for e, n in kinds.most_common(5))
                                        + "). Put your examples in one sub-folder per class.")
            return None
        # the most common kind of example decides; the others are listed as skipped
        modality = max((("image", len(images)), ("audio", len(sounds)), ("text", len(txts))), key=lambda c: c[1])[0]
    report.modality = modality
    return _load_class_folders(root, files, origin_prefix, modality, limits, report)


def _table_is_side_note(root: str, table: str, media: list[str], modality, path_column, limits) -> bool:
    """A table inside a zip that also has picture or recording class folders is only used if it lists
    such files."""
    if modality == "text" or path_column or not any("/" in f for f in media):
        return False
    probe = read_table(os.path.join(root, table), table, DataReport(source=table), limits)  # scratch report
    return probe is None or _detect_path_column(probe, exclude=set())[0] is None


def _load_class_folders(root: str, files: list[str], origin_prefix: str, modality: str, limits: Limits,
                        report: DataReport) -> Dataset | None:
    """The folder that directly holds an example is its class, at any depth."""
    want = {"image": IMAGE_EXTENSIONS, "audio": AUDIO_EXTENSIONS}.get(modality, {".txt"})
    items, labels, origins = [], [], []
    sounds: list[dict] = []   # recordings: what inspect_audio found of each kept one, for the report
    class_dirs: dict[str, set[str]] = defaultdict(set)
    at_top = 0
    fallback_files: list[str] = []
    n_cut, first_cut = 0, None
    for rel in files:
        full = os.path.join(root, rel)
        e = os.path.splitext(rel)[1].lower()
        if e in ARCHIVE_EXTENSIONS:
            report.skip(rel, "is an archive inside the upload, which is not opened. Unzip it and include "
                             "its folders instead.")
            continue
        if e not in want:
            if modality in KIND_OF:
                report.skip(rel, KIND_OF[modality].unsupported(rel))
            else:
                report.skip(rel, "is not a .txt file; in a folder of texts only .txt files are used "
                                 "(one example per file).")
            continue
        parent = os.path.dirname(rel)
        if not parent:
            at_top += 1
            report.skip(rel, "is not inside a class folder, so its class is unknown. Put it in a folder "
                             "named after its class (for example cats/ or dogs/).")
            continue
        if modality in KIND_OF:   # pictures, recordings: checked once here (recordings: their facts kept)
            reason, facts = KIND_OF[modality].check(full, limits)
            if reason:
                report.skip(rel, reason)
                continue
            if facts is not None:
                sounds.append(facts)
            item = os.path.abspath(full)
        else:
            try:
                if os.path.getsize(full) == 0:
                    report.skip(rel, "is empty (0 bytes) and was left out.")
                    continue
                text, fallback = read_text_file(full)
            except OSError:
                report.skip(rel, "could not be read and was left out.")
                continue
            if not text:
                report.skip(rel, "contains no text (only spaces or empty lines) and was left out.")
                continue
            if fallback:
                fallback_files.append(rel)
                fallback_used = fallback
            if len(text) > limits.max_text_chars:
                text = text[: limits.max_text_chars]
                n_cut += 1
                first_cut = first_cut or rel
            item = text
        cls = os.path.basename(parent).strip()
        class_dirs[cls].add(parent)
        items.append(item)
        labels.append(cls)
        origins.append(origin_prefix + rel)

    if fallback_files:
        report.warn(fallback_files[0], f"{len(fallback_files)} file(s) " + encoding_warning(fallback_used)
                    .replace("is not saved", "are not saved", 1))
    if n_cut:
        report.warn(first_cut, truncation_message(n_cut, limits))
    for cls, dirs in sorted(class_dirs.items()):
        if len(dirs) > 1:
            shown = ", ".join(f"'{d}/'" for d in sorted(dirs)[:4])
            report.warn(f"class '{cls}'", f"the folders {shown} have the same name, so their contents were put "
                                          f"together in one class '{cls}'. Rename a folder if they are different "
                                          f"classes.")
    if items and modality == "audio":
        report.details["audio"] = summarise_audio(sounds, labels)
    if not items:
        what = {"image": "pictures", "audio": "recordings"}.get(modality, ".txt files")
        if at_top:
            report.error(report.source, f"the {what} are not inside class folders. Make one sub-folder per class "
                                        f"(for example cats/ and dogs/) and put each example in its class folder.")
        else:
            report.error(report.source, f"contains no usable {what}. See the skipped files for the reasons.")
        return None
    return Dataset(modality, items, labels, origins)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def _load_table(path, table_name, upload_root, modality, text_column, label_column, path_column, limits,
                report, inside_upload: bool = False, table: Table | None = None) -> Dataset | None:
    table = table or read_table(path, table_name, report, limits)
    if table is None:
        return None
    cols = list(table.df.columns)
    report.columns = cols
    if table.df.empty:
        report.error(table_name, "has a header row but no examples below it. Add rows with your examples.")
        return None

    ok, pcol = resolve_chosen(path_column, cols, "file", table_name, report)
    if not ok:
        return None
    kind = None
    if modality == "text":
        pcol = None
    elif pcol is None:
        pcol, kind = _detect_path_column(table, exclude={text_column, label_column}, modality=modality)
    else:   # chosen: its cells say what the files are
        kind = KIND_OF.get(modality) or max(FILE_KINDS, key=lambda k: _share_named(table.df[pcol].head(200), k))
    if modality in KIND_OF and pcol is None:
        noun = KIND_OF[modality].noun
        report.error(table_name, f"has no column with {noun} file names. Columns found: "
                                 f"{', '.join(repr(c) for c in cols)}. Add a column 'path' with the {noun} "
                                 f"file names, or pick it in the file column setting.")
        return None

    folded = None
    if not label_column and find_column(cols, LABEL_NAMES, {text_column, pcol}) is None:
        folded = label_column = fold_flag_columns(table, report, exclude={text_column, pcol},
                                                  free=int(pcol is None and not text_column))
    if pcol is not None:
        report.modality = kind.modality
        report.path_column = pcol
        ds = _file_table(table, pcol, kind, label_column, path, upload_root, limits, report,
                         note_unlisted=inside_upload)
        _note_duplicate_columns(table.name, cols, report)
        report.label_column = None if folded else report.label_column   # not a column of the file
        return ds

    report.modality = "text"
    tcol, lcol = choose_text_columns(table, text_column, label_column, report)
    report.text_column, report.label_column = tcol, None if folded else lcol
    if tcol is None:
        return None
    texts, labels, origins = text_examples_from_table(table, tcol, lcol, report, limits)
    if not texts:
        report.error(table_name, f"has no rows with both a text (column '{tcol}') and a label "
                                 f"(column '{lcol}'). Fill in those columns.")
        return None
    _note_duplicate_columns(table_name, cols, report)
    return Dataset("text", texts, labels, origins)


def _note_duplicate_columns(table_name: str, cols: list[str], report: DataReport) -> None:
    """Two columns of one name are read as 'label' and 'label (2)': say which one is used."""
    def base(c: str) -> str:
        m = _TWIN.match(c)
        return m.group(1) if m and m.group(1) in cols else c

    for used in dict.fromkeys(c for c in (report.text_column, report.label_column, report.path_column) if c):
        same = [c for c in cols if base(c) == base(used)]
        if len(same) > 1:
            others = ", ".join(f"'{c}'" for c in same if c != used)
            report.warn(table_name, f"has {len(same)} columns named '{base(used)}'; the one used is shown as "
                                    f"'{used}', the other as {others}. To use another, pick it in the column "
                                    f"settings.")


@dataclass(frozen=True)
class FileKind:
    """What a table's file column may name: pictures or recordings, and how each file is checked."""
    modality: str
    noun: str                       # "picture", "recording"
    extensions: frozenset

    def named(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self.extensions

    def unsupported(self, name: str) -> str:
        if self.modality == "image":
            return unsupported_reason(name)
        return f"is not a recording this app reads; use {', '.join(sorted(self.extensions))} files."

    def check(self, full: str, limits: Limits) -> tuple[str | None, dict | None]:
        """(why the file cannot be used, or None; a recording's facts for the report)."""
        if self.modality == "image":
            return check_image(full, limits.max_image_pixels), None
        return inspect_audio(full)


FILE_KINDS = (FileKind("image", "picture", frozenset(IMAGE_EXTENSIONS)),
              FileKind("audio", "recording", frozenset(AUDIO_EXTENSIONS)))
KIND_OF = {k.modality: k for k in FILE_KINDS}


def _share_named(values, kind: FileKind) -> float:
    vals = [str(v).strip() for v in values if str(v).strip()]
    if not vals:
        return 0.0
    return sum(kind.named(v) for v in vals) / len(vals)


def _detect_path_column(table: Table, exclude: set, modality: str | None = None) -> tuple[str | None, FileKind | None]:
    """The column that names the examples' files (pictures or recordings), and what they are."""
    cols = [c for c in table.df.columns if c not in exclude]
    sample = table.df.head(200)
    by_name = find_column(cols, PATH_NAMES)
    kinds = [k for k in FILE_KINDS if modality in (None, k.modality)]
    for kind in kinds:
        if by_name is not None and _share_named(sample[by_name], kind) >= 0.5:
            return by_name, kind
    for kind in kinds:
        for c in cols:  # any column that mostly holds such file names
            if _share_named(sample[c], kind) >= 0.8:
                return c, kind
    return None, None


def _file_table(table: Table, pcol: str, kind: FileKind, label_column, table_path: str, upload_root: str | None,
                limits: Limits, report: DataReport, note_unlisted: bool) -> Dataset | None:
    """Pictures or recordings listed in a table: each row's file (relative to the table, or found by
    name in the upload) with its label."""
    cols = list(table.df.columns)
    ok, lcol = resolve_chosen(label_column, cols, "label", table.name, report)
    if not ok:
        return None
    lcol = lcol or find_column(cols, LABEL_NAMES, {pcol})
    rest = [c for c in cols if c not in (pcol, lcol) and not is_id_column(c)]
    if lcol is None and len(rest) == 1:
        lcol = rest[0]
    report.label_column = lcol
    if lcol is None:
        report.error(table.name, f"has no column that looks like the label (the class of each {kind.noun}). Columns "
                                 f"found: {', '.join(repr(c) for c in cols)}. Rename it to 'label' or pick it in "
                                 f"the label column setting.")
        return None

    table_dir = os.path.dirname(os.path.abspath(table_path))
    bases = [table_dir]
    if upload_root and os.path.abspath(upload_root) != table_dir:
        bases.append(os.path.abspath(upload_root))  # paths may also be relative to the zip's top
    real_root = os.path.realpath(upload_root) if upload_root else None

    items, labels, origins = [], [], []
    sounds: list[dict] = []   # recordings: what inspect_audio found of each kept one, for the report
    used: set[str] = set()
    # file-name index of the upload, built on first need; never for a lone table (its folder may be huge)
    names: dict[str, list[str]] | None = {} if note_unlisted and upload_root else None
    by_name: list[str] = []
    rows, no_path, no_label = complete_rows(table, pcol, lcol)
    for value, lab, where in rows:
        full, reason = _resolve_file_path(value, bases, real_root, limits, kind.noun)
        if reason and "not found" in reason and names is not None:
            # People often list just "IMG_1.JPG" while the file sits in a sub-folder, or the case differs
            # (Windows and macOS ignore case; the server does not).  Accept a unique match by name.
            if names == {}:
                names.update(_name_index(upload_root, real_root, kind))
            hits = names.get(os.path.basename(value.replace("\\", "/")).lower(), [])
            if len(hits) == 1:
                full, reason = hits[0], None
                by_name.append(where)
        if reason:
            report.skip(where, f"'{value}' {reason}")
            continue
        if not kind.named(full):
            report.skip(where, f"'{value}' {kind.unsupported(full)}")
            continue
        bad, facts = kind.check(full, limits)
        if bad:
            report.skip(where, f"'{value}' {bad}")
            continue
        if facts is not None:
            sounds.append(facts)
        used.add(os.path.realpath(full))
        items.append(full)
        labels.append(lab)
        origins.append(f"{where} ({value})")
    for rows, why, col in ((no_path, "missing file name", pcol), (no_label, "missing label", lcol)):
        if rows:
            report.count_drop(why, len(rows))
            report.skip(rows[0], f"{len(rows)} row(s) have nothing in column '{col}' and were left out "
                                 f"(this is the first). Fill it in or delete those rows.")
    if by_name:
        report.warn(by_name[0], f"{len(by_name)} {kind.noun}(s) were not at the path the table gives, but a file with "
                                f"the same name was found elsewhere in the upload and used (this is the first). "
                                f"Check that these are the right {kind.noun}s.")
    if note_unlisted and upload_root:  # only inside a zip/folder: a lone CSV's folder may hold anything
        _note_unlisted(upload_root, used, report, kind)
    if not items:
        report.error(table.name, f"none of the {kind.noun}s listed in column '{pcol}' could be used. See the "
                                 f"skipped rows for the reasons.")
        return None
    if sounds:
        report.details["audio"] = summarise_audio(sounds, labels)
    return Dataset(kind.modality, items, normalise_numeric_labels(labels), origins)


def _resolve_file_path(value: str, bases: list[str], real_root: str | None, limits: Limits,
                       noun: str = "picture") -> tuple[str, str | None]:
    """Find the picture or recording (`noun`) a table cell points to.  Returns (absolute path,
    reason it cannot be used)."""
    if _URL.match(value):
        return "", (f"is a web address; {noun}s must be files. Download them and put them in the zip "
                    "next to the table.")
    p = value.replace("\\", "/")  # tables written on Windows
    is_abs = p.startswith("/") or bool(_DRIVE.match(p))
    if not limits.allow_local_paths:
        if real_root is None:
            return "", (f"cannot be used: {noun}s must be uploaded together with the table. Put the table and "
                        f"the {noun}s in one zip file.")
        if is_abs:
            return "", (f"points to a location on a computer, not to a {noun} inside the upload. Use a path "
                        "relative to the table, like 'cats/img1.jpg'.")
    candidates = [p] if is_abs else [os.path.join(b, p) for b in bases]
    for cand in candidates:
        if real_root is not None and not limits.allow_local_paths:
            # check containment *before* existence so nothing is revealed about files outside the upload
            if not os.path.realpath(cand).startswith(real_root + os.sep):
                return "", ("points outside the uploaded zip/folder, which is not allowed. Use a path "
                            "relative to the table, like 'cats/img1.jpg'.")
        if os.path.isfile(cand):
            return os.path.abspath(cand), None
    return "", (f"was not found. Check the file name (upper/lower case matters) and that the {noun} is in "
                "the upload, in the place the table says (relative to the table's folder).")


def _name_index(root: str, real_root: str | None, kind: FileKind) -> dict[str, list[str]]:
    """lower-cased file name -> picture (recording) files with that name under root (staying inside root)."""
    index: dict[str, list[str]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_junk(d)]
        for fn in filenames:
            full = os.path.abspath(os.path.join(dirpath, fn))
            if kind.named(fn) and not is_junk(fn):
                if real_root and not os.path.realpath(full).startswith(real_root + os.sep):
                    continue
                index[fn.lower()].append(full)
    return dict(index)


def _note_unlisted(root: str, used: set[str], report: DataReport, kind: FileKind) -> None:
    unlisted = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_junk(d)]
        for fn in filenames:
            if kind.named(fn) and not is_junk(fn):
                full = os.path.realpath(os.path.join(dirpath, fn))
                if full not in used:
                    unlisted.append(os.path.relpath(full, os.path.realpath(root)).replace(os.sep, "/"))
    if unlisted:
        unlisted.sort()
        report.warn(unlisted[0], f"{len(unlisted)} {kind.noun}(s) in the upload are not listed in the table and "
                                 f"were not used (this is the first). Add them to the table if they should "
                                 f"be used.")


# ---------------------------------------------------------------------------------------------
# Checks on the whole dataset
# ---------------------------------------------------------------------------------------------

def _natural(name: str) -> list:
    """g2 before g10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _groups_by_key(counts) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for c in counts:
        groups[label_key(c)].append(c)
    return groups


def _final_checks(ds: Dataset, report: DataReport, task: str = TASKS.auto) -> None:
    report.modality = ds.modality
    check_classes(report, Counter(ds.labels), task)
    ds.separator = report.details.get("separator", "")
    ds.numeric = report.details.get("task") == TASKS.regression


def check_classes(report: DataReport, counts: dict[str, int], task: str = TASKS.auto) -> None:
    """The checks on the class counts (the same after class edits, which change only the counts).
    With several labels per example (`task`, or "auto" and the column looks like it) the checks run
    on each label's count, and the report's class counts are the labels'."""
    counts = Counter(counts)
    if task == TASKS.auto and report.details.get("flag_columns"):   # a 0/1 column per label: several per example
        task = TASKS.multi
    guess = guess_task(counts)
    decided = decide_task(guess, task, counts)
    report.details["task"] = decided.kind
    if decided.separator:
        report.details["separator"] = decided.separator
    if (detail := describe_task(guess if decided.kind == TASKS.single else decided, counts)) is not None:
        report.details["task_detail"] = detail
    if why := task_warning(guess, decided):
        report.warn("the label column", why)
    if decided.kind == TASKS.regression:   # a number per example: no classes to count or balance
        report.class_counts = {}
        if bad := not_numbers(counts):
            report.error("the label column", f"holds values that are not numbers ({', '.join(repr(b) for b in bad[:5])}"
                                              f"{', …' if len(bad) > 5 else ''}): a number per example needs a number "
                                              "in every row. Fix or remove those rows, or choose classes.")
        return
    if decided.kind == TASKS.multi:
        counts = Counter(label_counts(counts, decided.separator))
    report.class_counts = dict(sorted(counts.items()))

    def noun(n: int) -> str:   # texts are "examples" here (a row of a table holds more than its text)
        return f"{n} {examples_noun(None if report.modality == 'text' else report.modality, n)}"

    if len(counts) < 2:
        (only, n), = counts.items()
        report.error(f"class '{only}'", f"is the only class found ({noun(n)}). Training needs at least two "
                                        f"classes: add examples of at least one more class.")
        return
    variants = [sorted(v) for v in _groups_by_key(counts).values() if len(v) > 1]
    if variants:
        shown = "; ".join(" / ".join(f"'{v}'" for v in group) for group in variants[:3])
        more = f" and {len(variants) - 3} more groups" if len(variants) > 3 else ""
        report.details["similar_labels"] = variants
        report.warn(f"classes {shown}{more}", "differ only in upper/lower case or spaces; they are kept as "
                                              "separate classes. If they mean the same thing, merge them (the "
                                              "class editor in step 1, or --merge-similar-labels).")
    small = sorted((c for c, n in counts.items() if n < MIN_PER_CLASS), key=_natural)
    if len(small) > GROUP_AFTER:
        report.details["small_classes"] = {c: counts[c] for c in small}
        report.warn("class sizes", f"{len(small)} classes have fewer than {MIN_PER_CLASS} examples: "
                                   f"{', '.join(small[:3])}, … — full list in data_report.json. Add more (ideally "
                                   f"20 or more per class), or merge or drop them in the class editor.")
    else:
        for c in small:
            report.warn(f"class '{c}'", f"has only {noun(counts[c])}. Add more (at least {MIN_PER_CLASS}, ideally "
                                        f"20 or more per class) for useful results.")
    (big, nbig), (small, nsmall) = max(counts.items(), key=lambda kv: (kv[1], kv[0])), \
        min(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if nbig / nsmall > MAX_IMBALANCE:
        report.warn(f"classes '{big}' and '{small}'",
                    f"are very unbalanced: '{big}' has {noun(nbig)} but '{small}' only {nsmall} "
                    f"({nbig / nsmall:.0f} times fewer). The model may mostly predict '{big}'; add more "
                    f"'{small}' examples if you can.")
