"""Reading tables (CSV/TSV/delimited TXT, JSON lines, Excel) and picking their columns.

Every cell is read as a *string* so that labels like 1, 2, 3 stay "1", "2",
"3" (never 1.0) and texts like "NA" or "None" stay text.  Row numbers in
messages are the ones a spreadsheet program shows: the header is row 1, the
first data row is row 2 (JSON lines files use line numbers).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import re
from dataclasses import dataclass

import pandas as pd

from .report import DataReport, Limits

TABLE_EXTENSIONS = {".csv", ".tsv", ".tab", ".txt", ".jsonl", ".ndjson", ".json", ".xlsx", ".xlsm"}
OLD_EXCEL = {".xls", ".ods", ".numbers"}
DELIMITERS = [",", ";", "\t", "|"]
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe ( | )"}

# Column names we recognise, best first (compared lower-cased, spaces/dashes -> "_").
TEXT_NAMES = ["text", "texts", "sentence", "sentences", "content", "review", "review_text", "reviews", "message",
              "body", "description", "comment", "comments", "utterance", "question", "document", "tweet", "post",
              "abstract", "summary", "query", "input", "prompt", "feedback", "complaint", "note", "notes",
              "transcript", "phrase", "string", "headline", "subject", "title"]
LABEL_NAMES = ["label", "labels", "target", "class", "class_name", "classname", "category", "categories", "intent",
               "sentiment", "tag", "tags", "y", "topic", "type", "classification", "emotion", "polarity",
               "genre", "output", "annotation", "rating", "stars", "outcome", "diagnosis", "species", "gold"]
PATH_NAMES = ["path", "filepath", "file_path", "image_path", "img_path", "imagepath", "file", "filename", "file_name",
              "image", "image_file", "image_name", "img", "picture", "photo", "image_id", "fname", "location"]

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_INT_FLOAT = re.compile(r"^-?\d+\.0+$")
_INT = re.compile(r"^-?\d+$")


@dataclass
class Table:
    """A parsed table: string cells, plus a user-facing name for every row."""
    name: str  # e.g. "reviews.csv"
    df: pd.DataFrame  # all cells are str ("" when missing)
    row_names: list[str]  # e.g. "reviews.csv row 14", one per df row


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

# On short samples charset-normalizer cannot tell code pages of the same script apart (it takes "Café"
# in Windows-1252 for Croatian Windows-1250), so Windows-1252 — what Excel writes in Western Europe and
# the Americas — wins whenever its reading is as clean as the best guess and plausible; wide encodings
# without their byte-order mark are never guessed (a few bytes "decode" as anything in UTF-16).
UNMARKED_WIDE = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]
ENCODING_NAMES = {"cp1252": "Western European (Windows-1252)", "cp1250": "Central European (Windows-1250)",
                  "cp1251": "Cyrillic (Windows-1251)", "koi8_r": "Cyrillic (KOI8-R)", "cp932": "Japanese (Shift-JIS)",
                  "shift_jis": "Japanese (Shift-JIS)", "euc_jp": "Japanese (EUC-JP)", "gb18030": "Chinese (GB18030)",
                  "gbk": "Chinese (GBK)", "big5": "Chinese (Big5)", "cp949": "Korean (EUC-KR)",
                  "euc_kr": "Korean (EUC-KR)", "cp1253": "Greek (Windows-1253)", "cp1254": "Turkish (Windows-1254)",
                  "cp1255": "Hebrew (Windows-1255)", "cp1256": "Arabic (Windows-1256)", "cp874": "Thai (Windows-874)"}


def _symbol_in_word(text: str) -> bool:
    """A non-ASCII symbol between two letters ("Za¿ó", "p³atno"): another code page read as Windows-1252."""
    return any(not c.isascii() and not c.isalpha() and a.isalpha() and b.isalpha()
               for a, c, b in zip(text, text[1:], text[2:]))


def decode_bytes(raw: bytes) -> tuple[str, str | None]:
    """Decode text; returns (text, the encoding used in words, or None when it was proper Unicode).
    UTF-16 (with its mark) and UTF-8 first; anything else is detected by charset-normalizer."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export is UTF-16
        try:
            return raw.decode("utf-16"), None
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig"), None  # also strips a UTF-8 byte-order mark
    except UnicodeDecodeError:
        pass
    import charset_normalizer
    from charset_normalizer.md import mess_ratio

    results = list(charset_normalizer.from_bytes(raw, cp_exclusion=UNMARKED_WIDE))
    best = results[0] if results else None
    codec = best.encoding if best is not None else "cp1252"
    floor = best.chaos if best else 0.0
    undecided = sum(r.chaos <= floor + 0.01 for r in results) > 3   # a few bytes fit many code pages equally
    try:
        western = raw.decode("cp1252")
        if (undecided or mess_ratio(western, 1.0) <= floor + 0.1) and not _symbol_in_word(western):
            codec = "cp1252"
        elif codec == "cp1252":   # charset-normalizer's own pick, implausible: its next plausible guess
            codec = next((r.encoding for r in results[1:] if not _symbol_in_word(str(r))), codec)
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        codec, text = "latin_1", raw.decode("latin-1")
    return text, ENCODING_NAMES.get(codec, codec + (f" ({best.language})" if best is not None and best.language
                                                    and best.language != "Unknown" else ""))


