"""Train/validation split and leak detection."""
from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict

from .report import WARNING, Dataset, Problem


def train_val_split(ds: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset, list[Problem]]:
    """Stratified, grouped, seeded, deterministic split.

    Identical examples (the same text up to case and spacing, the same picture file contents) form
    one group and always land on the same side, so no validation example has a copy in training.
    Each class gets round(val_fraction × its size) validation examples where its groups allow,
    at least one, and keeps at least one for training. Classes with fewer than 2 examples go
    wholly to training (with a warning).
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
    target = {c: min(max(round(val_fraction * n), 1), n - 1) for c, n in counts.items() if n >= 2}
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(duplicate_groups(ds)):
        members[g].append(i)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    taken: Counter = Counter()
    val_idx: list[int] = []
    for g in order:
        group = Counter(ds.labels[i] for i in members[g])
        if all(c in target and taken[c] + n <= target[c] for c, n in group.items()):
            taken.update(group)
            val_idx += members[g]
    chosen = set(val_idx)
    train_idx = [i for i in range(len(ds)) if i not in chosen]
    return ds.subset(train_idx), ds.subset(sorted(val_idx)), problems


def duplicate_groups(ds: Dataset) -> list[int]:
    """A group id per example: identical examples (see `_key`) share one."""
    ids: dict[str, int] = {}
    out = []
    for i, item in enumerate(ds.items):
        k = _key(ds, item)
        out.append(ids.setdefault(k if k is not None else f"unreadable-{i}", len(ids)))
    return out


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
