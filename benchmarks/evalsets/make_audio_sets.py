"""Real recordings with real labels from the Debian archive, for choosing audio defaults on evidence.

`drums5`: the drum sounds of Hydrogen's drum kits (`hydrogen-drumkits`: 14 kits recorded or made by
different people, acoustic and electronic), each labelled by the instrument name its kit's
`drumkit.xml` gives it ("Kick", "Snare Rock", "Closed HH", "Crash Jazz", "Tom Low" …) → five
classes: kick, snare, hihat, cymbal, tom. Whole kits are held out for the test, so the test
recordings come from sources (drums, rooms, microphones, makers) not heard in training.
Identical files (kits share samples) are kept once; instruments whose name fits no class or two
(cowbell, clap, "Stick") are not used.

    python benchmarks/evalsets/make_audio_sets.py --out /work/evalsets     # ~1 min cold (two ~145 MB .debs)

`words15`: fifteen spoken game phrases ("Hello", "Incoming", "Take cover", "Missed" …) from
Hedgewars' voice packs (`hedgewars-data`: each pack is one actor playing one character — British,
Pirate, Robot, Singer …), English packs only → the phrase. Three whole packs are held out: the test
voices are unseen speakers. Six training recordings per phrase: a few-shot set.

Writes <out>/drums5/{train,test}/<class>/<kit>__<file> and <out>/words15/{train,test}/<phrase>/<pack>.ogg,
and prints the log-mel + logistic-regression baseline on each split (ftapp's own audio baseline
features on Whisper's log-mel input).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
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
VOICES = "hedgewars-data"
ENGLISH_PACKS = ["British", "Classic", "Default", "HillBilly", "Mobster", "Pirate", "Robot", "Singer", "Surfer"]
PHRASES = ["Byebye", "Coward", "Firstblood", "Hello", "Hurry", "Incoming", "Kamikaze", "Missed", "Nooo", "Oops",
           "Takecover", "Traitor", "Victory", "Watchit", "Yessir"]
TEST_PACKS = 3
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


def words15(cache: Path, out: Path, seed: int) -> dict:
    root = cache / "hedgewars"
    if not root.is_dir():
        subprocess.run(["apt-get", "-q", "download", VOICES], cwd=cache, check=True, capture_output=True)
        subprocess.run(["dpkg-deb", "-x", str(sorted(cache.glob(f"{VOICES}_*.deb"))[-1]), str(root)], check=True)
    voices = root / "usr/share/games/hedgewars/Data/Sounds/voices"
    packs = sorted(ENGLISH_PACKS)
    random.Random(seed).shuffle(packs)
    test = set(packs[:TEST_PACKS])
    parts = {"train": [], "test": []}
    for pack in sorted(ENGLISH_PACKS):
        for phrase in PHRASES:
            path = voices / pack / f"{phrase}.ogg"
            if path.is_file():
                part = "test" if pack in test else "train"
                target = out / part / phrase / f"{pack}.ogg"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                parts[part].append((phrase, target))
    return {"counts": {p: len(rows) for p, rows in parts.items()}, "test_packs": sorted(test),
            "baseline_logmel_lr": baseline(parts["train"], parts["test"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ftapp-evalsets" / "audio")
    ap.add_argument("--seed", type=int, default=13)
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
    words = args.out / "words15"
    shutil.rmtree(words, ignore_errors=True)
    summary = words15(args.cache, words, args.seed)
    (words / "SUMMARY.json").write_text(json.dumps(summary, indent=1))
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
