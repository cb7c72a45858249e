"""A corpus of bad (and awkward-but-fine) uploads.

Every case asserts:
  * the specific Problem: its level, a key phrase of the message, and the file/row it names;
  * that the valid items in the same upload are still used (or, for errors, that no Dataset comes back);
  * that nothing was written outside the workdir.
"""
from __future__ import annotations

import json
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from corpus import (class_members, csv_text, encrypted_flag_zip, huge_png_header, jpeg_bytes, lying_size_zip,
                    make_zip, png_bytes, snapshot, symlink_info, text_rows, truncated_jpeg, write_xlsx)
from ftapp.data import Limits, load_dataset

GOOD = {"cats": 5, "dogs": 5}  # the valid part of most uploads
GOOD_TEXT = {"pos": 6, "neg": 6}
UNIQUE = uuid.uuid4().hex[:10]  # for escape targets outside tmp_path


@dataclass
class Case:
    id: str
    build: Callable[[Path], tuple[Path, dict]]  # folder to write into -> (source, load_dataset kwargs)
    level: str | None  # None: the input is fine, no problem may name `where`
    phrase: str = ""
    where: str = ""
    usable: bool = True
    classes: dict | None = None  # expected class_counts (valid items still used)
    check: Callable | None = None  # extra assertions (ds, report, tmp_path)


def good_zip(extra, classes=GOOD, name="upload.zip", **kw):
    def build(d: Path):
        members = list(class_members(classes).items()) + list(extra.items() if isinstance(extra, dict) else extra)
        return make_zip(d / name, members), kw
    return build


def csv_file(content: str | bytes, name="data.csv", **kw):
    def build(d: Path):
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", newline="")
        return p, kw
    return build


def rows_plus(extra_rows, n=6, header=("text", "label"), delim=","):
    return csv_text(text_rows(n) + list(extra_rows), header=header, delim=delim)


# --- extra checks ------------------------------------------------------------------------------------

def no_abs_escape(ds, report, tmp):
    assert not os.path.exists(f"/tmp/ftapp-abs-{UNIQUE}")


def no_escape_above(ds, report, tmp):
    assert not (tmp.parent / f"evil-{UNIQUE}.txt").exists()
    assert not (tmp / f"evil-{UNIQUE}.txt").exists()


def junk_not_used(ds, report, tmp):
    assert not any("MACOSX" in o or "DS_Store" in o or "Thumbs" in o for o in ds.origins)
    assert not any(p.level == "error" for p in report.problems)


def tiny_kept(ds, report, tmp):
    assert any(o.endswith("cats/tiny.png") for o in ds.origins)
    assert not any("tiny" in p.where for p in report.problems)


def nothing_extracted_bomb(ds, report, tmp):
    # refused before extraction: no bomb bytes on disk anywhere under tmp
    for dirpath, _, files in os.walk(tmp):
        for f in files:
            assert os.path.getsize(os.path.join(dirpath, f)) < 1_000_000, f


def bom_ok(ds, report, tmp):
    assert report.text_column == "text" and report.label_column == "label"
    assert not report.warnings


def delim_ok(ds, report, tmp):
    assert report.columns == ["text", "label"]
    assert "great product, works well" in " ".join(ds.items)  # commas inside the text survive


def multiline_ok(ds, report, tmp):
    assert "first line\nsecond line" in ds.items


def numeric_ok(ds, report, tmp):
    assert ds.classes == ["1", "2"]


def long_kept(ds, report, tmp):
    assert any(len(t) == 10_000 for t in ds.items)
    assert not report.warnings


def truncated_ok(ds, report, tmp):
    assert max(len(t) for t in ds.items) == Limits().max_text_chars


def unicode_ok(ds, report, tmp):
    assert "שלום עולם 🎉" in ds.items and "مرحبا بالعالم 😀" in ds.items


def dup_kept(ds, report, tmp):
    assert len(ds) == 14  # 12 + 2 copies, all kept


