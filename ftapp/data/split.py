"""Train/validation split and leak detection."""
from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict

from .report import WARNING, Dataset, Problem


def train_val_split(ds: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset, list[Problem]]:
    """Stratified, seeded, deterministic split.

    Classes with fewer than 2 examples go wholly to training (with a warning).
    Every other class gets at least one validation example and keeps at least
    one training example, however small `val_fraction` is.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1 (exclusive)")
    problems: list[Problem] = []
    counts = Counter(ds.labels)
    single = sorted(c for c, n in counts.items() if n < 2)
    if single:
        names = ", ".join(f"'{c}'" for c in single)
        one = len(single) == 1
        problems.append(Problem(WARNING, f"class {names}" if one else f"classes {names}",
                                f"{'has' if one else 'each have'} only one example, so "
                                f"{'it was' if one else 'they were'} used for training only and the results "
                                f"cannot be checked. Add more examples of {names}."))
    train_idx = [i for i, lab in enumerate(ds.labels) if counts[lab] < 2]
    pool = [i for i, lab in enumerate(ds.labels) if counts[lab] >= 2]
    val_idx: list[int] = []
    if pool:
        pool_labels = [ds.labels[i] for i in pool]
        n_classes = len(set(pool_labels))
        from sklearn.model_selection import train_test_split   # ~1 s to import: only when splitting

        # Room for every class on both sides: each pooled class has >= 2 examples, so 1 <= n_val.
        n_val = min(max(round(val_fraction * len(pool)), n_classes), len(pool) - n_classes)
        tr, va = train_test_split(pool, test_size=n_val, random_state=seed, shuffle=True, stratify=pool_labels)
        tr, va = _ensure_each_class_on_both_sides(list(tr), list(va), ds.labels, seed)
        train_idx += tr
        val_idx = va
    train_idx.sort()
    val_idx.sort()
    return ds.subset(train_idx), ds.subset(val_idx), problems


def _ensure_each_class_on_both_sides(tr: list[int], va: list[int], labels: list[str], seed: int):
    """Stratified rounding can leave a small class with no validation (or no training) example; fix that."""
    rng = random.Random(seed)
    by_tr, by_va = defaultdict(list), defaultdict(list)
    for i in tr:
        by_tr[labels[i]].append(i)
    for i in va:
        by_va[labels[i]].append(i)
    for c in sorted(set(by_tr) | set(by_va)):
        if not by_va[c] and len(by_tr[c]) >= 2:
            i = rng.choice(sorted(by_tr[c]))
            tr.remove(i)
            va.append(i)
        elif not by_tr[c] and len(by_va[c]) >= 2:
            i = rng.choice(sorted(by_va[c]))
            va.remove(i)
            tr.append(i)
    return tr, va


def _key(ds: Dataset, item: str) -> str | None:
    if ds.modality == "text":
        return " ".join(item.split()).casefold()
    try:  # images: identical bytes
        h = hashlib.sha256()
        with open(item, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def find_leaks(train: Dataset, val: Dataset) -> list[Problem]:
    """Warn when validation examples also appear in training: the score would look better than it is."""
    seen: dict[str, int] = {}
    for i, item in enumerate(train.items):
        k = _key(train, item)
        if k is not None:
            seen.setdefault(k, i)
    pairs = []
    for j, item in enumerate(val.items):
        k = _key(val, item)
        if k is not None and k in seen:
            pairs.append((seen[k], j))
    if not pairs:
        return []
    i, j = pairs[0]
    what = "texts" if val.modality == "text" else "pictures"
    return [Problem(WARNING, val.origins[j],
                    f"{len(pairs)} validation {what} are identical to training {what} (for example this one and "
                    f"{train.origins[i]}), so the validation score may look better than it really is. "
                    f"Remove the duplicates from your data.")]
