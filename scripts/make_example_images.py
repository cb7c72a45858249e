"""Generate the bundled image example ``assets/examples/shapes.zip``.

The zip holds ``shapes/{circle,square,triangle}/NNN.png`` -- 40 PNGs per class,
96x96 RGB. Each image has a random background colour, a random fill colour
(kept visibly different from the background), a random size/position, random
rotation for squares and triangles, and a little Gaussian pixel noise, so the
task is learnable but not trivial.

Deterministic: a fixed seed drives every random choice, and zip entries are
written with a fixed timestamp so re-running gives a byte-identical file.

Usage:
    python scripts/make_example_images.py [--out assets/examples/shapes.zip]
        [--per-class 40] [--size 96] [--seed 1234]
"""

from __future__ import annotations

import argparse
import io
import math
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "assets" / "examples" / "shapes.zip"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def _colours(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and fill colours that differ enough to keep the shape visible."""
    bg = _random_colour(rng)
    while True:
        fg = _random_colour(rng)
        if sum(abs(a - b) for a, b in zip(bg, fg)) >= 150:
            return bg, fg


def _polygon(cx: float, cy: float, radius: float, n: int, angle: float) -> list[tuple[float, float]]:
    return [
        (cx + radius * math.cos(angle + 2 * math.pi * k / n),
         cy + radius * math.sin(angle + 2 * math.pi * k / n))
        for k in range(n)
    ]


def draw_shape(kind: str, rng: np.random.Generator, size: int = 96, noise: bool = True) -> Image.Image:
    # Draw at 2x and downsample for anti-aliased edges.
    scale = 2
    s = size * scale
    bg, fg = _colours(rng)
    img = Image.new("RGB", (s, s), bg)
    draw = ImageDraw.Draw(img)

    # Circumradius between ~15% and ~38% of the image side; centre keeps the
    # shape fully inside the canvas.
    radius = float(rng.uniform(0.15, 0.38)) * s
    margin = radius + 2
    cx = float(rng.uniform(margin, s - margin))
    cy = float(rng.uniform(margin, s - margin))
    angle = float(rng.uniform(0, 2 * math.pi))

    if kind == "circle":
        r = radius * 0.85  # a circle of the same circumradius looks bigger; even it out
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif kind == "square":
        draw.polygon(_polygon(cx, cy, radius, 4, angle), fill=fg)
    elif kind == "triangle":
        draw.polygon(_polygon(cx, cy, radius, 3, angle), fill=fg)
    else:
        raise ValueError(f"unknown shape {kind!r}")

    img = img.resize((size, size), Image.LANCZOS)
    return add_noise(img, rng) if noise else img


def add_noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Add a little noise: soft low-frequency mottling plus sparse speckles.

    (Dense per-pixel Gaussian noise would make each PNG ~20 KB; this keeps the
    whole zip well under 1 MB while still perturbing the flat colours.)
    """
    size = img.size[0]
    arr = np.asarray(img).astype(np.float32)
    low = rng.normal(0.0, 8.0, size=(size // 4, size // 4)).astype(np.float32)
    low = np.asarray(Image.fromarray(low, mode="F").resize((size, size), Image.BILINEAR))
    arr += low[..., None]
    speckle = (rng.random((size, size)) < 0.02) * rng.normal(0.0, 40.0, size=(size, size))
    arr += speckle[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def build_zip(out: Path, per_class: int = 40, size: int = 96, seed: int = 1234) -> Path:
    rng = np.random.default_rng(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for kind in CLASSES:
            for i in range(per_class):
                img = draw_shape(kind, rng, size)
                buf = io.BytesIO()
                img.save(buf, format="PNG", optimize=True)
                info = zipfile.ZipInfo(f"shapes/{kind}/{kind}_{i:03d}.png", date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED  # PNG is already compressed
                zf.writestr(info, buf.getvalue())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    path = build_zip(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