def encoding_warning(fallback: str) -> str:
    return (f"is not saved as UTF-8, so it was read as {fallback} text. If accents or symbols look wrong, "
            f"save it again as 'CSV UTF-8' (Excel) or with UTF-8 encoding.")


def _looks_binary(text: str) -> bool:
    head = text[:4096]
    return bool(head) and len(_CTRL.findall(head)) > 0.05 * len(head)


def cell_str(v) -> str:
    """Excel/JSON cell -> string, with whole numbers written without '.0'."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time() else v.isoformat(sep=" ")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (list, dict)):
        if isinstance(v, list) and len(v) == 1:
            return cell_str(v[0])
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def normalise_numeric_labels(labels: list[str]) -> list[str]:
    """If every label is a whole number, write them as "3", not "3.0" (exports from other tools do that)."""
    if labels and all(_INT.match(x) or _INT_FLOAT.match(x) for x in labels):
        return [x.split(".")[0] if "." in x else x for x in labels]
    return labels


# ---------------------------------------------------------------------------------------------
# Reading tables
# ---------------------------------------------------------------------------------------------

def read_table(path: str | os.PathLike, name: str, report: DataReport, limits: Limits) -> Table | None:
    """Read any supported table file.  Returns None (with an error in `report`) when it cannot be used."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in OLD_EXCEL:
        report.error(name, f"is a '{ext}' spreadsheet, which cannot be read. Open it and save it as "
                           f".xlsx (Excel Workbook) or .csv (CSV UTF-8), then upload that.")
        return None
    if ext in (".xlsx", ".xlsm"):
        return _read_excel(path, name, report)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        report.error(name, "could not be opened. Check that the file exists and is not open in another program.")
        return None
    if raw.startswith(b"PK\x03\x04"):
        report.error(name, "looks like an Excel workbook or a zip file that was renamed. Save it as .csv or "
                           "upload it with its real name (.xlsx / .zip).")
        return None
    text, fallback = decode_bytes(raw)
    if not text.strip():
        report.error(name, "is empty. Upload a file that has a header row and at least a few rows of examples.")
        return None
    if _looks_binary(text):
        report.error(name, "does not look like a text table (it seems to be another kind of file). "
                           "Upload a .csv, .tsv, .xlsx or .jsonl file.")
        return None
    if fallback:
        report.warn(name, encoding_warning(fallback))
    if ext in (".jsonl", ".ndjson", ".json"):
        return _read_json(text, name, report, whole_json_allowed=(ext == ".json"))
    return _read_delimited(text, name, report, "\t" if ext in (".tsv", ".tab") else None)


