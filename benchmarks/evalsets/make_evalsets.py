#!/usr/bin/env python3
"""Build real (not hand-written, not synthetic) labelled evaluation sets from Debian.

Every set is derived from data that the Debian archive already publishes: the
package index (`apt-cache dumpavail`), the DDTP description translations
(i18n/Translation-XX) and the stamps of the `tuxpaint-stamps-default` package.
Nothing is downloaded from anywhere but the Debian archive, through apt itself.

    python benchmarks/evalsets/make_evalsets.py --out /work/evalsets

Steps (each skipped when its result is already in the cache, see --cache):
  1. `apt-get update` into a PRIVATE lists folder (the system's
     /var/lib/apt/lists is not touched) with a private sources file that
     holds only the release suite `<codename> main` (no -updates / -security,
     which change daily), and Acquire::Languages set to the languages needed.
  2. `apt-cache dumpavail` + `/usr/lib/apt/apt-helper cat-file` on the
     Translation-XX files.
  3. `apt-get download tuxpaint-stamps-default` + `dpkg-deb -x`.
  4. Build the sets, write them under --out (one folder per set, rebuilt from
     scratch every run), print a summary table with a TF-IDF + logistic
     regression baseline, and write SUMMARY.md / MANIFEST.json beside them.

Deterministic for a given --seed and a given archive state: every choice is
made by a `random.Random` seeded from --seed and the set's name (no use of
Python's randomised `hash()`), over lists sorted first.

Split rule used by every set: rows are grouped by Debian *source* package (all
binaries of one source, e.g. foo / foo-data / foo-doc, land on the same side),
so near-identical sibling descriptions cannot leak from train into test; the
split is stratified by label (~75/25).  Texts are deduplicated after
lower-casing and collapsing white space: a text that occurs with two labels is
dropped everywhere, otherwise only its first occurrence is kept.

Only the standard library, numpy, pandas, Pillow and scikit-learn are used.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # be gentle with a shared 2-core machine

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

SCRIPT_VERSION = 1
TEST_FRACTION = 0.25

# Sections decided by package-name conventions or packaging role, never used as labels.
EXCLUDED_SECTIONS = {
    "libs", "libdevel", "oldlibs", "doc", "debug", "metapackages", "localization", "fonts", "kernel",
    "introspection", "python", "perl", "ruby", "java", "javascript", "haskell", "ocaml", "rust", "golang",
    "php", "lisp", "r", "gnu-r", "tasks",
}

DEBIAN6_SECTIONS = ["games", "graphics", "mail", "net", "science", "sound"]
DEBIAN6_TRAIN_PER_CLASS = 250
DEBIAN12_SECTIONS = ["database", "editors", "electronics", "games", "graphics", "mail", "math", "net",
                     "science", "sound", "video", "web"]
DEBIAN12_TRAIN_PER_CLASS = 120
LONG_SECTIONS = ["admin", "games", "science", "sound", "text"]
LONG_TRAIN_PER_CLASS = 150
LONG_MIN_WORDS = 60
GERMAN_SECTIONS = ["games", "graphics", "net", "science", "sound", "text"]
GERMAN_TRAIN_PER_CLASS = 150
GERMAN_MAX_CHARS = 300
# Romance (es, pt, pt_BR, it, fr), Scandinavian + West Germanic (da, sv, nl, de), West Slavic (cs, sk, pl):
# all Latin script, with several very close pairs (pt/pt_BR, es/pt, cs/sk, da/sv, nl/de).
LANGID_LANGS = ["cs", "da", "de", "es", "fr", "it", "nl", "pl", "pt", "pt_BR", "sk", "sv"]
LANGID_TRAIN_PER_CLASS = 120
IMBALANCED_CUTS = {"graphics": 12, "mail": 20}
DUP_FRACTION = 0.30
THREE_CLASSES = ["games", "net", "sound"]
DEBTAGS = ["field::mathematics", "network::client", "network::server", "use::converting", "use::editing",
           "use::gameplaying", "use::viewing", "works-with::audio", "works-with::image", "works-with::mail",
           "works-with::text", "works-with::video"]
DEBTAGS_TOTAL = 1600  # ~1,200 train + ~400 test
SIZE_TOTAL = 2000     # debian_size: ~1,500 train + ~500 test
FEWSHOT = (8, 32)

PHOTO_PACKAGE = "tuxpaint-stamps-default"
# class -> stamp folders (relative to /usr/share/tuxpaint/stamps).  Only `animals` has >= 60 photo-like
# stamps as a top-level category, so the classes are animal sub-folders plus three other top-level folders.
PHOTO_CLASSES = {
    "birds": ["animals/birds"],
    "mammals": ["animals/mammals", "animals/marsupials"],
    "food": ["food"],
    "plants": ["plants"],
    "household": ["household"],
}
PHOTO_SKIP_DIRS = {"cartoon", "toys", "plastic"}
PHOTO_TRAIN_MAX, PHOTO_TEST_MAX = 60, 20
PHOTO_MAX_SIDE = 256
PHOTO_BG = (128, 128, 128)

LANGS_NEEDED = sorted({"en", "de", *LANGID_LANGS})
DUMMY_RE = re.compile(r"\b(transitional|dummy)\b.*\bpackage\b|\bpackage\b.*\b(transitional|dummy)\b", re.I)
BULLET_RE = re.compile(r"^([*+\-o\u2022]|\d+[.)])\s")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(\u00c0-\u017f])")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def seeded_rng(seed: int, name: str) -> random.Random:
    return random.Random(seed * 1_000_003 + zlib.crc32(name.encode()))


def norm_key(text: str) -> str:
    return " ".join(text.lower().split())


# --------------------------------------------------------------------------------------------- apt / dpkg

def parse_deb822(text: str) -> list[dict[str, str]]:
    """Parse Packages / Translation style stanzas; continuation lines are kept ('\\n' + line)."""
    recs: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last = None
    for line in text.split("\n"):
        if not line.strip():
            if cur:
                recs.append(cur)
            cur, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                cur[last] += "\n" + line
            continue
        key, _, val = line.partition(":")
        cur[key] = val.strip()
        last = key
    if cur:
        recs.append(cur)
    return recs


def system_source(codename: str) -> tuple[str, str]:
    """(URI, Signed-By) of the system's Debian main archive for `codename`; falls back to deb.debian.org."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            stanzas = parse_deb822(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for st in stanzas:
            suites = st.get("Suites", "").split()
            if "deb" in st.get("Types", "").split() and codename in suites and "main" in st.get(
                    "Components", "").split():
                uri = st.get("URIs", "").split()[0]
                if "security" not in uri:
                    return uri, st.get("Signed-By", "/usr/share/keyrings/debian-archive-keyring.gpg")
    try:  # one-line format: deb [options] URI suite components...
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            parts = re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()
            if len(parts) >= 4 and parts[0] == "deb" and parts[2] == codename and "main" in parts[3:]:
                return parts[1], "/usr/share/keyrings/debian-archive-keyring.gpg"
    except OSError:
        pass
    return "http://deb.debian.org/debian", "/usr/share/keyrings/debian-archive-keyring.gpg"


