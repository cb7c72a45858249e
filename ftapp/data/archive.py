"""Safe zip extraction.

Uploaded zips are untrusted.  Before anything is written we walk `infolist()`
and refuse: too many entries, too much uncompressed data, suspicious
compression ratios (zip bombs).  While extracting, each member is checked on
its own: absolute paths, drive letters, `..` components and symbolic links are
left out, and every target path must resolve inside the destination folder.
Data is copied in chunks with a byte budget, because the sizes written in the
zip header can lie.

Nothing here raises for a bad upload: problems go into the DataReport.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
import zlib

from .report import DataReport, Limits, human_size

# Files that operating systems sprinkle into folders; never user data.
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r", "__macosx"}
ARCHIVE_EXTENSIONS = {".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz"}

# Small members cannot be bombs on their own (a 100 KB text of spaces compresses
# 1000:1 and is harmless); the total-size cap covers many small ones.
RATIO_MIN_BYTES = 1 * 2**20
CHUNK = 1 * 2**20

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_junk(relpath: str) -> bool:
    """True for OS clutter (__MACOSX/, .DS_Store, Thumbs.db, desktop.ini) and hidden dot-files/folders."""
    for part in relpath.replace("\\", "/").split("/"):
        if not part:
            continue
        if part in (".", ".."):  # path navigation, judged by the safety checks instead
            continue
        if part.lower() in JUNK_NAMES or part.startswith("."):
            return True
    return False


def note_junk(report: DataReport, where: str, names: list[str]) -> None:
    """One grouped note instead of one line per .DS_Store file."""
    if names:
        kinds = sorted({os.path.basename(n.rstrip("/")) or n for n in names})[:4]
        report.skip(
            where,
            f"left out {len(names)} system or hidden file(s) made by the computer "
            f"(such as {', '.join(kinds)}); nothing to do.",
        )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix mode bits live in the high 16 bits of external_attr.
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_extract(zip_path: str | os.PathLike, workdir: str | os.PathLike, limits: Limits,
                 report: DataReport, zip_name: str) -> str | None:
    """Extract `zip_path` into a new folder inside `workdir`.

    Returns that folder, or None when the whole archive was refused (an error
    Problem has then been added to `report`).
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        report.error(zip_name, "is not a valid zip file, or it is damaged. "
                               "Create the zip again (e.g. right-click the folder > Compress) and upload it again.")
        return None

    with zf:
        try:
            infos = zf.infolist()
        except Exception:  # defensive: a corrupt central directory
            report.error(zip_name, "is damaged and cannot be read. Create the zip again and re-upload it.")
            return None

        if not _check_archive_caps(infos, limits, report, zip_name):
            return None

        dest = tempfile.mkdtemp(prefix="unzip-", dir=os.fspath(workdir))
        real_dest = os.path.realpath(dest)
        budget = limits.max_uncompressed_bytes  # bytes we still allow to be written
        junk: list[str] = []

        for info in infos:
            name = info.filename.replace("\\", "/")  # zips made on Windows may use backslashes
            if is_junk(name):
                junk.append(name)
                continue
            reason = _unsafe_reason(name, info)
            if reason:
                report.skip(name, reason)
                continue
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            target = os.path.join(dest, *parts)
            real_target = os.path.realpath(target)
            if not real_target.startswith(real_dest + os.sep):
                report.skip(name, "points outside the zip, so it was left out for safety.")
                continue
            if info.is_dir() or name.endswith("/"):
                try:
                    os.makedirs(target, exist_ok=True)
                except OSError:
                    report.skip(name, "this folder name cannot be used on this computer; it was left out.")
                continue
            if os.path.splitext(parts[-1])[1].lower() in ARCHIVE_EXTENSIONS:
                report.skip(name, "is an archive inside the zip, which is not opened. "
                                  "Unzip it and include its folders in the main zip instead.")
                continue
            if info.flag_bits & 0x1:
                report.skip(name, "is password-protected, so it cannot be read. Zip it again without a password.")
                continue
            if os.path.lexists(target):
                report.skip(name, "appears twice in the zip; only the first copy was used.")
                continue

            status, written = _copy_member(zf, info, target, budget)
            if status == "ok":
                budget -= written
            elif status == "too_big":
                report.error(zip_name, f"holds more data than allowed when unpacked (limit "
                                       f"{human_size(limits.max_uncompressed_bytes)}); it may be a 'zip bomb'. "
                                       f"Upload a smaller zip.")
                return None
            elif status == "lied":
                report.error(name, "contains more data than the zip says it should; the zip is damaged "
                                   "or unsafe and was not used. Create the zip again.")
                return None
            elif status == "unsupported":
                report.skip(name, "is packed with a compression method that is not supported. "
                                  "Create the zip with your computer's standard 'Compress' option.")
            else:
                report.skip(name, "is damaged inside the zip and could not be unpacked. Create the zip again.")

        note_junk(report, zip_name, junk)
    return dest


def _check_archive_caps(infos: list[zipfile.ZipInfo], limits: Limits, report: DataReport, zip_name: str) -> bool:
    """Checks that need only the header list; run before anything is written."""
    if len(infos) > limits.max_members:
        report.error(zip_name, f"holds {len(infos):,} files and folders; the limit is {limits.max_members:,}. "
                               f"Split it into smaller zips or remove files you do not need.")
        return False
    total = sum(max(i.file_size, 0) for i in infos)
    packed = sum(max(i.compress_size, 0) for i in infos)
    if total > limits.max_uncompressed_bytes:
        report.error(zip_name, f"would unpack to {human_size(total)}, more than the "
                               f"{human_size(limits.max_uncompressed_bytes)} allowed. Upload a smaller zip "
                               f"(fewer or smaller files).")
        return False
    for i in infos:
        if i.file_size > RATIO_MIN_BYTES and i.file_size / max(i.compress_size, 1) > limits.max_compression_ratio:
            report.error(i.filename, f"is packed suspiciously tightly ({human_size(i.file_size)} from "
                                     f"{human_size(i.compress_size)}); this looks like a 'zip bomb', so the zip "
                                     f"was not opened. Remove this file and upload again.")
            return False
    if total > RATIO_MIN_BYTES and total / max(packed, 1) > limits.max_compression_ratio:
        report.error(zip_name, f"is packed suspiciously tightly overall ({human_size(total)} from "
                               f"{human_size(packed)}); this looks like a 'zip bomb', so it was not opened.")
        return False
    return True


def _unsafe_reason(name: str, info: zipfile.ZipInfo) -> str | None:
    if name.startswith("/"):
        return "has an absolute path (starts with '/'), so it was left out for safety."
    if _DRIVE.match(name):
        return "has a drive letter in its path (like 'C:'), so it was left out for safety."
    if ".." in name.split("/"):
        return "points outside the zip (its path contains '..'), so it was left out for safety."
    if _is_symlink(info):
        return "is a shortcut (symbolic link), not a real file, so it was left out for safety."
    if "\x00" in name:
        return "has an invalid file name and was left out."
    return None


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: str, budget: int) -> tuple[str, int]:
    """Copy one member in chunks, never writing more than the header promised or the budget allows.

    Returns (status, bytes written); status is ok | too_big | lied | unsupported | damaged.
    """
    written = 0
    status = "ok"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with zf.open(info) as src, open(target, "xb") as dst:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > info.file_size:
                    status = "lied"
                    break
                if written > budget:
                    status = "too_big"
                    break
                dst.write(chunk)
    except NotImplementedError:
        status = "unsupported"
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, ValueError, OSError):
        status = "damaged"
    if status != "ok":
        try:
            os.remove(target)
        except OSError:
            pass
    return status, written

