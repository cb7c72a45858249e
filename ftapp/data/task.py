"""What kind of answer a label column asks for, guessed from its values.

ftapp trains one label per example. A column of ";"-separated labels ("billing;bug") or of
measured numbers ("3.75") asks for something else — several labels per example, or a number —
and trained as classes it would make every combination, or every value, a class of its own. The
data report says so before training (`check_classes` calls `guess_task`), in words that name what
to do today; training several labels and numbers is not built yet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SEPARATORS = (";", "|", ",")   # tried in this order: ";" and "|" are rare inside class names
MIN_SHARE = 0.05               # of the rows, that hold a separator before several labels are guessed
FEW_VALUES = 10                # whole numbers with at most this many distinct values read as classes
REPEATS = 3                    # ... and so do whole numbers with this many rows per value on average


@dataclass(frozen=True)
class TaskGuess:
    kind: str                  # "single" | "multi" | "number"
    detail: str = ""           # the evidence, in words, for the data report


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "")) if text.strip() else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def guess_task(counts: dict[str, int]) -> TaskGuess:
    """From the label column's values and how many rows hold each."""
    total = sum(counts.values())
    if not total:
        return TaskGuess("single")
    values = [_number(label) for label in counts]
    # fractions are measurements; many whole numbers seen once or twice each are too (codes of classes,
    # such as numbered folders, repeat: each has its examples)
    if all(v is not None for v in values) and (any(v != int(v) for v in values) or (
            len(values) > FEW_VALUES and total / len(values) < REPEATS)):
        return TaskGuess("number", f"{len(values)} distinct numbers from {min(values):g} to {max(values):g}")
    for sep in SEPARATORS:
        joined = {label: n for label, n in counts.items() if sep in label}
        share = sum(joined.values()) / total
        parts = {p.strip() for label in counts for p in label.split(sep)}
        if share >= MIN_SHARE and "" not in parts and len(parts) < len(counts):
            example = max(joined, key=joined.get)
            return TaskGuess("multi", f"{share:.0%} of the rows hold several labels separated by '{sep}' (e.g. "
                                      f"'{example}'): {len(parts)} labels in {len(counts)} combinations")
    return TaskGuess("single")


def task_warning(guess: TaskGuess) -> str | None:
    """The data report's sentence for a column that asks for more than one label, or None."""
    if guess.kind == "multi":
        return (f"looks like several labels per example: {guess.detail}. ftapp trains one label per example "
                "(several are not supported yet), so each combination would become a class of its own. To train "
                "now, keep one label per row, e.g. the main one.")
    if guess.kind == "number":
        return (f"looks like numbers to predict: {guess.detail}. ftapp trains classes, not numbers (regression is "
                "not supported yet), so each value would become a class of its own. To train now, put the values "
                "into a few named ranges (e.g. low / medium / high) in the label column.")
    return None