class Apt:
    """apt-get / apt-cache run against a private state folder inside the cache."""

    def __init__(self, cache: Path, codename: str, refresh: bool):
        self.root = cache / "apt"
        self.lists = self.root / "lists"
        self.parts = self.root / "sources.list.d"
        self.sources = self.parts / "debian.sources"
        self.stamp = self.root / "update-stamp.json"
        self.codename = codename
        self.refresh = refresh

    def opts(self, langs: list[str] | None = None) -> list[str]:
        return [
            "-o", f"Dir::State::Lists={self.lists}",
            "-o", "Dir::Etc::SourceList=/dev/null",
            "-o", f"Dir::Etc::SourceParts={self.parts}",
            "-o", f"Acquire::Languages={','.join(langs) if langs else 'none'}",
            "-o", "APT::Sandbox::User=root",
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
        ]

    def update(self, langs: list[str]) -> None:
        uri, signed_by = system_source(self.codename)
        src = (f"Types: deb\nURIs: {uri}\nSuites: {self.codename}\nComponents: main\n"
               f"Signed-By: {signed_by}\n")
        want = {"langs": sorted(langs), "sources": src}
        have_pk = glob.glob(str(self.lists / f"*_dists_{self.codename}_main_binary-*_Packages*"))
        if not self.refresh and self.stamp.exists() and have_pk:
            try:
                if json.loads(self.stamp.read_text()) == want:
                    log(f"[apt] lists cached in {self.lists} (use --refresh to update)")
                    return
            except ValueError:
                pass
        (self.lists / "partial").mkdir(parents=True, exist_ok=True)
        self.parts.mkdir(parents=True, exist_ok=True)
        self.sources.write_text(src)
        log(f"[apt] apt-get update -> {self.lists} (languages {','.join(langs)})")
        subprocess.run(["apt-get", "-q", "update", *self.opts(langs)], check=True, stdout=subprocess.DEVNULL)
        self.stamp.write_text(json.dumps(want))

    def dumpavail(self) -> str:
        out = subprocess.run(["apt-cache", *self.opts(), "-o", "Dir::State::status=/dev/null", "dumpavail"],
                             check=True, capture_output=True)
        return out.stdout.decode("utf-8", "replace")

    def index_files(self, pattern: str) -> list[str]:
        return sorted(glob.glob(str(self.lists / pattern)))

    def cat(self, path: str) -> str:
        out = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True, capture_output=True)
        return out.stdout.decode("utf-8", "replace")

    def translations(self, lang: str) -> dict[tuple[str, str], str]:
        """(Package, Description-md5) -> full translated description (synopsis + continuation lines)."""
        quoted = lang.replace("_", "%5f")
        files = self.index_files(f"*_dists_{self.codename}_main_i18n_Translation-{quoted}*")
        if not files:
            raise SystemExit(f"Translation-{lang} missing from {self.lists}; rerun with --refresh")
        out: dict[tuple[str, str], str] = {}
        for path in files:
            for rec in parse_deb822(self.cat(path)):
                desc = rec.get(f"Description-{lang}")
                if desc and "Package" in rec:
                    out[(rec["Package"], rec.get("Description-md5", ""))] = desc
        return out

    def release_info(self) -> dict[str, str]:
        info: dict[str, str] = {}
        for path in self.index_files(f"*_dists_{self.codename}_InRelease"):
            text = Path(path).read_text(errors="replace")
            if text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
                text = text.split("\n\n", 1)[-1]  # skip the armour header
            for line in text.splitlines():
                if not line.strip():
                    break
                if line.startswith(("Origin:", "Suite:", "Version:", "Codename:", "Date:")):
                    k, _, v = line.partition(":")
                    info.setdefault(k, v.strip())
        return info

    def download(self, package: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        found = sorted(dest.glob(f"{package}_*.deb"))
        if found and not self.refresh:
            log(f"[apt] {found[-1].name} cached")
            return found[-1]
        log(f"[apt] apt-get download {package} -> {dest}")
        subprocess.run(["apt-get", "-q", "download", *self.opts(), package], check=True, cwd=dest,
                       stdout=subprocess.DEVNULL)
        found = sorted(dest.glob(f"{package}_*.deb"))
        if not found:
            raise SystemExit(f"apt-get download {package} produced no .deb")
        return found[-1]


def extract_deb(deb: Path, dest: Path) -> Path:
    stamp = dest / ".extracted-from"
    if stamp.exists() and stamp.read_text() == deb.name:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    log(f"[dpkg] dpkg-deb -x {deb.name} -> {dest}")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    stamp.write_text(deb.name)
    return dest


# --------------------------------------------------------------------------------------------- text helpers

def split_description(desc: str) -> tuple[str, list[str]]:
    """Debian description -> (synopsis, paragraphs).  Continuation lines are joined with spaces, ' .' lines
    end a paragraph, and verbatim (extra-indented) or bulleted lines start a new line within a paragraph."""
    lines = desc.split("\n")
    synopsis = lines[0].strip()
    paras: list[str] = []
    cur: list[str] = []

    def flush():
        if cur:
            paras.append("\n".join(cur))
            cur.clear()

    for raw in lines[1:]:
        line = raw[1:] if raw.startswith(" ") else raw
        if line.strip() == ".":
            flush()
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if not cur or line[:1].isspace() or BULLET_RE.match(stripped):
            cur.append(stripped)
        elif re.search(r"\w-$", cur[-1]) and stripped[:1].isalpha():
            cur[-1] = cur[-1] + stripped  # word hyphenated across a line break ("BitTorrent-" + "Client")
        else:
            cur[-1] = cur[-1] + " " + stripped
    flush()
    return synopsis, paras


def truncate_words(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit + 1]
    return cut[:cut.rfind(" ")] if " " in cut else text[:limit]


def first_sentence(paragraph: str, limit: int = 300) -> str:
    flat = " ".join(paragraph.split("\n")[0].split())  # stop before a list / verbatim block
    return truncate_words(SENTENCE_END_RE.split(flat, maxsplit=1)[0], limit)


@dataclass
class Row:
    text: str
    label: str  # for multi-label rows: labels joined by ';'
    group: str
    extra: dict = field(default_factory=dict)


def dedupe(rows: list[Row]) -> tuple[list[Row], dict[str, int]]:
    labels_by_key: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        labels_by_key[norm_key(r.text)].add(r.label)
    seen: set[str] = set()
    out: list[Row] = []
    stats = {"in": len(rows), "conflicting_label": 0, "duplicate": 0}
    for r in sorted(rows, key=lambda r: (r.group, r.text, r.label)):
        k = norm_key(r.text)
        if len(labels_by_key[k]) > 1:
            stats["conflicting_label"] += 1
            continue
        if k in seen:
            stats["duplicate"] += 1
            continue
        seen.add(k)
        out.append(r)
    stats["out"] = len(out)
    return out, stats


def round_robin_by_group(rows: list[Row], rng: random.Random) -> list[Row]:
    """Order rows so that each source package contributes one row before any contributes a second."""
    by_group: dict[str, list[Row]] = collections.defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.group, r.text)):
        by_group[r.group].append(r)
    groups = sorted(by_group)
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(by_group[g])
    out: list[Row] = []
    depth = 0
    while len(out) < len(rows):
        for g in groups:
            if depth < len(by_group[g]):
                out.append(by_group[g][depth])
        depth += 1
    return out