def _csv_rows(text: str, delim: str):
    # newline="" lets the csv module see \r\n / \r itself, which it needs for quoted newlines
    return csv.reader(io.StringIO(text, newline=""), delimiter=delim)


def _consistency(sample: str, delim: str) -> tuple[float, int]:
    """(share of rows whose field count equals the header's, header field count) for a delimiter."""
    counts = []
    try:
        for row in _csv_rows(sample, delim):
            if row:
                counts.append(len(row))
    except csv.Error:
        return 0.0, 0
    if len(counts) > 2:
        counts = counts[:-1]  # the sample may cut the last row in half
    if not counts:
        return 0.0, 0
    n = counts[0]
    return sum(c == n for c in counts) / len(counts), n


def guess_delimiter(text: str) -> str:
    """csv.Sniffer first, double-checked by how consistently each candidate splits the rows."""
    sample = text[:65536]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    scores = {d: _consistency(sample, d) for d in DELIMITERS}
    if sniffed in scores and scores[sniffed][1] >= 2 and scores[sniffed][0] >= 0.9:
        return sniffed
    best = max(DELIMITERS, key=lambda d: (scores[d][1] >= 2, scores[d][0], scores[d][1]))
    if scores[best][1] >= 2 and scores[best][0] >= 0.5:
        return best
    # Nothing splits the rows: a single-column file.  (Letting pandas sniff freely here is worse:
    # it happily splits "text" on the letter t.)
    return sniffed or ","


def _clean_columns(header: list[str]) -> list[str]:
    cols: list[str] = []
    for i, c in enumerate(header):
        c = (c or "").strip().lstrip("\ufeff")
        if not c:
            c = f"column {i + 1}"
        base, k = c, 2
        while c in cols:  # duplicate header names would confuse column pickers
            c = f"{base} ({k})"
            k += 1
        cols.append(c)
    return cols


def _read_delimited(text: str, name: str, report: DataReport, delim: str | None) -> Table | None:
    delim = delim or guess_delimiter(text)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # the default (128 KB per cell) is too small for long documents
    try:
        records = list(_csv_rows(text, delim))
    except csv.Error:  # malformed quoting the csv module refuses: pandas' python engine is more lenient
        return _read_with_pandas(text, name, report, delim)
    finally:
        csv.field_size_limit(old_limit)

    # The header is the first non-blank record; spreadsheet row numbers count records from 1.
    start = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if start is None:
        report.error(name, "has no rows. Upload a file with a header row and examples.")
        return None
    columns = _clean_columns(records[start])
    width = len(columns)
    rows, row_names = [], []
    for i in range(start + 1, len(records)):
        rec = records[i]
        if not any(c.strip() for c in rec):
            continue  # blank line
        if len(rec) > width:
            if any(c.strip() for c in rec[width:]):
                report.skip(f"{name} row {i + 1}",
                            f"has {len(rec)} values but the header has {width} columns, so it was left out. "
                            f"If the text contains the {_DELIM_NAMES.get(delim, repr(delim))} character, "
                            f"put the text in double quotes.")
                report.count_drop("wrong number of columns")
                continue
            rec = rec[:width]
        elif len(rec) < width:
            rec = rec + [""] * (width - len(rec))
        rows.append(rec)
        row_names.append(f"{name} row {i + 1}")
    df = pd.DataFrame(rows, columns=columns, dtype=object) if rows else pd.DataFrame(columns=columns, dtype=object)
    return Table(name, df, row_names)


