"""Reading and checking pictures (PIL only; no torch here).

`check_image` is run once per file at ingestion: it reads the header size
first (cheap, catches decompression bombs before any decoding) and then fully
decodes the picture once, which is the only reliable way to catch truncated
files.  `open_image` is what the trainer and the predictor use.
"""
from __future__ import annotations

import os
import re
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ftapp.errors import UserFacingError

from .report import Limits

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

# Picture types people often have that PIL cannot read out of the box: say what to do.
KNOWN_UNSUPPORTED = {
    ".heic": "iPhone HEIC pictures are not supported; convert them to JPEG or PNG first.",
    ".heif": "HEIF pictures are not supported; convert them to JPEG or PNG first.",
    ".svg": "drawings in SVG format are not supported; export them as PNG first.",
    ".pdf": "PDF files are not supported; export the pages as PNG or JPEG pictures first.",
    ".raw": "camera RAW files are not supported; export them as JPEG first.",
    ".cr2": "camera RAW files are not supported; export them as JPEG first.",
    ".nef": "camera RAW files are not supported; export them as JPEG first.",
    ".dng": "camera RAW files are not supported; export them as JPEG first.",
}

_DEFAULT_MAX_PIXELS = Limits().max_image_pixels
_WARNINGS_LOCK = threading.Lock()


class ImageError(UserFacingError, ValueError):
    """A picture cannot be used; the message is written for the user."""


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def unsupported_reason(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    if ext in KNOWN_UNSUPPORTED:
        return KNOWN_UNSUPPORTED[ext]
    kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
    what = f"'{ext}' files" if ext else "files without an extension"
    return f"is not a supported picture type ({what}); use one of {kinds}."


def _too_big_message(w: int | None, h: int | None, max_pixels: int, pil_error: Exception | None = None) -> str:
    dims = f" ({w} x {h} pixels)" if w and h else ""
    if not dims and pil_error is not None:  # PIL refused before we saw the size; its message has the count
        m = re.search(r"\((\d+) pixels\)", str(pil_error))
        dims = f" ({int(m.group(1)) / 1e6:,.0f} megapixels)" if m else ""
    return (f"is too large{dims}; the limit is {max_pixels / 1e6:g} megapixels. "
            f"Shrink the picture and upload it again.")


def check_image(path: str | os.PathLike, max_pixels: int = _DEFAULT_MAX_PIXELS) -> str | None:
    """Return None if the picture is usable, else a plain-language reason (starting with 'is ...')."""
    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            return "is empty (0 bytes). Copy the picture again or remove it."
    except OSError:
        return "could not be found or read."
    ext = os.path.splitext(path)[1].lower()
    # PIL warns (and over 2x raises) above Image.MAX_IMAGE_PIXELS; turn the warning into an
    # exception so a huge picture becomes a skipped item, never a crash or console noise.
    # catch_warnings swaps process-wide state, so our own concurrent calls take turns.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:  # header only: nothing decoded yet
                    return _too_big_message(w, h, max_pixels)
                im.load()  # full decode: catches truncated / corrupt data
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            return _too_big_message(None, None, max_pixels, e)
        except UnidentifiedImageError:
            return (f"is not a picture, even though its name ends in '{ext}' (maybe another kind of file "
                    f"was renamed). Remove it or replace it with the real picture.")
        except MemoryError:
            return _too_big_message(None, None, max_pixels)
        except Exception:  # PIL raises many types (OSError, SyntaxError, ValueError...) on broken files
            return ("is damaged or incomplete (perhaps cut off while copying or downloading). "
                    "Copy or export it again, or remove it.")
    return None


def open_image(path: str | os.PathLike, max_pixels: int = _DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open any supported picture as an RGB image with EXIF rotation applied.

    Raises ImageError (a ValueError) with a plain message if the file is unreadable or too large.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    # No catch_warnings here: this is the hot path of training (possibly on several threads) and
    # pictures reaching it passed check_image.  A PIL bomb warning (only above Image.MAX_IMAGE_PIXELS,
    # far over our default limit) is at worst printed once; our own size check still refuses the picture.
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(f"{name} {_too_big_message(w, h, max_pixels)}")
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
            return to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name} {_too_big_message(None, None, max_pixels, e)}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not a picture that can be read.") from None
    except FileNotFoundError:
        raise ImageError(f"{name} could not be found.") from None
    except Exception:  # PIL raises many exception types on broken files
        raise ImageError(f"{name} is damaged or incomplete and cannot be read.") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent areas become white (not black, PIL's default)."""
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        # palette images may carry transparency; go through RGBA so it is honoured
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        if im.mode == "RGB":
            return im
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode.startswith("I") or im.mode == "F":
        # 16/32-bit greyscale (microscopy, medical scans): scale down to 8 bits ourselves,
        # because PIL's convert() just clips everything above 255 to white.
        arr = np.asarray(im, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        lo = float(arr.min()) if arr.size else 0.0
        if hi > 255 or lo < 0:
            if lo >= 0 and hi <= 65535:
                arr = arr / 257.0
            else:
                arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    try:
        return im.convert("RGB")  # L, 1, CMYK, YCbCr, ...
    except (ValueError, OSError):
        return im.convert("L").convert("RGB")