def pick_per_class(rows: list[Row], classes: list[str], n_total: int, rng: random.Random) -> list[Row]:
    picked: list[Row] = []
    for c in classes:
        picked.extend(round_robin_by_group([r for r in rows if r.label == c], rng)[:n_total])
    return picked


def group_split(rows: list[Row], rng: random.Random, strat=lambda r: r.label,
                test_fraction: float = TEST_FRACTION) -> tuple[list[Row], list[Row]]:
    """Stratified split in which all rows of a group (source package) go to the same side."""
    totals = collections.Counter(strat(r) for r in rows)
    quota = {c: int(round(n * test_fraction)) for c, n in totals.items()}
    groups: dict[str, list[Row]] = collections.defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.group, r.text)):
        groups[r.group].append(r)
    order = sorted(groups)
    rng.shuffle(order)
    got = collections.Counter()
    train: list[Row] = []
    test: list[Row] = []
    for g in order:
        need = collections.Counter(strat(r) for r in groups[g])
        if all(got[c] + n <= quota[c] for c, n in need.items()):
            test.extend(groups[g])
            got.update(need)
        else:
            train.extend(groups[g])
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def cap_per_class(rows: list[Row], n: int) -> list[Row]:
    seen = collections.Counter()
    out = []
    for r in rows:
        if seen[r.label] < n:
            out.append(r)
            seen[r.label] += 1
    return out


def fewshot(train: list[Row], k: int, rng: random.Random) -> list[Row]:
    by: dict[str, list[Row]] = collections.defaultdict(list)
    for r in sorted(train, key=lambda r: (r.label, r.text)):
        by[r.label].append(r)
    out: list[Row] = []
    for c in sorted(by):
        if len(by[c]) < k:
            raise SystemExit(f"class {c} has only {len(by[c])} train rows, cannot take {k}")
        out.extend(rng.sample(by[c], k))
    rng.shuffle(out)
    return out


def write_csv(rows: list[Row], path: Path, label_col: str = "label") -> None:
    df = pd.DataFrame({"text": [r.text for r in rows], label_col: [r.label for r in rows]})
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


# --------------------------------------------------------------------------------------------- baselines