def _read_with_pandas(text: str, name: str, report: DataReport, delim: str) -> Table | None:
    """Fallback when the csv module gives up on the file: pandas' python engine, bad lines skipped."""
    bad: list[int] = []

    def on_bad(line: list[str]):
        bad.append(len(line))
        return None  # drop the line

    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, engine="python", dtype=str, keep_default_na=False,
                         skip_blank_lines=True, on_bad_lines=on_bad)
    except Exception:
        report.error(name, "could not be read as a table (the quotes or separators are inconsistent). Save it "
                           "again as CSV UTF-8 with a header row and upload it again.")
        return None
    if bad:
        report.skip(name, f"{len(bad)} line(s) had the wrong number of values and were left out. Put texts "
                          f"that contain the separator in double quotes.")
        report.count_drop("wrong number of columns", len(bad))
    df = df.fillna("").astype(object)
    df.columns = _clean_columns([str(c) for c in df.columns])
    return Table(name, df, [f"{name} row {i + 2}" for i in range(len(df))])


def _read_json(text: str, name: str, report: DataReport, whole_json_allowed: bool) -> Table | None:
    records: list[tuple[str, dict]] = []
    parsed_whole = False
    if whole_json_allowed:
        try:
            obj = json.loads(text)
            if isinstance(obj, dict):  # {"data": [...]} -> the (only) list of records inside
                lists = [v for v in obj.values() if isinstance(v, list)]
                obj = lists[0] if len(lists) == 1 else [obj]
            if isinstance(obj, list):
                parsed_whole = True
                for i, rec in enumerate(obj, start=1):
                    if isinstance(rec, dict):
                        records.append((f"{name} item {i}", rec))
                    else:
                        report.skip(f"{name} item {i}", "is not a record with named fields; it was left out.")
                        report.count_drop("not a record")
        except json.JSONDecodeError:
            pass
    if not parsed_whole:
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.strip()
            if not line:
                continue
            where = f"{name} line {lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                report.skip(where, "is not valid JSON, so it was left out. Each line must be one record "
                                   "like {\"text\": \"...\", \"label\": \"...\"}.")
                report.count_drop("invalid JSON line")
                continue
            if not isinstance(rec, dict):
                report.skip(where, "is not a record with named fields (like {\"text\": ..., \"label\": ...}); "
                                   "it was left out.")
                report.count_drop("not a record")
                continue
            records.append((where, rec))
    if not records:
        report.error(name, "contains no usable records. Each line should look like "
                           "{\"text\": \"...\", \"label\": \"...\"}.")
        return None
    columns: list[str] = []
    for _, rec in records:  # union of keys, in order of first appearance
        for k in rec:
            if str(k) not in columns:
                columns.append(str(k))
    rows = [[cell_str(rec.get(c)) for c in columns] for _, rec in records]
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    return Table(name, df, [w for w, _ in records])


def _read_excel(path, name: str, report: DataReport) -> Table | None:
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:
        report.error(name, "could not be opened as an Excel workbook (it may be damaged or password-protected). "
                           "Open it in Excel and save it again as .xlsx or as CSV UTF-8.")
        return None
    try:
        used = None
        others = []
        for ws in wb.worksheets:
            rows = []
            for rowno, values in enumerate(ws.iter_rows(values_only=True), start=1):
                cells = [cell_str(v) for v in values]
                if any(c.strip() for c in cells):
                    rows.append((rowno, cells))
            if rows:
                if used is None:
                    used = (ws.title, rows)
                else:
                    others.append(ws.title)
    except Exception:
        report.error(name, "could not be read; the workbook may be damaged. Save it again as .xlsx or CSV UTF-8.")
        return None
    finally:
        wb.close()
    if used is None:
        report.error(name, "is empty. Put a header row and your examples on the first sheet.")
        return None
    title, rows = used
    if others:
        report.warn(name, f"has data on several sheets; only the first one ('{title}') was used. "
                          f"Move everything to one sheet if you need the others ({', '.join(others)}).")
    header_row, header = rows[0]
    while header and not header[-1].strip():  # read-only sheets often report extra empty columns
        header = header[:-1]
    columns = _clean_columns(header)
    width = len(columns)
    data, names = [], []
    for rowno, cells in rows[1:]:
        cells = (cells + [""] * width)[:width]
        if any(c.strip() for c in cells):
            data.append(cells)
            names.append(f"{name} row {rowno}")
    df = pd.DataFrame(data, columns=columns, dtype=object) if data else pd.DataFrame(columns=columns, dtype=object)
    return Table(name, df, names)


