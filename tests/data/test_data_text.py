"""Text tables: formats, encodings, column detection, cleaning."""
from __future__ import annotations

import json

import pytest

from corpus import csv_text, text_rows, write_xlsx
from ftapp.data import Limits, load_dataset
from ftapp.data.text import decode_bytes, find_column, guess_delimiter


def load(path, tmp_path, **kw):
    return load_dataset(path, workdir=tmp_path / "work", **kw)


def write(tmp_path, name, content, encoding="utf-8"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding=encoding, newline="")
    return p


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_guess_delimiter(delim):
    text = csv_text(text_rows(), delim=delim)
    assert guess_delimiter(text) == delim


def test_guess_delimiter_not_fooled_by_commas_in_text():
    rows = [("one, two, three, four", "a"), ("five, six", "b"), ("seven, eight, nine", "a")] * 3
    assert guess_delimiter(csv_text(rows, delim=";")) == ";"


@pytest.mark.parametrize("cols,text,label", [
    (["id", "Review Text", "Rating"], "Review Text", "Rating"),
    (["SENTENCE", "Intent"], "SENTENCE", "Intent"),
    (["title", "body", "category"], "body", "category"),
    (["utterance", "y"], "utterance", "y"),
    (["comment_id", "comment", "label_id"], "comment", None),
])
def test_find_column_by_common_names(cols, text, label):
    from ftapp.data.text import LABEL_NAMES, TEXT_NAMES

    assert find_column(cols, TEXT_NAMES) == text
    assert find_column(cols, LABEL_NAMES, {text}) == label


def test_two_unnamed_columns_longer_strings_are_text(tmp_path):
    rows = [(c, f"this is a much longer sentence about {c} number {i}") for c in ("x", "y") for i in range(6)]
    ds, rep = load(write(tmp_path, "d.csv", csv_text(rows, header=("foo", "bar"))), tmp_path)
    assert rep.ok, rep.summary()
    assert rep.text_column == "bar" and rep.label_column == "foo"
    assert ds.classes == ["x", "y"]


def test_chosen_columns_override_detection(tmp_path):
    rows = [(f"t{i}", "a" if i % 2 else "b", "c" if i % 3 else "d") for i in range(12)]
    p = write(tmp_path, "d.csv", csv_text(rows, header=("text", "label", "other")))
    ds, rep = load(p, tmp_path, label_column="OTHER")  # case-insensitive match of a chosen column
    assert rep.ok and rep.label_column == "other" and ds.classes == ["c", "d"]
    assert rep.columns == ["text", "label", "other"]


def test_chosen_same_column_twice_is_error(tmp_path):
    p = write(tmp_path, "d.csv", csv_text(text_rows()))
    ds, rep = load(p, tmp_path, text_column="text", label_column="text")
    assert ds is None and "two different columns" in rep.errors[0].message


def test_bytes_windows_1252_cannot_decode_are_still_read_and_named(tmp_path):
    raw = csv_text(text_rows()).encode() + b"caf\xe9 \x81 odd,pos\n"  # 0x81 is undefined in cp1252
    ds, rep = load(write(tmp_path, "d.csv", raw), tmp_path)
    assert rep.ok and "not saved as UTF-8, so it was read as" in rep.warnings[0].message
    assert len(ds) == 13


@pytest.mark.parametrize("encoding,name,rows", [
    ("cp1251", "Cyrillic (Windows-1251)", [("Не могу войти в личный кабинет", "доступ"),
                                            ("Счёт выставлен дважды, верните деньги", "оплата"),
                                            ("Приложение падает при запуске", "ошибка")]),
    ("shift_jis", "Japanese (Shift-JIS)", [("ログインできません。パスワードを再設定したい", "アクセス"),
                                            ("請求が二重に計上されています", "請求"),
                                            ("アプリが起動直後に落ちます", "不具合")]),
    ("cp1250", "Central European (Windows-1250)", [("Zażółć gęślą jaźń, proszę o zwrot", "płatność"),
                                                    ("Łódź: aplikacja się zawiesza", "błąd"),
                                                    ("Nie mogę się zalogować", "dostęp")]),
])
def test_legacy_encodings_are_detected_and_named(tmp_path, encoding, name, rows):
    """A Russian, a Japanese and a Polish CSV saved by an older Excel: the labels arrive intact and
    the report says which encoding was used."""
    data = [(f"{text} {i}", label) for i in range(4) for text, label in rows]
    ds, rep = load(write(tmp_path, "d.csv", csv_text(data).encode(encoding)), tmp_path)
    assert rep.ok, rep.summary()
    assert sorted(set(ds.labels)) == sorted({label for _, label in rows})
    assert ds.items[0] == data[0][0] and name in rep.warnings[0].message


def test_utf16_excel_unicode_text(tmp_path):
    ds, rep = load(write(tmp_path, "d.txt", csv_text(text_rows(), delim="\t").encode("utf-16")), tmp_path)
    assert rep.ok and not rep.warnings and len(ds) == 12