def dropped_counts(key, n):
    def check(ds, report, tmp):
        assert report.dropped.get(key) == n
    return check


def xlsx_ok(ds, report, tmp):
    assert ds.classes == ["1", "2"] and report.text_column == "Review" and report.label_column == "Stars"


def columns_listed(ds, report, tmp):
    msg = report.errors[0].message
    assert "'text'" in msg and "'notes'" in msg and "'author'" in msg


def hosted_outside(ds, report, tmp):
    assert len(ds) == 10


# --- the cases -------------------------------------------------------------------------------------

def _xlsx(d: Path):
    rows = [(f"review text {i}", (i % 2) + 1) for i in range(12)]
    return write_xlsx(d / "reviews.xlsx", ("Review", "Stars"), rows), {}


def _jsonl(d: Path):
    lines = [json.dumps({"text": t, "label": lab}, ensure_ascii=False) for t, lab in text_rows()]
    lines.insert(2, "{this is not json")
    p = d / "data.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p, {}


def _image_csv_zip(rows, **kw):
    def build(d: Path):
        members = class_members(GOOD, prefix="imgs/")
        lines = ["path,label"] + [f"{n},{n.split('/')[1]}" for n in members] + rows
        members["labels.csv"] = ("\n".join(lines) + "\n").encode()
        return make_zip(d / "table.zip", members), kw
    return build


def _text_folder_zip(extra):
    def build(d: Path):
        members = {f"{c}/{i}.txt": f"{c} text number {i}".encode() for c in ("spam", "ham") for i in range(5)}
        members.update(extra)
        return make_zip(d / "texts.zip", members), {}
    return build


def _outside_png(d: Path):
    (d / "outside.png").write_bytes(png_bytes())


def _hosted_csv(d: Path):
    _outside_png(d)
    return _image_csv_zip(["../outside.png,cats", "/etc/hostname,dogs"],
                          limits=Limits(allow_local_paths=False))(d)


def _bomb_overall(d: Path):
    members = list(class_members(GOOD).items())
    members += [(f"cats/blank_{i}.bmp", b"\x00" * 900_000) for i in range(3)]
    return make_zip(d / "upload.zip", members), {}


def _lying(d: Path):
    return lying_size_zip(d / "upload.zip", "cats/liar.png", jpeg_bytes(), 100, class_members(GOOD)), {}


def _encrypted(d: Path):
    return encrypted_flag_zip(d / "upload.zip", "cats/secret.png", png_bytes(), class_members(GOOD)), {}