# ---------------------------------------------------------------------------------------------
# Choosing columns
# ---------------------------------------------------------------------------------------------

def _norm(c: str) -> str:
    return re.sub(r"[\s\-.]+", "_", c.strip().lower())


def _tokens(c: str) -> set[str]:
    return {t for t in re.split(r"[^0-9a-z]+", c.lower()) if t}


def find_column(columns: list[str], names: list[str], exclude: set[str] = frozenset()) -> str | None:
    """Best column for a role: exact name match first, then a name word inside the header ("Review Text")."""
    cands = [c for c in columns if c not in exclude]
    for n in names:
        for c in cands:
            if _norm(c) == n:
                return c
    for n in names:
        if len(n) < 3 or "_" in n:
            continue  # "y" must match exactly
        for c in cands:
            toks = _tokens(c)
            if n in toks and "id" not in toks:
                return c
    return None


def is_id_column(c: str) -> bool:
    """Row numbers / ids never hold the text or the label; ignore them when guessing by elimination."""
    n = _norm(c)
    return n in {"id", "idx", "index", "row", "no", "nr", "number", "#", "key", "uid", "uuid"} or \
        n.endswith("_id") or n.startswith("unnamed") or n.startswith("column_")


def resolve_chosen(chosen: str | None, columns: list[str], role: str, table_name: str,
                   report: DataReport) -> tuple[bool, str | None]:
    """Match a caller-chosen column (tolerating case/space differences).  (ok, column)."""
    if chosen is None or chosen == "":
        return True, None
    if chosen in columns:
        return True, chosen
    for c in columns:
        if _norm(c) == _norm(chosen):
            return True, c
    report.error(table_name, f"has no column named '{chosen}' (chosen as the {role} column). "
                             f"The columns are: {', '.join(columns) or '(none)'}. Pick one of these.")
    return False, None


def _avg_len(series: pd.Series) -> float:
    vals = [str(v) for v in series if str(v).strip()]
    return sum(len(v) for v in vals) / len(vals) if vals else 0.0


def choose_text_columns(table: Table, text_column: str | None, label_column: str | None,
                        report: DataReport) -> tuple[str | None, str | None]:
    cols = list(table.df.columns)
    ok1, text = resolve_chosen(text_column, cols, "text", table.name, report)
    ok2, label = resolve_chosen(label_column, cols, "label", table.name, report)
    if not (ok1 and ok2):
        return None, None
    text = text or find_column(cols, TEXT_NAMES, {label} if label else set())
    label = label or find_column(cols, LABEL_NAMES, {text} if text else set())
    rest = [c for c in cols if c not in (text, label) and not is_id_column(c)]
    if text is None and label is None and len(cols) == 2:
        # Two unnamed columns: the one with longer strings is the text.
        a, b = cols
        text, label = (a, b) if _avg_len(table.df[a]) >= _avg_len(table.df[b]) else (b, a)
    elif text is None and label is not None and len(rest) == 1:
        text = rest[0]
    elif label is None and text is not None and len(rest) == 1:
        label = rest[0]
    listing = ", ".join(f"'{c}'" for c in cols)
    if len(cols) < 2:
        report.error(table.name, f"has only one column ({listing}). It needs two: one with the text and one with "
                                 f"the label (class) of each row. If the columns are separated by another "
                                 f"character, save the file as a standard CSV.")
        return None, None
    if label is None:
        report.error(table.name, f"has no column that looks like the label (the class of each row). Columns "
                                 f"found: {listing}. Rename the label column to 'label', or pick it in the "
                                 f"label column setting.")
    if text is None:
        report.error(table.name, f"has no column that looks like the text. Columns found: {listing}. Rename the "
                                 f"text column to 'text', or pick it in the text column setting.")
    if text is None or label is None:
        return None, None
    if text == label:
        report.error(table.name, f"the same column ('{text}') was chosen for both the text and the label. "
                                 f"Pick two different columns.")
        return None, None
    if not label_column and not _looks_like_labels(table.df[label]):
        report.error(table.name, f"has no column that looks like the label (the class of each row): column "
                                 f"'{label}' has a different value in almost every row, so it cannot be the class. "
                                 f"Columns found: {listing}. Add a column with the class of each row, or pick the "
                                 f"label column in the settings.")
        return None, None
    return text, label