def tfidf_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union
    return make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )


def baseline_single(train: list[Row], test: list[Row]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    t0 = time.time()
    vec = tfidf_pipeline()
    xtr = vec.fit_transform([r.text for r in train])
    xte = vec.transform([r.text for r in test])
    clf = LogisticRegression(C=10, max_iter=2000)
    clf.fit(xtr, [r.label for r in train])
    pred = clf.predict(xte)
    y = [r.label for r in test]
    present = sorted(set(y))
    res = {"accuracy": accuracy_score(y, pred),
           "macro_f1": f1_score(y, pred, average="macro", labels=present, zero_division=0),
           "seconds": time.time() - t0}
    if len(present) < len(set(r.label for r in train)):
        # sklearn's default averages over labels in y_true U y_pred: absent classes that get predicted
        # count as F1 = 0.  Reported so the metric check can compare both.
        res["macro_f1_sklearn_default"] = f1_score(y, pred, average="macro", zero_division=0)
    return res


def baseline_regression(train: list[Row], test: list[Row]) -> dict:
    """The cheap baselines a number per text must beat: the training mean, and ridge regression on
    TF-IDF (its strength chosen by RidgeCV), scored on the test rows (R², Spearman, MAE)."""
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import mean_absolute_error, r2_score
    t0 = time.time()
    vec = tfidf_pipeline()
    xtr, xte = vec.fit_transform([r.text for r in train]), vec.transform([r.text for r in test])
    ytr, y = np.array([float(r.label) for r in train]), np.array([float(r.label) for r in test])
    pred = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(xtr, ytr).predict(xte)
    return {"tfidf_ridge": {"r2": r2_score(y, pred), "spearman": spearmanr(y, pred).statistic,
                            "mae": mean_absolute_error(y, pred)},
            "mean": {"r2": r2_score(y, np.full(len(y), ytr.mean())), "mae": mean_absolute_error(y, np.full(len(y), ytr.mean()))},
            "seconds": time.time() - t0}


def baseline_multilabel(train: list[Row], test: list[Row]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    t0 = time.time()
    mlb = MultiLabelBinarizer()
    ytr = mlb.fit_transform([r.label.split(";") for r in train])
    yte = mlb.transform([r.label.split(";") for r in test])
    vec = tfidf_pipeline()
    xtr = vec.fit_transform([r.text for r in train])
    xte = vec.transform([r.text for r in test])
    clf = OneVsRestClassifier(LogisticRegression(C=10, max_iter=2000))
    clf.fit(xtr, ytr)
    pred = clf.predict(xte)
    return {"subset_accuracy": accuracy_score(yte, pred),
            "micro_f1": f1_score(yte, pred, average="micro", zero_division=0),
            "macro_f1": f1_score(yte, pred, average="macro", zero_division=0),
            "seconds": time.time() - t0}


def image_features(img: Image.Image) -> np.ndarray:
    rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
    q = (rgb // 64).reshape(-1, 3)
    hist = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(float)
    hist /= hist.sum()
    thumb = np.asarray(img.convert("L").resize((16, 16), Image.Resampling.BILINEAR), dtype=float).ravel() / 255.0
    return np.concatenate([hist, thumb])


def baseline_images(train: list[tuple[str, Image.Image]], test: list[tuple[str, Image.Image]]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    t0 = time.time()
    xtr = np.stack([image_features(im) for _, im in train])
    xte = np.stack([image_features(im) for _, im in test])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    clf.fit(xtr, [c for c, _ in train])
    pred = clf.predict(xte)
    y = [c for c, _ in test]
    return {"accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, average="macro"),
            "seconds": time.time() - t0}


# --------------------------------------------------------------------------------------------- builders

class Builder:
    def __init__(self, args):
        self.out: Path = args.out
        self.seed: int = args.seed
        self.cache: Path = args.cache
        self.do_baselines = not args.no_baselines
        self.summary: list[dict] = []
        self.notes: dict[str, dict] = {}
        codename = args.codename or _os_codename()
        self.apt = Apt(self.cache, codename, args.refresh)
        self.apt.update(LANGS_NEEDED)
        log("[apt] apt-cache dumpavail")
        self.records = [r for r in parse_deb822(self.apt.dumpavail()) if "Package" in r]
        log(f"[apt] {len(self.records)} package records")
        self.en = self.apt.translations("en")
        self.by_key = {(r["Package"], r.get("Description-md5", "")): r for r in self.records}
        self.by_pkg = {r["Package"]: r for r in self.records}

    # ---- shared
    @staticmethod
    def section(rec) -> str:
        return rec.get("Section", "").split("/")[-1]

    @staticmethod
    def source(rec) -> str:
        return rec.get("Source", rec["Package"]).split()[0]

    def long_desc(self, rec) -> tuple[str, list[str]] | None:
        d = self.en.get((rec["Package"], rec.get("Description-md5", "")))
        return split_description(d) if d else None

    def set_dir(self, name: str) -> Path:
        d = self.out / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def record(self, name: str, train: list[Row], test: list[Row], kind: str = "single", extra_files=(),
               baseline: dict | None = None, note: dict | None = None, classes=None):
        if baseline is None and self.do_baselines:
            baseline = {"multi": baseline_multilabel, "regression": baseline_regression}.get(kind, baseline_single)(
                train, test)
        if classes is None:
            if kind == "multi":
                classes = len({lab for r in train + test for lab in r.label.split(";")})
            else:
                classes = len({r.label for r in train} | {r.label for r in test})
        row = {"set": name, "kind": kind, "classes": classes, "train": len(train), "test": len(test),
               "median_chars": int(statistics.median(len(r.text) for r in train + test)) if kind != "image" else None,
               "files": sorted(["train", "test", *extra_files]), "baseline": baseline or {}}
        if kind == "regression":
            values = sorted(float(r.label) for r in train + test)
            row["target"] = {"min": values[0], "median": statistics.median(values), "max": values[-1]}
        elif kind != "multi":
            row["train_per_class"] = dict(sorted(collections.Counter(r.label for r in train).items()))
            row["test_per_class"] = dict(sorted(collections.Counter(r.label for r in test).items()))
        else:
            lab = collections.Counter(x for r in train + test for x in r.label.split(";"))
            row["label_counts"] = dict(sorted(lab.items()))
            row["multi_fraction"] = sum(";" in r.label for r in train + test) / len(train + test)
        if note:
            row["note"] = note
        self.summary.append(row)
        log(f"[set] {name}: train {len(train)} test {len(test)} {json.dumps(row['baseline'])[:160]}")

    def single_label_set(self, name: str, rows: list[Row], classes: list[str], n_train: int,
                         fewshots=FEWSHOT, note=None):
        rng = seeded_rng(self.seed, name)
        rows = [r for r in rows if r.label in classes]
        rows, stats = dedupe(rows)
        avail = collections.Counter(r.label for r in rows)
        n_total = n_train + int(round(n_train * TEST_FRACTION / (1 - TEST_FRACTION)))
        picked = pick_per_class(rows, classes, n_total, rng)
        train, test = group_split(picked, rng)
        train = cap_per_class(train, n_train)
        d = self.set_dir(name)
        write_csv(train, d / "train.csv")
        write_csv(test, d / "test.csv")
        files = []
        for k in fewshots:
            write_csv(fewshot(train, k, seeded_rng(self.seed, f"{name}/fewshot{k}")), d / f"train_{k}.csv")
            files.append(f"train_{k}")
        self.record(name, train, test, extra_files=files,
                    note={"dedupe": stats, "available_per_class": dict(sorted(avail.items())), **(note or {})})
        return train, test

    # ---- 1/2 synopses
    def synopsis_rows(self) -> list[Row]:
        rows = []
        for rec in self.records:
            sec = self.section(rec)
            syn = rec.get("Description", "").split("\n")[0].strip()
            if not sec or sec in EXCLUDED_SECTIONS or not syn or DUMMY_RE.search(syn):
                continue
            rows.append(Row(syn, sec, self.source(rec)))
        return rows

    def build_debian6_and_12(self):
        rows = self.synopsis_rows()
        d6 = self.single_label_set("debian6", rows, DEBIAN6_SECTIONS, DEBIAN6_TRAIN_PER_CLASS)
        self.single_label_set("debian12", rows, DEBIAN12_SECTIONS, DEBIAN12_TRAIN_PER_CLASS, fewshots=())
        return d6

    # ---- 3 long descriptions
    def build_long(self):
        rows = []
        for rec in self.records:
            sec = self.section(rec)
            if sec not in LONG_SECTIONS:
                continue
            ld = self.long_desc(rec)
            if not ld:
                continue
            syn, paras = ld
            if DUMMY_RE.search(syn) or len(" ".join(paras).split()) < LONG_MIN_WORDS:
                continue
            rows.append(Row(syn + "\n" + "\n".join(paras), sec, self.source(rec)))
        self.single_label_set("debian_long", rows, LONG_SECTIONS, LONG_TRAIN_PER_CLASS, fewshots=(),
                              note={"min_words": LONG_MIN_WORDS})

    # ---- 4 German
    def build_german(self):
        de = self.apt.translations("de")
        rows = []
        for (pkg, md5), desc in sorted(de.items()):
            rec = self.by_key.get((pkg, md5))
            if rec is None:
                continue
            sec = self.section(rec)
            if sec not in GERMAN_SECTIONS:
                continue
            syn, paras = split_description(desc)
            en = self.en.get((pkg, md5))
            if en and norm_key(en) == norm_key(desc):
                continue  # not actually translated
            if DUMMY_RE.search(syn) or re.search(r"(Übergangs|Dummy|Übergang)[- ]?[Pp]aket", syn):
                continue
            text = syn
            if paras:  # synopsis, newline, then the long description cut at a word boundary (~300 chars in all)
                text = syn + "\n" + truncate_words(" ".join(paras), max(40, GERMAN_MAX_CHARS - len(syn) - 1))
            rows.append(Row(text, sec, self.source(rec)))
        self.single_label_set("german6", rows, GERMAN_SECTIONS, GERMAN_TRAIN_PER_CLASS, fewshots=(),
                              note={"max_chars": GERMAN_MAX_CHARS})

    # ---- 5 language id
    def build_langid(self):
        name = "langid12"
        rng = seeded_rng(self.seed, name)
        cand: dict[str, list[Row]] = {}
        for lang in LANGID_LANGS:
            rows = []
            for (pkg, md5), desc in sorted(self.apt.translations(lang).items()):
                syn = desc.split("\n")[0].strip()
                rec = self.by_pkg.get(pkg)
                en_syn = (rec or {}).get("Description", "").split("\n")[0].strip()
                if len(syn) < 8 or len(syn.split()) < 2 or norm_key(syn) == norm_key(en_syn):
                    continue
                rows.append(Row(syn, lang, self.source(rec) if rec else pkg))
            cand[lang] = rows
        all_rows, stats = dedupe([r for lang in LANGID_LANGS for r in cand[lang]])
        by_lang = {lang: [r for r in all_rows if r.label == lang] for lang in LANGID_LANGS}
        n_total = LANGID_TRAIN_PER_CLASS + int(round(LANGID_TRAIN_PER_CLASS / 3))
        used_groups: set[str] = set()
        picked: list[Row] = []
        for lang in sorted(LANGID_LANGS, key=lambda x: (len(by_lang[x]), x)):  # scarcest language first
            free = [r for r in by_lang[lang] if r.group not in used_groups]
            take = round_robin_by_group(free, rng)[:n_total]
            used_groups.update(r.group for r in take)
            picked.extend(take)
        train, test = group_split(picked, rng)
        train = cap_per_class(train, LANGID_TRAIN_PER_CLASS)
        d = self.set_dir(name)
        write_csv(train, d / "train.csv")
        write_csv(test, d / "test.csv")
        self.record(name, train, test, note={
            "dedupe": stats, "available_per_class": {k: len(v) for k, v in sorted(by_lang.items())},
            "rule": "each source package is used by at most one language"})

    # ---- 7, 8, 10 derived from debian6
    def build_debian6_variants(self, train: list[Row], test: list[Row]):
        rng = seeded_rng(self.seed, "debian6_imbalanced")
        seen = collections.Counter()
        imb = []
        for r in train:
            cut = IMBALANCED_CUTS.get(r.label)
            if cut is None or seen[r.label] < cut:
                imb.append(r)
                seen[r.label] += 1
        rng.shuffle(imb)
        d = self.set_dir("debian6_imbalanced")
        write_csv(imb, d / "train.csv")
        write_csv(test, d / "test.csv")
        self.record("debian6_imbalanced", imb, test, note={"cut": IMBALANCED_CUTS})

        rng = seeded_rng(self.seed, "debian6_dup30")
        n_dup = int(round(DUP_FRACTION * len(train)))
        dup = list(train) + rng.sample(list(train), n_dup)
        rng.shuffle(dup)
        d = self.set_dir("debian6_dup30")
        write_csv(dup, d / "train.csv")
        write_csv(test, d / "test.csv")
        self.record("debian6_dup30", dup, test, note={"duplicated_rows": n_dup})

        three = [r for r in test if r.label in THREE_CLASSES]
        d = self.set_dir("debian6_3classes_test")
        write_csv(three, d / "test.csv")
        write_csv(train, d / "train.csv")  # the full 6-class debian6 train, for convenience
        self.record("debian6_3classes_test", train, three, classes=len(set(r.label for r in three)),
                    note={"test_classes": THREE_CLASSES, "train": "debian6 train (6 classes)"})

    # ---- 9 debtags multi-label
    def build_debtags(self):
        name = "debtags_multilabel"
        rng = seeded_rng(self.seed, name)
        chosen = set(DEBTAGS)
        rows = []
        for rec in self.records:
            tags = {t.strip() for t in rec.get("Tag", "").replace("\n", " ").split(",") if t.strip()}
            labs = sorted(tags & chosen)
            if not labs or "role::program" not in tags:
                continue
            ld = self.long_desc(rec)
            if not ld or not ld[1]:
                continue
            syn, paras = ld
            if DUMMY_RE.search(syn):
                continue
            sent = first_sentence(paras[0])
            sep = " " if syn.endswith((".", "!", "?")) else ". "
            rows.append(Row(syn + sep + sent, ";".join(labs), self.source(rec)))
        rows, stats = dedupe(rows)
        freq = collections.Counter(x for r in rows for x in r.label.split(";"))
        picked = round_robin_by_group(rows, rng)[:DEBTAGS_TOTAL]

        def rarest(r):
            return min(r.label.split(";"), key=lambda x: (freq[x], x))

        train, test = group_split(picked, rng, strat=rarest)
        d = self.set_dir(name)
        write_csv(train, d / "train.csv", label_col="labels")
        write_csv(test, d / "test.csv", label_col="labels")
        self.record(name, train, test, kind="multi", note={
            "dedupe": stats, "tags": DEBTAGS, "filter": "packages tagged role::program",
            "candidates": len(rows)})

    # ---- 10 a number per text: how big a program is, from what it says it does
    def build_debian_size(self):
        """Regression: a program's synopsis and first sentence → log10 of its Installed-Size (KiB), a
        number every Debian package carries. Weakly predictable from the words (a "suite" or an "IDE"
        is bigger than a "command-line tool"), which is what a real set is like."""
        import math

        name = "debian_size"
        rng = seeded_rng(self.seed, name)
        rows = []
        for rec in self.records:
            tags = rec.get("Tag", "")
            size = rec.get("Installed-Size", "").strip()
            ld = self.long_desc(rec)
            if "role::program" not in tags or not size.isdigit() or int(size) <= 0 or not ld or not ld[1]:
                continue
            syn, paras = ld
            if DUMMY_RE.search(syn):
                continue
            sep = " " if syn.endswith((".", "!", "?")) else ". "
            rows.append(Row(syn + sep + first_sentence(paras[0]), f"{math.log10(int(size)):.4f}", self.source(rec)))
        rows, stats = dedupe(rows)
        picked = round_robin_by_group(rows, rng)[:SIZE_TOTAL]
        cuts = sorted(float(r.label) for r in picked)
        quarter = lambda r: sum(float(r.label) > cuts[len(cuts) * k // 4] for k in (1, 2, 3))   # noqa: E731
        train, test = group_split(picked, rng, strat=quarter)
        d = self.set_dir(name)
        write_csv(train, d / "train.csv", label_col="log10_kib")
        write_csv(test, d / "test.csv", label_col="log10_kib")
        self.record(name, train, test, kind="regression", classes=0, note={
            "dedupe": stats, "target": "log10(Installed-Size in KiB)", "filter": "packages tagged role::program",
            "candidates": len(rows)})

    # ---- 6 photos
    def build_photos(self):
        name = "photos5"
        deb = self.apt.download(PHOTO_PACKAGE, self.cache / "debs")
        root = extract_deb(deb, self.cache / "tuxpaint") / "usr/share/tuxpaint/stamps"
        items = []  # (class, path, group, image, dhash, dhash_mirror)
        skipped = collections.Counter()
        for cls, dirs in PHOTO_CLASSES.items():
            for sub in dirs:
                for p in sorted((root / sub).rglob("*.png")):
                    rel = p.relative_to(root)
                    if PHOTO_SKIP_DIRS & set(rel.parts[:-1]):
                        skipped["cartoon/toy folder"] += 1
                        continue
                    dat = p.with_suffix(".dat")
                    if dat.exists() and "colorable" in dat.read_text(errors="replace").split():
                        skipped["colorable (drawn in the user's colour)"] += 1
                        continue
                    img = Image.open(p)
                    img.load()
                    ok, why, flat = photo_like(img)
                    if not ok:
                        skipped[why] += 1
                        continue
                    h, hm = dhash(flat), dhash(flat.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
                    items.append({"cls": cls, "rel": str(rel), "img": flat, "h": h, "hm": hm,
                                  "base": variant_base(p.stem), "group": subject_group(p.stem)})
        # near-duplicates: same base name (x / x_mirror) or dHash within 6 bits (also mirrored)
        kept: list[dict] = []
        drop_cls_conflict = 0
        clusters: list[list[dict]] = []
        for it in items:
            for cl in clusters:
                if any(it["base"] == o["base"] or _ham(it["h"], o["h"]) <= 6 or _ham(it["h"], o["hm"]) <= 6
                       for o in cl):
                    cl.append(it)
                    break
            else:
                clusters.append([it])
        for cl in clusters:
            if len({o["cls"] for o in cl}) > 1:
                drop_cls_conflict += len(cl)
                continue
            kept.append(cl[0])
        skipped["near-duplicate variant"] = sum(len(cl) - 1 for cl in clusters if len({o["cls"] for o in cl}) == 1)
        skipped["near-duplicate across classes"] = drop_cls_conflict
        rng = seeded_rng(self.seed, name)
        avail = collections.Counter(it["cls"] for it in kept)
        train_rows, test_rows = [], []
        for cls in PHOTO_CLASSES:
            its = [it for it in kept if it["cls"] == cls]
            rows = [Row(it["rel"], cls, it["group"], extra=it) for it in its]
            n_total = min(len(rows), PHOTO_TRAIN_MAX + PHOTO_TEST_MAX)
            rows = round_robin_by_group(rows, rng)[:n_total]
            tr, te = group_split(rows, rng)
            train_rows += cap_per_class(tr, PHOTO_TRAIN_MAX)
            test_rows += te[:PHOTO_TEST_MAX]
        d = self.set_dir(name)
        write_image_zip(train_rows, d / "train.zip")
        write_image_zip(test_rows, d / "test.zip")
        few = fewshot(train_rows, 8, seeded_rng(self.seed, f"{name}/fewshot8"))
        write_image_zip(few, d / "train_8.zip")
        for fname, rows in (("train_files.csv", train_rows), ("test_files.csv", test_rows)):
            pd.DataFrame({"file": [zip_member(r) for r in rows], "label": [r.label for r in rows],
                          "stamp": [r.text for r in rows]}).sort_values("file").to_csv(
                d / fname, index=False, lineterminator="\n")
        base = None
        if self.do_baselines:
            base = baseline_images([(r.label, r.extra["img"]) for r in train_rows],
                                   [(r.label, r.extra["img"]) for r in test_rows])
            base["model"] = "colour histogram + 16x16 grey thumbnail, LogisticRegression"
        self.record(name, train_rows, test_rows, kind="image", extra_files=["train_8"], baseline=base or {},
                    note={"source": f"{deb.name}", "photo_like_per_class": dict(sorted(avail.items())),
                          "skipped": dict(sorted(skipped.items()))})

    # ---- output
    def finish(self, t0: float):
        info = {"script_version": SCRIPT_VERSION, "seed": self.seed, "release": self.apt.release_info(),
                "seconds": round(time.time() - t0, 1), "sets": self.summary, "files": {}}
        for p in sorted(self.out.rglob("*")):
            if p.is_file() and p.name not in ("MANIFEST.json", "SUMMARY.md"):
                info["files"][str(p.relative_to(self.out))] = hashlib.sha256(p.read_bytes()).hexdigest()
        (self.out / "MANIFEST.json").write_text(json.dumps(info, indent=1, ensure_ascii=False, default=str) + "\n")
        table = summary_table(self.summary)
        (self.out / "SUMMARY.md").write_text(
            f"Generated by benchmarks/evalsets/make_evalsets.py (seed {self.seed}) from Debian "
            f"{info['release'].get('Codename', '?')} {info['release'].get('Version', '')} "
            f"(archive date {info['release'].get('Date', '?')}).\n\n" + table + "\n")
        print(table)
        print(f"\nwritten under {self.out} in {info['seconds']} s")


def _os_codename() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "bookworm"


# --------------------------------------------------------------------------------------------- image helpers

def photo_like(img: Image.Image) -> tuple[bool, str, Image.Image | None]:
    """Heuristic photo / clip-art filter on the stamp's opaque pixels, plus the flattened, resized image.

    Clip art is made of flat fills: many horizontally adjacent pixels have exactly the same colour
    ('flat' share), and/or a few colours cover nearly all of it (the 16 most common colours at 5 bits per
    channel) with few distinct colours (6 bits per channel).  Photos have noise and smooth gradients."""
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    ys, xs = np.nonzero(alpha > 16)
    if len(xs) == 0:
        return False, "empty", None
    rgba = rgba.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    full = np.asarray(rgba, dtype=np.int64)
    pair = (full[:, :-1, 3] > 250) & (full[:, 1:, 3] > 250)
    diff = np.abs(full[:, 1:, :3] - full[:, :-1, :3]).sum(-1)[pair]
    flat_share = float((diff == 0).mean()) if diff.size else 1.0
    small = rgba.copy()
    small.thumbnail((128, 128), Image.Resampling.LANCZOS)
    a = np.asarray(small, dtype=np.int64).reshape(-1, 4)
    px = a[a[:, 3] > 200][:, :3]
    if len(px) < 400:
        return False, "too small", None
    q5 = px >> 3
    counts = np.sort(np.bincount(q5[:, 0] * 1024 + q5[:, 1] * 32 + q5[:, 2]))[::-1]
    top16 = counts[:16].sum() / len(px)
    q6 = px >> 2
    uniq6 = len(np.unique(q6[:, 0] * 4096 + q6[:, 1] * 64 + q6[:, 2]))
    if flat_share > 0.45 or (top16 > 0.80 and uniq6 < 300):
        return False, "clip-art-like (flat colours)", None
    if (px.max(axis=1) - px.min(axis=1)).mean() < 3:
        return False, "greyscale", None
    bg = Image.new("RGBA", rgba.size, PHOTO_BG + (255,))
    bg.alpha_composite(rgba)
    flat = bg.convert("RGB")
    if max(flat.size) > PHOTO_MAX_SIDE:
        flat.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
    return True, "", flat


def dhash(img: Image.Image) -> int:
    g = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int64)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def _ham(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def variant_base(stem: str) -> str:
    return re.sub(r"[_-]?(mirror|mirrored|flip|flipped|left|right)$", "", stem.lower())


def subject_group(stem: str) -> str:
    """'apple_granny_smith' -> 'apple', 'gnu-baby-stand' -> 'gnu', 'flower10' -> 'flower': stamps of the same
    subject stay on the same side of the split."""
    tok = re.split(r"[_\- ]", stem.lower())[0]
    return re.sub(r"\d+$", "", tok) or stem.lower()


def zip_member(r: Row) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", Path(r.text).with_suffix("").as_posix().lower()).strip("_")
    return f"{r.label}/{stem}.jpg"


def write_image_zip(rows: list[Row], path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for r in sorted(rows, key=zip_member):
            buf = io.BytesIO()
            r.extra["img"].save(buf, "JPEG", quality=90)
            info = zipfile.ZipInfo(zip_member(r), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


# --------------------------------------------------------------------------------------------- summary

def summary_table(rows: list[dict]) -> str:
    head = "| set | classes | train rows | test rows | median chars | baseline test accuracy | baseline macro-F1 |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["baseline"]
        if b and "tfidf_ridge" in b:   # a number per text: R² (and Spearman) of TF-IDF + ridge
            acc = f"R² {b['tfidf_ridge']['r2']:.3f} (ridge)"
            f1 = f"Spearman {b['tfidf_ridge']['spearman']:.3f}"
        elif r["kind"] == "multi":
            acc = f"{b['subset_accuracy']:.3f} (exact match)" if b else "-"
            f1 = f"{b['macro_f1']:.3f} (micro {b['micro_f1']:.3f})" if b else "-"
        else:
            acc = f"{b['accuracy']:.3f}" if b else "-"
            f1 = f"{b['macro_f1']:.3f}" if b else "-"
            if "macro_f1_sklearn_default" in b:
                f1 += f" (sklearn default {b['macro_f1_sklearn_default']:.3f})"
            if r["kind"] == "image" and b:
                acc += " (colour-hist LR)"
        med = "-" if r["median_chars"] is None else str(r["median_chars"])
        lines.append(f"| {r['set']} | {r['classes']} | {r['train']} | {r['test']} | {med} | {acc} | {f1} |")
    return "\n".join(lines)


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where the sets are written (outside the repo)")
    ap.add_argument("--cache", type=Path,
                    default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ftapp-evalsets",
                    help="apt lists, downloaded .debs and extracted stamps (default ~/.cache/ftapp-evalsets)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--codename", default=None, help="Debian release (default: this machine's)")
    ap.add_argument("--refresh", action="store_true", help="re-run apt-get update / download even if cached")
    ap.add_argument("--no-baselines", action="store_true", help="skip the TF-IDF / colour-histogram baselines")
    args = ap.parse_args(argv)
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists() and (_inside(args.out, repo) or _inside(args.cache, repo)):
        ap.error(f"--out and --cache must be outside the repository ({repo})")
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    b = Builder(args)
    d6_train, d6_test = b.build_debian6_and_12()
    b.build_long()
    b.build_german()
    b.build_langid()
    b.build_photos()
    b.build_debian6_variants(d6_train, d6_test)
    b.build_debtags()
    b.build_debian_size()
    order = ["debian6", "debian12", "debian_long", "german6", "langid12", "photos5", "debian6_imbalanced",
             "debian6_dup30", "debtags_multilabel", "debian_size", "debian6_3classes_test"]
    b.summary.sort(key=lambda r: order.index(r["set"]))
    b.finish(t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
