"""safe_extract directly: what lands on disk, and what never does."""
from __future__ import annotations

import os
import zipfile

from corpus import make_zip, png_bytes, symlink_info
from ftapp.data import DataReport, Limits
from ftapp.data.archive import is_junk, safe_extract


def extract(tmp_path, members, **limits):
    src = make_zip(tmp_path / "u.zip", members)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    rep = DataReport(source="u.zip")
    root = safe_extract(src, work, Limits(**limits), rep, "u.zip")
    return root, rep


def files_under(root):
    out = []
    for d, _, fs in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/") for f in fs]
    return sorted(out)


def test_plain_extraction_with_backslash_names(tmp_path):
    root, rep = extract(tmp_path, {"a/x.png": png_bytes(), "b\\y.png": png_bytes(), "c/": b""})
    assert rep.ok and not rep.problems
    assert files_under(root) == ["a/x.png", "b/y.png"]
    assert os.path.isdir(os.path.join(root, "c"))
    assert os.path.dirname(root) == str(tmp_path / "work")


def test_unsafe_members_not_written(tmp_path):
    members = [("ok.txt", b"fine"), ("../up.txt", b"x"), ("a/../../up2.txt", b"x"), ("/abs.txt", b"x"),
               ("D:\\win.txt", b"x"), (symlink_info("link"), "/etc/passwd")]
    root, rep = extract(tmp_path, members)
    assert files_under(root) == ["ok.txt"]
    assert len(rep.skipped) == 5 and rep.ok
    assert not (tmp_path / "up.txt").exists() and not (tmp_path / "up2.txt").exists()
    assert not os.path.lexists(os.path.join(root, "link"))


def test_duplicate_member_first_wins(tmp_path):
    src = tmp_path / "u.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("a.txt", "first")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
            zf.writestr("a.txt", "second")
    (tmp_path / "w").mkdir()
    rep = DataReport(source="u.zip")
    root = safe_extract(src, tmp_path / "w", Limits(), rep, "u.zip")
    assert open(os.path.join(root, "a.txt")).read() == "first"
    assert "appears twice" in rep.skipped[0].message


def test_caps_refuse_before_writing(tmp_path):
    root, rep = extract(tmp_path, {f"f{i}.txt": b"x" for i in range(11)}, max_members=10)
    assert root is None and not rep.ok
    assert os.listdir(tmp_path / "work") == []  # nothing unpacked at all


def test_small_compressible_members_are_not_bombs(tmp_path):
    # 500 KB of one letter compresses >200:1, but is far below the size where that matters
    root, rep = extract(tmp_path, {"a/long.txt": b"a" * 500_000})
    assert rep.ok and os.path.getsize(os.path.join(root, "a", "long.txt")) == 500_000


def test_ratio_limit_configurable(tmp_path):
    root, rep = extract(tmp_path, {"a/zeros.bin": b"\x00" * (2 * 2**20)}, max_compression_ratio=10_000)
    assert rep.ok
    root, rep = extract(tmp_path, {"a/zeros.bin": b"\x00" * (2 * 2**20)})
    assert root is None and "zip bomb" in rep.errors[0].message


def test_is_junk():
    for name in ["__MACOSX/a/._x.png", ".DS_Store", "a/Thumbs.db", "Desktop.ini", ".git/config", "a/.hidden"]:
        assert is_junk(name), name
    for name in ["a/b.png", "../x.png", "./a/b.png", "thumbs/db.png"]:
        assert not is_junk(name), name


class _OversizedMember:
    """Stands in for a ZipFile whose member yields more bytes than its header promises
    (CPython's zipfile stops at the promised size itself; this checks our own limit too)."""

    def __init__(self, payload: bytes):
        self.payload = payload

    def open(self, info):
        import io

        return io.BytesIO(self.payload)


def test_copy_member_never_trusts_header_sizes(tmp_path):
    from ftapp.data.archive import CHUNK, _copy_member

    info = zipfile.ZipInfo("a.bin")
    info.file_size = 10
    status, _ = _copy_member(_OversizedMember(b"x" * (CHUNK + 5)), info, str(tmp_path / "a.bin"), budget=10**9)
    assert status == "lied" and not (tmp_path / "a.bin").exists()

    info.file_size = 3 * CHUNK
    status, _ = _copy_member(_OversizedMember(b"x" * (2 * CHUNK)), info, str(tmp_path / "b.bin"), budget=CHUNK)
    assert status == "too_big" and not (tmp_path / "b.bin").exists()