FOLDED = "labels"     # the column several 0/1 label columns are folded into (not in the user's file)


def fold_flag_columns(table: Table, report: DataReport, exclude: set, free: int) -> str | None:
    """Several labels given as one 0/1 column per label (`text,billing,bug,praise`, 1 where the label
    applies) folded into one column of ';'-joined label names, which is then read as several labels
    per example; its name, or None when nothing changes: fewer than two such columns, or more than
    `free` other columns besides `exclude` and ids (the text, when it is still to be found — any
    other column may be the label, and the 0/1 columns then just side facts). Rows with no 1
    anywhere are left out, saying which (each example needs at least one label)."""
    df = table.df
    flags = [c for c in df.columns if c not in exclude and not is_id_column(c) and _is_flag(df[c])]
    others = [c for c in df.columns if c not in exclude and c not in flags and not is_id_column(c)]
    if len(flags) < 2 or len(others) > free:
        return None
    name = FOLDED
    while name in df.columns:
        name += "_"
    marked = df[flags].apply(lambda col: col.astype(str).str.strip() == "1")
    joined = [";".join(c for c in flags if row[c]) for _, row in marked.iterrows()]
    empty = [where for where, labels in zip(table.row_names, joined) if not labels]
    keep = [i for i, labels in enumerate(joined) if labels]
    table.df = df.drop(columns=flags).iloc[keep].reset_index(drop=True).assign(**{name: [joined[i] for i in keep]})
    table.row_names = [table.row_names[i] for i in keep]
    report.details["flag_columns"] = flags
    if empty:
        first = empty[0]
        unit = "line" if " line " in first else "row"
        report.count_drop("no label marked 1", len(empty))
        report.skip(_rows_where(table.name, [_row_no(r) for r in empty], unit),
                    f"{len(empty)} {unit}(s) have no 1 in any of the label columns ({', '.join(repr(c) for c in flags)}) "
                    "and were left out: mark at least one label per example.")
    return name


def _is_flag(series: pd.Series) -> bool:
    """A column of 0 and 1 (blanks allowed) with at least one 1: one label's yes/no."""
    values = {str(v).strip() for v in series} - {""}
    return bool(values) and values <= {"0", "1"} and "1" in values


def _looks_like_labels(series: pd.Series) -> bool:
    """A class column repeats its values: one where (almost) every row differs is an id, a number
    or a text, never the label."""
    values = [str(v).strip() for v in series if str(v).strip()]
    return len(values) < 10 or len(set(values)) <= 0.9 * len(values)


# ---------------------------------------------------------------------------------------------
# Building text examples
# ---------------------------------------------------------------------------------------------

def _rows_where(name: str, row_nos: list[str], unit: str, limit: int = 5) -> str:
    """'reviews.csv row 5' or 'reviews.csv rows 5, 9, 12 and 4 more'."""
    shown = ", ".join(row_nos[:limit])
    more = f" and {len(row_nos) - limit} more" if len(row_nos) > limit else ""
    return f"{name} {unit}{'' if len(row_nos) == 1 else 's'} {shown}{more}"


def _row_no(row_name: str) -> str:
    return row_name.rsplit(" ", 1)[-1]


