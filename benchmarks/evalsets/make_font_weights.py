"""A real picture regression set: pictures of type faces and the weight their makers declare.

Each font file in a set of Debian font packages declares its weight (OpenType `OS/2.usWeightClass`:
100 thin … 400 regular … 700 bold … 900 black), chosen by its designers. A picture of a fixed
sample text set in the font is the example; that declared weight is its number. The pictures are
not photos (the pre-trained model saw photos), and the split keeps every family on one side, so
the test families' designs were never seen in training.

    python benchmarks/evalsets/make_font_weights.py --out /work/evalsets     # a few minutes cold

Writes <out>/font_weights/{train,test}.csv (`image,weight`; paths relative to the folder) and
images/, and prints the cheap baselines the issue names on the same split (predict-the-mean, and
ridge regression on the colour and gradient histograms ftapp itself uses for pictures).
Only apt-get, fontTools, Pillow, numpy, scikit-learn and scikit-image.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Latin families that ship several weights as separate files (variable fonts are skipped: their
# weight is an axis, not a declared number per file).
PACKAGES = [
    "fonts-adf-accanthis", "fonts-adf-baskervald", "fonts-adf-berenis", "fonts-adf-gillius", "fonts-adf-irianis",
    "fonts-adf-libris", "fonts-adf-mekanus", "fonts-adf-oldania", "fonts-adf-romande", "fonts-adf-switzera",
    "fonts-adf-tribun", "fonts-adf-universalis", "fonts-adf-verana", "fonts-b612", "fonts-cabin", "fonts-cantarell",
    "fonts-cmu", "fonts-comfortaa", "fonts-courier-prime", "fonts-crosextra-caladea", "fonts-crosextra-carlito",
    "fonts-croscore", "fonts-dejavu-extra", "fonts-dosis", "fonts-ebgaramond", "fonts-firacode", "fonts-freefont-ttf",
    "fonts-go", "fonts-hack", "fonts-ibm-plex", "fonts-jetbrains-mono", "fonts-junicode", "fonts-jura",
    "fonts-karla", "fonts-lato", "fonts-league-spartan", "fonts-liberation", "fonts-linuxlibertine",
    "fonts-manrope", "fonts-mplus", "fonts-noto-core", "fonts-oldstandard", "fonts-open-sans", "fonts-paratype",
    "fonts-play", "fonts-quicksand", "fonts-roboto-unhinted", "fonts-roboto-slab", "fonts-sil-andika",
    "fonts-sil-charis", "fonts-texgyre", "fonts-urw-base35",
]
SAMPLE = ["Hamburgefonstiv", "Quick brown fox", "jumps 0123456789"]
SIDE = 224
MAX_PER_FAMILY = 12       # Noto alone has hundreds of families of 9+ weights: keep any one from dominating
TEST_FRACTION = 0.25


def log(msg: str) -> None:
    print(msg, flush=True)


def download(packages: list[str], cache: Path) -> list[Path]:
    """Each package's files extracted under cache/<package> (cached)."""
    roots = []
    for pkg in packages:
        root = cache / pkg
        if not root.is_dir():
            debs = cache / "debs"
            debs.mkdir(parents=True, exist_ok=True)
            got = subprocess.run(["apt-get", "-q", "download", pkg], cwd=debs, capture_output=True, text=True)
            found = sorted(debs.glob(f"{pkg}_*.deb"))
            if got.returncode or not found:
                log(f"[apt] {pkg}: not available ({got.stderr.strip()[:80]})")
                continue
            subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
        roots.append(root)
    return roots


