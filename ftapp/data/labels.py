"""Class edits: rename, merge and drop classes as a recorded label mapping, never a rewrite of the
user's file. `apply_edits` is the one way edits reach data — training, evaluation, the data check
and the class counts of the report all call it: fixes to single rows first (the data check's
Review), then one mapping (old label → new label, None = drops the rows), recorded with the run and
the model and applied the same way to validation, test and evaluation data.

    edited, mapping, _ = apply_edits(ds, LabelEdits(label_map={"Billing": "billing"}, merge_similar=True))
    val, _, _ = apply_edits(val, LabelEdits(label_map=mapping, merge_similar=True, classes=edited.classes))

"Similar" labels are equal after Unicode normalisation (NFKC), case folding and trimming or
collapsing white space: "Billing", "billing " and "BILLING" — almost certainly meant as one.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

from .report import Dataset

_SPACE = re.compile(r"\s+")


def label_key(label: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(label))).strip().casefold()


def similar_merges(counts: dict[str, int]) -> dict[str, str]:
    """Variant → the spelling to keep: the most frequent of its group; on a tie, one not in capitals
    and without surrounding spaces, then the first in order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in counts:
        groups[label_key(name)].append(name)
    out = {}
    for names in groups.values():
        if len(names) > 1:
            keep = sorted(names, key=lambda n: (-counts[n], n.isupper(), n != n.strip(), n))[0]
            out.update({n: keep for n in names if n != keep})
    return out


def compose(first: dict, then: dict) -> dict:
    """The mapping that does `first`, then `then` (None, a dropped class, stays dropped)."""
    out = {old: (then.get(new, new) if new is not None else None) for old, new in first.items()}
    out.update({old: new for old, new in then.items() if old not in out})
    return {old: new for old, new in out.items() if new != old}


def mapped_counts(counts: dict[str, int], mapping: dict) -> dict[str, int]:
    out: Counter = Counter()
    for name, n in counts.items():
        new = mapping.get(name, name)
        if new is not None:
            out[new] += n
    return dict(sorted(out.items()))


def edit_labels(ds: Dataset, label_map: dict | None = None, merge_similar: bool = False,
                min_examples: int = 0) -> tuple[Dataset, dict]:
    """The edited dataset and the one mapping that made it: look-alike labels merged first, then
    the explicit map (its keys may name a label as in the file or as merged), then the classes
    still below `min_examples` dropped."""
    counts = dict(Counter(ds.labels))
    explicit = dict(label_map or {})
    mapping = similar_merges(counts) if merge_similar else {}
    mapping = compose(mapping, {k: v for k, v in explicit.items() if k in mapped_counts(counts, mapping)})
    mapping.update({k: v for k, v in explicit.items() if k in counts})   # a label as in the file: as written
    mapping = {k: v for k, v in mapping.items() if k != v}
    if min_examples > 0:
        small = {c: None for c, n in mapped_counts(counts, mapping).items() if n < min_examples}
        mapping = compose(mapping, small)
    return apply_label_map(ds, mapping), mapping


def apply_row_edits(ds: Dataset, row_edits: dict | None) -> tuple[Dataset, int]:
    """Single examples relabelled or dropped (the data check's Review), by their origin as the
    reports name it. Returns the dataset and how many rows the edits matched."""
    if not row_edits:
        return ds, 0
    keep, labels, matched = [], [], 0
    for i, (label, origin) in enumerate(zip(ds.labels, ds.origins)):
        if origin in row_edits:
            matched += 1
            if row_edits[origin] is None:
                continue
            label = row_edits[origin]
        keep.append(i)
        labels.append(label)
    edited = ds.subset(keep)
    edited.labels = labels
    return edited, matched


def apply_label_map(ds: Dataset, mapping: dict, merge_similar: bool = False,
                    classes: list[str] | None = None) -> Dataset:
    """The rows whose (mapped) label is kept. With `merge_similar` and the model's `classes`, a
    variant the mapping never saw (e.g. only in a test file) goes to the class it resembles."""
    by_key = {label_key(c): c for c in classes or []} if merge_similar else {}
    keep = []
    labels = []
    for i, label in enumerate(ds.labels):
        new = mapping[label] if label in mapping else by_key.get(label_key(label), label)
        if new is not None:
            keep.append(i)
            labels.append(new)
    edited = ds.subset(keep)
    edited.labels = labels
    return edited


@dataclass(frozen=True)
class LabelEdits:
    """Everything a user asked to change about labels. With `classes` (a trained model's), the data
    is scored, not trained on: `label_map` is the mapping as applied in training, and a look-alike
    variant it never saw goes to the class it resembles (with `merge_similar`)."""
    row_edits: dict | None = None
    label_map: dict | None = None
    merge_similar: bool = False
    min_examples: int = 0
    classes: tuple | list | None = None

    @classmethod
    def of(cls, settings: dict, classes=None) -> "LabelEdits":
        """From a run's (or a session's) settings."""
        return cls(row_edits=settings.get("row_edits") if classes is None else None,
                   label_map=settings.get("label_map"), merge_similar=bool(settings.get("merge_similar_labels")),
                   min_examples=int(settings.get("min_examples") or 0) if classes is None else 0, classes=classes)

    def __bool__(self) -> bool:
        return bool(self.row_edits or self.label_map or self.merge_similar or self.min_examples)


def apply_edits(ds: Dataset, edits: LabelEdits) -> tuple[Dataset, dict, int]:
    """The edited data, the mapping applied (old → new, None dropped) and how many fixed rows were
    found. Row fixes first, then the mapping."""
    ds, matched = apply_row_edits(ds, edits.row_edits)
    if edits.classes is not None:
        mapping = dict(edits.label_map or {})
        return apply_label_map(ds, mapping, edits.merge_similar, list(edits.classes)), mapping, matched
    edited, mapping = edit_labels(ds, edits.label_map, edits.merge_similar, edits.min_examples)
    return edited, mapping, matched