def complete_rows(table: Table, first: str, second: str) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """The rows whose two cells are both filled, as (first, second, row name) with the cells
    stripped; then the names of the rows missing the first cell, and of those missing the second."""
    rows, no_first, no_second = [], [], []
    for a, b, where in zip(table.df[first], table.df[second], table.row_names):
        a = "" if a is None else str(a).strip()
        b = "" if b is None else str(b).strip()
        if not a:
            no_first.append(where)
        elif not b:
            no_second.append(where)
        else:
            rows.append((a, b, where))
    return rows, no_first, no_second


def text_examples_from_table(table: Table, text_col: str, label_col: str, report: DataReport,
                             limits: Limits) -> tuple[list[str], list[str], list[str]]:
    """Returns (texts, labels, origins); empty texts / missing labels are dropped and counted."""
    texts, labels, origins = [], [], []
    n_cut, first_cut = 0, None
    rows, empty_rows, nolabel_rows = complete_rows(table, text_col, label_col)
    for t, lab, where in rows:
        if len(t) > limits.max_text_chars:
            t = t[: limits.max_text_chars]
            n_cut += 1
            first_cut = first_cut or where
        texts.append(t)
        labels.append(lab)
        origins.append(where)
    first = table.row_names[0] if table.row_names else ""
    unit = "line" if " line " in first else "item" if " item " in first else "row"
    if empty_rows:
        report.count_drop("empty text", len(empty_rows))
        report.skip(_rows_where(table.name, [_row_no(r) for r in empty_rows], unit),
                    f"{len(empty_rows)} {unit}(s) have no text in column '{text_col}' and were left out. "
                    f"Fill in the text or delete those rows.")
    if nolabel_rows:
        report.count_drop("missing label", len(nolabel_rows))
        report.skip(_rows_where(table.name, [_row_no(r) for r in nolabel_rows], unit),
                    f"{len(nolabel_rows)} {unit}(s) have no label in column '{label_col}' and were left out. "
                    f"Fill in the label (the class) or delete those rows.")
    if n_cut:
        report.warn(first_cut, truncation_message(n_cut, limits))
    labels = normalise_numeric_labels(labels)
    _warn_duplicates(texts, labels, origins, report)
    return texts, labels, origins


def truncation_message(n: int, limits: Limits) -> str:
    return (f"{n} text(s) are longer than {limits.max_text_chars:,} characters; only the first "
            f"{limits.max_text_chars:,} characters of each were kept. Split very long documents if the end matters.")


def _warn_duplicates(texts: list[str], labels: list[str], origins: list[str], report: DataReport) -> None:
    """Exact duplicate rows are kept (maybe on purpose) but reported; same text with two labels is a red flag."""
    first_seen: dict[tuple[str, str], int] = {}
    label_of_text: dict[str, int] = {}
    dups: list[tuple[int, int]] = []
    conflicts: list[tuple[int, int]] = []
    for i, (t, lab) in enumerate(zip(texts, labels)):
        key = (t, lab)
        if key in first_seen:
            dups.append((i, first_seen[key]))
        else:
            first_seen[key] = i
        j = label_of_text.setdefault(t, i)
        if labels[j] != lab and j != i:
            conflicts.append((i, j))
    if dups:
        i, j = dups[0]
        report.warn(origins[i], f"{len(dups)} row(s) are exact copies of earlier rows (for example this one "
                                f"repeats {origins[j]}). They were kept; delete the copies if they were added "
                                f"by mistake.")
    if conflicts:
        i, j = conflicts[0]
        report.warn(origins[i], f"{len(conflicts)} text(s) appear more than once with different labels (for "
                                f"example this one is '{labels[i]}' but {origins[j]} is '{labels[j]}'). "
                                f"Check which label is right.")


def read_text_file(path: str) -> tuple[str, str | None]:
    """One example per .txt file. Returns (stripped text, fallback encoding or None)."""
    with open(path, "rb") as f:
        raw = f.read()
    text, fallback = decode_bytes(raw)
    return text.strip(), fallback
