"""Write scikit-learn's bundled handwritten digits as zipped PNG folders.

``sklearn.datasets.load_digits`` ships 1797 8x8 grayscale images with values
0-16 (no download needed). Each image is scaled to 0-255 and upscaled to 32x32
with NEAREST-neighbour resampling (keeps the crisp 4x4 blocks; no invented
detail), then saved as a grayscale ("L") PNG.

A stratified split with a fixed seed gives:
    <out>/digits_train.zip   (75%)   digits/<class>/<index>.png
    <out>/digits_test.zip    (25%)   digits/<class>/<index>.png
where <index> is the sample's row number in ``load_digits()``, so the two zips
never share a file name. Zip entries use a fixed timestamp, so the output is
byte-identical on every run.

Usage:
    python benchmarks/make_digits.py [--out benchmarks/data/] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DEFAULT_OUT = Path(__file__).resolve().parent / "data"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
SIZE = 32


def to_png_bytes(img8x8: np.ndarray) -> bytes:
    arr = np.clip(np.rint(img8x8 * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, mode="L").resize((SIZE, SIZE), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_zip(path: Path, images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> None:
    order = np.lexsort((indices, labels))  # sorted by class, then index
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for j in order:
            info = zipfile.ZipInfo(f"digits/{labels[j]}/{indices[j]:04d}.png", date_time=ZIP_DATE)
            zf.writestr(info, to_png_bytes(images[j]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: benchmarks/data/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=float, default=0.25)
    args = ap.parse_args()

    digits = load_digits()
    idx = np.arange(len(digits.target))
    tr, te = train_test_split(idx, test_size=args.test_size, stratify=digits.target, random_state=args.seed)

    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in (("digits_train.zip", tr), ("digits_test.zip", te)):
        path = args.out / name
        write_zip(path, digits.images[part], digits.target[part], part)
        counts = np.bincount(digits.target[part], minlength=10)
        print(f"wrote {path}: {len(part)} images, per class {counts.tolist()}")


if __name__ == "__main__":
    main()