def describe(path: Path) -> dict | None:
    """The font's family, declared weight and style, or None for what cannot serve (variable, symbol,
    no Latin letters or digits for the sample)."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(path), lazy=True, fontNumber=0)
        if "fvar" in font or "OS/2" not in font:
            return None
        cmap = font.getBestCmap() or {}
        if not all(ord(c) in cmap for c in "".join(SAMPLE).replace(" ", "")):
            return None
        name = font["name"]
        family = str(name.getDebugName(16) or name.getDebugName(1) or path.stem)
        weight = int(font["OS/2"].usWeightClass)
    except Exception:  # noqa: BLE001 - a damaged or exotic file is simply not used
        return None
    if not 100 <= weight <= 950:
        return None
    return {"path": path, "family": family, "weight": weight}


def render(path: Path) -> Image.Image:
    """The sample in black on white, as large as fits the square."""
    img = Image.new("RGB", (SIDE, SIDE), "white")
    draw = ImageDraw.Draw(img)
    size = 40
    while size > 8:
        font = ImageFont.truetype(str(path), size)
        boxes = [draw.textbbox((0, 0), line, font=font) for line in SAMPLE]
        width, height = max(b[2] - b[0] for b in boxes), sum(b[3] - b[1] for b in boxes) + 8 * len(SAMPLE)
        if width <= SIDE - 16 and height <= SIDE - 16:
            break
        size -= 2
    y = (SIDE - height) // 2
    for line, box in zip(SAMPLE, boxes):
        draw.text(((SIDE - (box[2] - box[0])) // 2 - box[0], y - box[1]), line, font=font, fill="black")
        y += box[3] - box[1] + 8
    return img


def baselines(train: list[dict], test: list[dict]) -> dict:
    """Predict-the-mean and ftapp's picture baseline features + ridge (RidgeCV), on the test rows."""
    import torch
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ftapp.train.baselines import PictureBaseline
    from ftapp.train.probe import RIDGE_ALPHAS

    def feats(rows):
        return PictureBaseline.features([torch.from_numpy(np.asarray(r["image"]).transpose(2, 0, 1).copy())
                                         for r in rows])
    ytr, y = np.array([r["weight"] for r in train], float), np.array([r["weight"] for r in test], float)
    pred = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)).fit(feats(train), ytr).predict(feats(test))
    mean = np.full(len(y), ytr.mean())
    return {"histogram_ridge": {"r2": r2_score(y, pred), "spearman": float(spearmanr(y, pred).statistic),
                                "mae": mean_absolute_error(y, pred)},
            "mean": {"r2": r2_score(y, mean), "mae": mean_absolute_error(y, mean)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ftapp-evalsets" / "fonts")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    rng = random.Random(zlib.crc32(f"{args.seed}:font_weights".encode()))

    fonts = []
    for root in download(PACKAGES, args.cache):
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf") and p.is_file()):
            info = describe(path)
            if info:
                fonts.append(info)
    by_family: dict[str, list[dict]] = {}
    for f in fonts:
        by_family.setdefault(f["family"], []).append(f)
    families = sorted(by_family)
    rows = []
    for fam in families:
        members = sorted(by_family[fam], key=lambda f: f["path"].name)
        rng.shuffle(members)
        rows += members[:MAX_PER_FAMILY]
    rng.shuffle(families)
    test_families = set(families[: round(len(families) * TEST_FRACTION)])

    out = args.out / "font_weights"
    (out / "images").mkdir(parents=True, exist_ok=True)
    seen, kept = set(), []
    for r in rows:
        try:
            img = render(r["path"])
        except Exception:  # noqa: BLE001 - a font Pillow cannot draw is not used
            continue
        key = img.tobytes()
        if key in seen:   # the same design under two names (e.g. a hinted and an unhinted copy)
            continue
        seen.add(key)
        name = f"images/{r['path'].stem}.png"
        img.save(out / name)
        kept.append({**r, "image": img, "file": name})
    train = [r for r in kept if r["family"] not in test_families]
    test = [r for r in kept if r["family"] in test_families]
    for part, items in (("train", train), ("test", test)):
        with open(out / f"{part}.csv", "w") as f:
            f.write("image,weight\n" + "".join(f"{r['file']},{r['weight']}\n" for r in items))
    weights = sorted({r["weight"] for r in kept})
    summary = {"train": len(train), "test": len(test), "families": len(families),
               "test_families": len(test_families), "weights": weights, **baselines(train, test)}
    (out / "SUMMARY.json").write_text(json.dumps(summary, indent=1))
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
