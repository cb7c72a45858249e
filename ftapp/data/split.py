"""Train/validation split and leak detection."""
from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict

from .report import WARNING, Dataset, Problem, examples_noun, quarters


def grouped_folds(labels, groups, n_splits: int, seed: int = 0) -> list[tuple[list[int], list[int]]] | None:
    """Stratified k-fold splits (train indices, held-out indices) that keep each group (identical
    examples) on one side: scikit-learn's StratifiedGroupKFold, the one splitter of ftapp (the
    validation split, the test slice, the cross-validation, the data check), or its StratifiedKFold
    when every group is one example. None when fewer than two groups exist."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    n_groups, largest = len(set(groups)), max(Counter(labels).values(), default=0)
    n_splits = min(int(n_splits), n_groups, largest)
    if n_splits < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "the least populated class has only n members": handled by the caller
        if n_groups == len(groups):       # no two examples alike: the same split problem, solved vectorised
            # (StratifiedGroupKFold places groups one by one in Python: 0.3 s a call on 1,500 texts)
            splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        else:
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        return [(tr.tolist(), te.tolist()) for tr, te in splitter.split(labels, labels, groups)]


def train_val_split(ds: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset, list[Problem]]:
    """Stratified, grouped, seeded, deterministic split.

    Identical examples (the same text up to case and spacing, the same picture file contents) form
    one group and always land on the same side, so no validation example has a copy in training.
    One fold of a k-fold split with k = 1 / val_fraction (rounded) is the validation part; then
    every class with at least two groups gets at least one on each side. Classes with fewer than 2
    examples, or only copies of one, go wholly to training (a single example with a warning).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1 (exclusive)")
    problems: list[Problem] = []
    labels = strata(ds)
    single = sorted(c for c, n in ds.class_counts().items() if n < 2)
    if single:
        names = ", ".join(f"'{c}'" for c in single)
        one = len(single) == 1
        problems.append(Problem(WARNING, f"class {names}" if one else f"classes {names}",
                                f"{'has' if one else 'each have'} only one example, so "
                                f"{'it was' if one else 'they were'} used for training only and the results "
                                f"cannot be checked. Add more examples of {names}."))
    groups = duplicate_groups(ds)
    folds = grouped_folds(labels, groups, max(2, round(1 / val_fraction)), seed)
    val = set(folds[0][1]) if folds else set()
    val -= {i for i, label in enumerate(ds.labels) if set(ds.split_label(label)) & set(single)}
    val = _both_sides(labels, groups, val, seed)
    return ds.subset([i for i in range(len(ds)) if i not in val]), ds.subset(sorted(val)), problems


def strata(ds: Dataset) -> list[str]:
    """What a split keeps in proportion: the class, or with several labels per example each
    example's rarest label (most combinations are unique; the rarest label is the one a careless
    split would leave on one side)."""
    if ds.numeric:
        return quarters([float(v) for v in ds.labels])
    if not ds.separator:
        return ds.labels
    counts = ds.class_counts()
    return [min(ds.split_label(label), key=lambda c: (counts[c], c), default="") for label in ds.labels]


def _both_sides(labels: list[str], groups: list[int], val: set[int], seed: int) -> set[int]:
    """Move whole groups so that each class with two or more groups has one on each side, and a class
    of a single group (one example, or copies of one) stays in training: it cannot be checked."""
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class: dict[str, list[int]] = defaultdict(list)
    for g in sorted(members, key=lambda g: random.Random(seed + g).random()):
        by_class[labels[members[g][0]]].append(g)
    for c, gs in by_class.items():
        if len(gs) < 2:
            val -= {i for g in gs for i in members[g]}
            continue
        inside = [g for g in gs if members[g][0] in val]
        if not inside:
            val |= set(members[min(gs, key=lambda g: len(members[g]))])
        elif len(inside) == len(gs):
            val -= set(members[min(inside, key=lambda g: len(members[g]))])
    return val


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
    what = examples_noun(val.modality)
    return [Problem(WARNING, val.origins[j],
                    f"{len(pairs)} validation {what} are identical to training {what} (for example this one and "
                    f"{train.origins[i]}), so the validation score may look better than it really is. "
                    f"Remove the duplicates from your data.")]
