"""Helpers that build real test files (pictures, zips, tables) in temporary folders.

Nothing is mocked: every file is written to disk and read back by the real code.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image

# -------------------------------------------------------------------------------------------
# Pictures
# -------------------------------------------------------------------------------------------


def png_bytes(size=(8, 8), color=(200, 30, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(size=(64, 64), seed=0) -> bytes:
    # noisy content so the file is big enough to cut in half meaningfully
    import random

    rnd = random.Random(seed)
    im = Image.new("RGB", size)
    im.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(size[0] * size[1])])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_bytes()
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header(width=100_000, height=100_000) -> bytes:
    """A tiny file whose IHDR (with a valid CRC) claims an enormous picture: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def colour(i: int) -> tuple[int, int, int]:
    """A distinct colour per index, so every generated picture has different bytes."""
    return (i * 37 % 256, i * 91 % 256, (i * 13 + 7) % 256)


def class_members(classes: dict[str, int], prefix: str = "", size=(8, 8), start=0) -> dict[str, bytes]:
    """{'cats': 3} -> {'cats/img_0.png': <png>, ...} with distinct pictures."""
    out, k = {}, start
    for cls, n in classes.items():
        for i in range(n):
            out[f"{prefix}{cls}/img_{i}.png"] = png_bytes(size, colour(k))
            k += 1
    return out


def write_tree(root: Path, members: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


# -------------------------------------------------------------------------------------------
# Zips
# -------------------------------------------------------------------------------------------


def make_zip(path: Path, members, compression=zipfile.ZIP_DEFLATED) -> Path:
    """members: {name: bytes} or a list of (name, bytes) / ZipInfo pairs; names are written verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)  # S_IFLNK: a symbolic link
    return info


def _patch_headers(path: Path, name: str, local_patch, central_patch) -> None:
    """Edit the raw local and central headers of member `name` (zipfile will not write lies for us)."""
    raw = bytearray(path.read_bytes())
    enc = name.encode()
    # local file header: name length at +26, name at +30
    i = raw.find(b"PK\x03\x04")
    while i != -1:
        nlen = struct.unpack_from("<H", raw, i + 26)[0]
        if raw[i + 30:i + 30 + nlen] == enc:
            local_patch(raw, i)
        i = raw.find(b"PK\x03\x04", i + 4)
    # central directory header: name length at +28, name at +46
    i = raw.find(b"PK\x01\x02")
    while i != -1:
        nlen = struct.unpack_from("<H", raw, i + 28)[0]
        if raw[i + 46:i + 46 + nlen] == enc:
            central_patch(raw, i)
        i = raw.find(b"PK\x01\x02", i + 4)
    path.write_bytes(bytes(raw))


def lying_size_zip(path: Path, name: str, data: bytes, claimed: int, other: dict[str, bytes]) -> Path:
    """A zip whose headers claim `name` is only `claimed` bytes when it really holds more."""
    make_zip(path, {**other, name: data})
    _patch_headers(path, name,
                   lambda raw, i: struct.pack_into("<I", raw, i + 22, claimed),  # uncompressed size
                   lambda raw, i: struct.pack_into("<I", raw, i + 24, claimed))
    return path


def encrypted_flag_zip(path: Path, name: str, data: bytes, other: dict[str, bytes]) -> Path:
    """A zip whose member `name` is marked as password-protected (general purpose flag bit 0)."""
    make_zip(path, {**other, name: data})

    def set_flag(off):
        return lambda raw, i: struct.pack_into("<H", raw, i + off, struct.unpack_from("<H", raw, i + off)[0] | 1)
    _patch_headers(path, name, set_flag(6), set_flag(8))
    return path


# -------------------------------------------------------------------------------------------
# Tables
# -------------------------------------------------------------------------------------------

POS = ["great product, works well", "love it", "excellent value", "would buy again", "super happy",
       "fantastic quality", "really good"]
NEG = ["broke after a day", "terrible", "waste of money", "very disappointed", "do not buy",
       "awful support", "poor quality"]


def text_rows(n_per_class=6, classes=("pos", "neg")) -> list[tuple[str, str]]:
    rows = []
    for c in classes:
        for i in range(n_per_class):
            rows.append((f"{c} example number {i} " + (POS if c == "pos" else NEG)[i % 7], c))
    return rows


def csv_text(rows, header=("text", "label"), delim=",") -> str:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_xlsx(path: Path, header, rows, sheet="Sheet1", extra_sheets=None) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    for name, rs in (extra_sheets or {}).items():
        w2 = wb.create_sheet(name)
        for r in rs:
            w2.append(list(r))
    wb.save(path)
    return path


# -------------------------------------------------------------------------------------------
# "Nothing written outside workdir"
# -------------------------------------------------------------------------------------------


def snapshot(root: Path, exclude: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file/folder under root (except under `exclude`) with size and mtime."""
    out = {}
    ex = os.path.realpath(exclude) if exclude else None
    for dirpath, dirnames, filenames in os.walk(root):
        if ex and (os.path.realpath(dirpath) == ex or os.path.realpath(dirpath).startswith(ex + os.sep)):
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if ex and os.path.realpath(p) == ex:
                continue
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out