def test_windows_line_endings_and_quoted_newline(tmp_path):
    text = 'text,label\r\n"line one\r\nline two",a\r\n' + "".join(f"t{i},{'ab'[i % 2]}\r\n" for i in range(10))
    ds, rep = load(write(tmp_path, "d.csv", text), tmp_path)
    assert rep.ok
    assert ds.items[0] == "line one\r\nline two"
    assert ds.origins[1] == "d.csv row 3"  # spreadsheet row numbers count records, not physical lines


def test_labels_stay_strings(tmp_path):
    rows = [(f"t{i}", lab) for i, lab in enumerate(["1", "2", "NA", "None", "007", "1"] * 2)]
    ds, rep = load(write(tmp_path, "d.csv", csv_text(rows)), tmp_path)
    assert set(ds.labels) == {"1", "2", "NA", "None", "007"}


def test_jsonl_and_json_array(tmp_path):
    recs = [{"text": t, "label": lab, "extra": 1.5} for t, lab in text_rows()]
    p1 = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in recs))
    p2 = write(tmp_path, "d.json", json.dumps({"data": recs}))
    for p in (p1, p2):
        ds, rep = load(p, tmp_path)
        assert rep.ok and len(ds) == 12 and rep.columns == ["text", "label", "extra"]
    assert ds.origins[0] == "d.json item 1"


def test_jsonl_numeric_labels(tmp_path):
    p = write(tmp_path, "d.jsonl", "\n".join(json.dumps({"text": f"t{i}", "label": i % 2}) for i in range(10)))
    ds, rep = load(p, tmp_path)
    assert ds.classes == ["0", "1"]


def test_xlsx_first_sheet_used_and_others_named(tmp_path):
    p = write_xlsx(tmp_path / "b.xlsx", ("text", "label"), text_rows(),
                   extra_sheets={"Notes": [("some", "notes")]})
    ds, rep = load(p, tmp_path)
    assert rep.ok and len(ds) == 12
    assert any("Notes" in w.message for w in rep.warnings)
    assert ds.origins[0] == "b.xlsx row 2"


def test_xlsx_damaged(tmp_path):
    ds, rep = load(write(tmp_path, "b.xlsx", b"PK\x03\x04 not really"), tmp_path)
    assert ds is None and "Excel" in rep.errors[0].message


def test_truncation_limit_is_configurable(tmp_path):
    p = write(tmp_path, "d.csv", csv_text(text_rows() + [("z" * 500, "pos"), ("w" * 600, "neg")]))
    ds, rep = load(p, tmp_path, limits=Limits(max_text_chars=100))
    assert max(len(t) for t in ds.items) == 100
    assert len(rep.warnings) == 1 and rep.warnings[0].message.startswith("2 text(s)")


def test_text_whitespace_stripped(tmp_path):
    ds, rep = load(write(tmp_path, "d.csv", csv_text([("  padded  ", " a "), ("x", "b")] * 3)), tmp_path)
    assert ds.items[0] == "padded" and ds.labels[0] == "a"


def test_blank_lines_ignored(tmp_path):
    ds, rep = load(write(tmp_path, "d.csv", csv_text(text_rows()).replace("\n", "\n\n", 3)), tmp_path)
    assert rep.ok and len(ds) == 12 and not rep.skipped


@pytest.mark.parametrize("raw,text,fallback", [
    (b"\xef\xbb\xbftext", "text", None),  # UTF-8 with byte-order mark: the mark is dropped
    ("caf\u00e9".encode(), "caf\u00e9", None),
    ("caf\u00e9 \u20ac".encode("cp1252"), "caf\u00e9 \u20ac", "Western European (Windows-1252)"),
    ("x".encode("utf-16"), "x", None),
])
def test_decode_bytes(raw, text, fallback):
    assert decode_bytes(raw) == (text, fallback)


def test_id_columns_ignored_when_guessing(tmp_path):
    rows = [(i, f"comment number {i} with some words", "yes" if i % 2 else "no") for i in range(12)]
    ds, rep = load(write(tmp_path, "d.csv", csv_text(rows, header=("id", "comment_text", "toxic"))), tmp_path)
    assert rep.ok, rep.summary()
    assert rep.text_column == "comment_text" and rep.label_column == "toxic"


def test_a_column_of_unique_values_is_never_taken_as_the_label(tmp_path):
    """Two columns, one of texts and one of numbers that never repeat: not a label — one clear
    error naming the columns (it used to be taken as the label, leave validation empty and crash)."""
    p = tmp_path / "no_labels.csv"
    p.write_text("description,amount\n" + "".join(f"a fairly long description number {i},{1000 + i * 7}\n"
                                                  for i in range(40)))
    ds, report = load_dataset(p, workdir=tmp_path / "w")
    assert ds is None and len(report.errors) == 1
    msg = str(report.errors[0])
    assert "'amount'" in msg and "'description'" in msg and "different value in almost every row" in msg
    # picked by hand it is taken as asked (the user knows their data)
    ds, report = load_dataset(p, workdir=tmp_path / "w2", label_column="amount", text_column="description")
    assert report.label_column == "amount"