CASES = [
    # ---------------- zips: safety ----------------
    Case("zip-dotdot", good_zip({f"../../evil-{UNIQUE}.txt": b"x"}), "skipped", "path contains '..'", "../../evil",
         classes=GOOD, check=no_escape_above),
    Case("zip-backslash-dotdot", good_zip({f"..\\..\\evil-{UNIQUE}.txt": b"x"}), "skipped", "outside the zip",
         "../../evil", classes=GOOD, check=no_escape_above),
    Case("zip-absolute", good_zip({f"/tmp/ftapp-abs-{UNIQUE}": b"x"}), "skipped", "absolute path",
         f"/tmp/ftapp-abs-{UNIQUE}", classes=GOOD, check=no_abs_escape),
    Case("zip-drive-letter", good_zip({"C:/Windows/evil.txt": b"x"}), "skipped", "drive letter", "C:/Windows",
         classes=GOOD),
    Case("zip-symlink", good_zip([(symlink_info("cats/link.png"), "/etc/passwd")]), "skipped", "symbolic link",
         "cats/link.png", classes=GOOD),
    Case("zip-bomb-member-ratio", good_zip({"cats/bomb.png": b"\x00" * (5 * 2**20)}), "error", "zip bomb",
         "cats/bomb.png", usable=False, check=nothing_extracted_bomb),
    Case("zip-bomb-overall-ratio", _bomb_overall, "error", "tightly overall", "upload.zip", usable=False),
    Case("zip-size-cap", good_zip({"cats/big.bin": os.urandom(300_000)},
                                  limits=Limits(max_uncompressed_bytes=200_000)),
         "error", "unpack to", "upload.zip", usable=False),
    Case("zip-too-many-members", good_zip({f"dogs/x{i}.png": png_bytes() for i in range(25)},
                                          limits=Limits(max_members=30)),
         "error", "the limit is 30", "upload.zip", usable=False),
    Case("zip-lying-header", _lying, "skipped", "damaged inside the zip", "cats/liar.png", classes=GOOD),
    Case("zip-password-member", _encrypted, "skipped",
         "password", "cats/secret.png", classes=GOOD),
    Case("zip-nested", good_zip({"cats/more_cats.zip": b"PK\x05\x06" + b"\x00" * 18}), "skipped",
         "unzip it", "cats/more_cats.zip", classes=GOOD),
    Case("zip-not-a-zip", csv_file(b"this is not a zip at all", name="broken.zip"), "error", "not a valid zip",
         "broken.zip", usable=False),
    Case("upload-too-large", good_zip({}, limits=Limits(max_upload_bytes=1000)), "error", "more than the",
         "upload.zip", usable=False),
    # ---------------- zips: content ----------------
    Case("os-junk", good_zip({"__MACOSX/cats/._img_0.png": b"junk", "cats/.DS_Store": b"junk",
                              "dogs/Thumbs.db": b"junk", "desktop.ini": b"junk"}),
         "skipped", "system or hidden", "upload.zip", classes=GOOD, check=junk_not_used),
    Case("case-differing-folders", good_zip({}, classes={"Cat": 5, "cat": 5, "dogs": 5}), "warning",
         "upper/lower case", "'Cat' / 'cat'", classes={"Cat": 5, "cat": 5, "dogs": 5}),
    Case("same-name-different-depth", good_zip(class_members({"cats": 2}, prefix="more/", start=100)),
         "warning", "same name", "class 'cats'", classes={"cats": 7, "dogs": 5}),
    Case("one-by-one-image", good_zip({"cats/tiny.png": png_bytes((1, 1))}), None, where="tiny",
         classes={"cats": 6, "dogs": 5}, check=tiny_kept),
    Case("png-header-100000x100000", good_zip({"dogs/huge.png": huge_png_header()}), "skipped", "too large",
         "dogs/huge.png", classes=GOOD),
    Case("truncated-jpeg", good_zip({"cats/cut.jpg": truncated_jpeg()}), "skipped", "damaged or incomplete",
         "cats/cut.jpg", classes=GOOD),
    Case("text-named-png", good_zip({"dogs/notes.png": b"just some notes, not a picture"}), "skipped",
         "is not a picture", "dogs/notes.png", classes=GOOD),
    Case("zero-byte-image", good_zip({"cats/empty.jpg": b""}), "skipped", "0 bytes", "cats/empty.jpg",
         classes=GOOD),
    Case("unsupported-extension", good_zip({"cats/scan.pdf": b"%PDF-1.4"}), "skipped", "not supported",
         "cats/scan.pdf", classes=GOOD),
    Case("heic-extension", good_zip({"dogs/IMG_1.HEIC": b"....ftypheic"}), "skipped", "HEIC",
         "dogs/IMG_1.HEIC", classes=GOOD),
    Case("image-outside-class-folder", good_zip({"loose.png": png_bytes()}), "skipped",
         "not inside a class folder", "loose.png", classes=GOOD),
    Case("single-class-zip", good_zip({}, classes={"cats": 5}), "error", "add examples of at least one more class",
         "class 'cats'", usable=False),
    Case("imbalanced", good_zip({}, classes={"cats": 55, "dogs": 5}), "warning", "unbalanced",
         "'cats' and 'dogs'", classes={"cats": 55, "dogs": 5}),
    Case("text-folder-empty-file", _text_folder_zip({"spam/blank.txt": b"  \n "}), "skipped", "no text",
         "spam/blank.txt", classes={"spam": 5, "ham": 5}),
    # ---------------- image tables ----------------
    Case("image-csv-missing-file", _image_csv_zip(["imgs/cats/nope.png,cats"]), "skipped", "was not found",
         "labels.csv row 12", classes=GOOD),
    Case("image-csv-web-address", _image_csv_zip(["https://example.com/a.png,cats"]), "skipped", "web address",
         "labels.csv row 12", classes=GOOD),
    Case("hosted-csv-path-outside-upload", _hosted_csv, "skipped", "outside the uploaded", "labels.csv row 12",
         classes=GOOD, check=hosted_outside),
    Case("hosted-csv-absolute-path", _hosted_csv, "skipped", "location on a computer", "labels.csv row 13",
         classes=GOOD),
    # ---------------- text tables ----------------
    Case("csv-cp1252", csv_file(rows_plus([("café crème brûlée", "pos")]).encode("cp1252")), "warning",
         "not saved as UTF-8", "data.csv", classes={"pos": 7, "neg": 6}),
    Case("csv-utf8-bom", csv_file(b"\xef\xbb\xbf" + rows_plus([]).encode()), None, where="data.csv",
         classes=GOOD_TEXT, check=bom_ok),
    Case("csv-semicolon", csv_file(rows_plus([], delim=";")), None, where="data.csv", classes=GOOD_TEXT,
         check=delim_ok),
    Case("csv-pipe", csv_file(rows_plus([], delim="|"), name="data.txt"), None, where="data.txt",
         classes=GOOD_TEXT, check=delim_ok),
    Case("csv-tab-tsv", csv_file(rows_plus([], delim="\t"), name="data.tsv"), None, where="data.tsv",
         classes=GOOD_TEXT, check=delim_ok),
    Case("csv-quoted-newlines", csv_file(rows_plus([("first line\nsecond line", "pos"), ("no label", "")])),
         "skipped", "no label", "data.csv row 15", classes={"pos": 7, "neg": 6}, check=multiline_ok),
    Case("csv-missing-label-column", csv_file("text,notes,author\nhello,x,y\nbye,z,w\n"), "error",
         "looks like the label", "data.csv", usable=False, check=columns_listed),
    Case("csv-unknown-chosen-column", csv_file(rows_plus([]), label_column="klass"), "error",
         "no column named 'klass'", "data.csv", usable=False),
    Case("csv-single-class", csv_file(csv_text(text_rows(6, ("pos",)))), "error", "at least one more class",
         "class 'pos'", usable=False),
    Case("csv-class-with-one-example", csv_file(rows_plus([("a lonely example", "meh")])), "warning",
         "only 1 example", "class 'meh'", classes={"pos": 6, "neg": 6, "meh": 1}),
    Case("csv-empty-texts", csv_file(rows_plus([("   ", "pos"), ("", "neg")])), "skipped", "no text",
         "data.csv rows 14, 15", classes=GOOD_TEXT, check=dropped_counts("empty text", 2)),
    Case("csv-missing-labels", csv_file(rows_plus([("unlabelled one", "  ")])), "skipped", "no label",
         "data.csv row 14", classes=GOOD_TEXT, check=dropped_counts("missing label", 1)),
    Case("csv-numeric-labels", csv_file(csv_text([(f"text {i}", str(i % 2 + 1) + ".0") for i in range(12)])),
         None, where="data.csv", classes={"1": 6, "2": 6}, check=numeric_ok),
    Case("csv-10000-char-text", csv_file(rows_plus([("x" * 10_000, "pos")])), None, where="data.csv",
         classes={"pos": 7, "neg": 6}, check=long_kept),
    Case("csv-overlong-text", csv_file(rows_plus([("y" * 25_000, "pos")])), "warning", "longer than",
         "data.csv row 14", classes={"pos": 7, "neg": 6}, check=truncated_ok),
    Case("csv-emoji-rtl", csv_file(rows_plus([("שלום עולם 🎉", "pos"), ("مرحبا بالعالم 😀", "neg")])), None,
         where="data.csv", classes={"pos": 7, "neg": 7}, check=unicode_ok),
    Case("csv-duplicate-rows", csv_file(rows_plus([text_rows()[0], text_rows()[0]])), "warning", "exact copies",
         "data.csv row 14", classes={"pos": 8, "neg": 6}, check=dup_kept),
    Case("csv-conflicting-labels", csv_file(rows_plus([(text_rows()[0][0], "neg")])), "warning",
         "different labels", "data.csv row 14", classes={"pos": 6, "neg": 7}),
    Case("csv-extra-values", csv_file(rows_plus([]) + "oops, an unquoted comma,pos\n"), "skipped",
         "but the header has 2 columns", "data.csv row 14", classes=GOOD_TEXT),
    Case("csv-one-column", csv_file("text\nhello\nworld\n"), "error", "only one column", "data.csv",
         usable=False),
    Case("csv-empty-file", csv_file(b"", name="empty.csv"), "error", "empty", "empty.csv", usable=False),
    Case("csv-header-only", csv_file("text,label\n"), "error", "no examples", "data.csv", usable=False),
    Case("csv-binary-renamed", csv_file(png_bytes((40, 40)), name="pic.csv"), "error", "not look like a text table",
         "pic.csv", usable=False),
    Case("old-xls", csv_file(b"\xd0\xcf\x11\xe0 old excel", name="old.xls"), "error", "save it as .xlsx",
         "old.xls", usable=False),
    Case("xlsx-numeric-labels", _xlsx, None, where="reviews.xlsx", classes={"1": 6, "2": 6}, check=xlsx_ok),
    Case("jsonl-bad-line", _jsonl, "skipped", "not valid JSON", "data.jsonl line 3", classes=GOOD_TEXT),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path):
    inp, work = tmp_path / "in", tmp_path / "work"
    inp.mkdir()
    source, kwargs = case.build(inp)
    before = snapshot(tmp_path, exclude=work)

    ds, report = load_dataset(source, workdir=work, **kwargs)

    # nothing written outside the workdir
    assert snapshot(tmp_path, exclude=work) == before
    # never an exception, always something the user can read
    assert isinstance(report.summary(), str)
    json.dumps(report.to_dict())

    if case.level is None:
        assert report.ok, report.summary()
        assert not [p for p in report.problems if p.level != "skipped" and case.where in p.where], report.summary()
    else:
        hits = [p for p in report.problems if p.level == case.level and case.phrase.lower() in p.message.lower()
                and case.where in p.where]
        assert hits, f"expected {case.level} '{case.phrase}' at '{case.where}', got:\n{report.summary()}"
        assert "Error" not in hits[0].message and "Exception" not in hits[0].message  # no class names

    if case.usable:
        assert ds is not None and report.ok, report.summary()
        assert report.class_counts == case.classes, report.summary()
        assert len(ds) == sum(case.classes.values())
    else:
        assert ds is None and not report.ok

    if case.check:
        case.check(ds, report, tmp_path)


def test_corpus_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_zip_written_members_stay_in_workdir(tmp_path: Path):
    """Direct check on the extraction: every extracted file lies inside the workdir."""
    src = make_zip(tmp_path / "u.zip", {**class_members(GOOD), f"../../evil-{UNIQUE}": b"x",
                                        f"/tmp/ftapp-abs-{UNIQUE}": b"x", "ok/../../x.png": b"x"})
    work = tmp_path / "work"
    ds, report = load_dataset(src, workdir=work)
    assert report.ok
    real_work = os.path.realpath(work)
    for item in ds.items:
        assert os.path.realpath(item).startswith(real_work + os.sep)
    assert not os.path.exists(f"/tmp/ftapp-abs-{UNIQUE}")
    with zipfile.ZipFile(src) as zf:
        assert len(zf.infolist()) == 13
    assert sum(p.level == "skipped" for p in report.problems) == 3
