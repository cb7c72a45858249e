"""Real recordings with real labels from the Debian archive, for choosing audio defaults on evidence.

`drums5`: the drum sounds of Hydrogen's drum kits (`hydrogen-drumkits`: 14 kits recorded or made by
different people, acoustic and electronic), each labelled by the instrument name its kit's
`drumkit.xml` gives it ("Kick", "Snare Rock", "Closed HH", "Crash Jazz", "Tom Low" …) → five
classes: kick, snare, hihat, cymbal, tom. Whole kits are held out for the test, so the test
recordings come from sources (drums, rooms, microphones, makers) not heard in training.
Identical files (kits share samples) are kept once; instruments whose name fits no class or two
(cowbell, clap, "Stick") are not used.

    python benchmarks/evalsets/make_audio_sets.py --out /work/evalsets     # ~1 min cold (143 MB .deb)

Writes <out>/drums5/{train,test}/<class>/<kit>__<file> and prints the log-mel + logistic-regression
baseline on the same split (ftapp's own audio baseline features on Whisper's log-mel input).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

PACKAGE = "hydrogen-drumkits"
CLASSES = {   # instrument name → class; a name matching two classes is not used
    "kick": r"kick|bass ?drum|\bbd\b",
    "snare": r"snare",
    "hihat": r"\bhh\b|hi-?hat|\bhat\b",
    "cymbal": r"crash|ride|cymbal|splash|china",
    "tom": r"\btom",
}
EXCLUDE = r"rim|stick|roll"          # rim shots, side sticks and rolls are not the drum's own sound
TEST_KITS = ["The Black Pearl 1.0", "rumpf_kit_z01_h2", "HardElectro1", "VariBreaks"]  # acoustic, electronic, breaks


def log(msg: str) -> None:
    print(msg, flush=True)


def kits(cache: Path) -> Path:
    root = cache / "hydrogen"
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "-q", "download", PACKAGE], cwd=cache, check=True, capture_output=True)
        deb = sorted(cache.glob(f"{PACKAGE}_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / "usr/share/hydrogen/data/drumkits"


def instrument_class(name: str) -> str | None:
    name = name.lower()
    if re.search(EXCLUDE, name):
        return None
    found = [c for c, pattern in CLASSES.items() if re.search(pattern, name)]
    return found[0] if len(found) == 1 else None


def samples(folder: Path) -> list[tuple[str, str, Path]]:
    """(kit, class, file) for every layer file of every usable instrument."""
    out = []
    for xml in sorted(folder.glob("*/drumkit.xml")):
        root = ET.parse(xml).getroot()
        ns = root.tag.split("}")[0] + "}" if "}" in root.tag else ""
        for ins in root.iter(ns + "instrument"):
            name = ins.findtext(ns + "name") or ""
            cls = instrument_class(name)
            for f in ins.iter(ns + "filename"):
                path = xml.parent / (f.text or "")
                if cls and f.text and path.is_file():
                    out.append((xml.parent.name, cls, path))
    return out


def baseline(train: list[tuple[str, Path]], test: list[tuple[str, Path]]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import WhisperFeatureExtractor

    from ftapp.models.preprocess import AudioPreprocessor
    from ftapp.train.baselines import AudioBaseline

    pre = AudioPreprocessor(WhisperFeatureExtractor(chunk_length=5, n_samples=80_000, nb_max_frames=500))
    enc = lambda rows: [pre.load(str(p)) for _, p in rows]   # noqa: E731
    classes = sorted({c for c, _ in train})
    model = AudioBaseline().fit(enc(train), [classes.index(c) for c, _ in train])
    pred = [classes[i] for i in model.proba(enc(test), len(classes)).argmax(1)]
    y = [c for c, _ in test]
    return {"accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, average="macro")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ftapp-evalsets" / "audio")
    args = ap.parse_args()
    out = args.out / "drums5"
    shutil.rmtree(out, ignore_errors=True)
    seen, parts = set(), {"train": [], "test": []}
    for kit, cls, path in samples(kits(args.cache)):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        part = "test" if kit in TEST_KITS else "train"
        target = out / part / cls / f"{re.sub(r'[^A-Za-z0-9]+', '_', kit)}__{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        parts[part].append((cls, target))
    counts = {part: {c: sum(1 for k, _ in rows if k == c) for c in CLASSES} for part, rows in parts.items()}
    summary = {"counts": counts, "test_kits": TEST_KITS, "baseline_logmel_lr": baseline(parts["train"], parts["test"])}
    (out / "SUMMARY.json").write_text(json.dumps(summary, indent=1))
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
