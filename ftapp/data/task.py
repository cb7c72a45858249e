"""What kind of answer a label column asks for, guessed from its values, and the data report in
that task's words.

A column of ";"-separated labels ("billing;bug") asks for several labels per example: with the
task on "auto" that is what is trained (`decide_task`; the user may choose one label, and each
combination is then a class of its own). A column of measured numbers ("3.75") asks for a number,
which "auto" trains; many whole numbers that each repeat (100, 400, 700 …) may be numbered classes or
a measurement: they train as classes and the report names the other choice. `describe` gives the
report what matters for that task: each label's frequency and which labels come together, or a
number's range, quartiles, histogram and outliers.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import combinations

from ftapp.train.config import TASKS

SEPARATORS = (";", "|", ",")   # tried in this order: ";" and "|" are rare inside class names
MIN_SHARE = 0.05               # of the rows, that hold a separator before several labels are guessed
FEW_VALUES = 10                # whole numbers with at most this many distinct values read as classes
REPEATS = 3                    # ... and so do whole numbers with this many rows per value on average


@dataclass(frozen=True)
class TaskGuess:
    kind: str                  # "single" | "multi" | "number"
    detail: str = ""           # the evidence, in words, for the data report
    separator: str = ""        # "multi": what separates the labels


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
        return TaskGuess(TASKS.single)
    values = [_number(label) for label in counts]
    # fractions are measurements; many whole numbers seen once or twice each are too (codes of classes,
    # such as numbered folders, repeat: each has its examples)
    if all(v is not None for v in values) and (any(v != int(v) for v in values) or (
            len(values) > FEW_VALUES and total / len(values) < REPEATS)):
        return TaskGuess("number", f"{len(values)} distinct numbers from {min(values):g} to {max(values):g}")
    if all(v is not None for v in values) and len(values) > FEW_VALUES:   # numbered classes, or a measurement
        return TaskGuess(TASKS.single, f"{len(values)} distinct whole numbers from {min(values):g} to "
                                       f"{max(values):g}, {total / len(values):.0f} rows each on average")
    for sep in SEPARATORS:
        joined = {label: n for label, n in counts.items() if sep in label}
        share = sum(joined.values()) / total
        parts = {p.strip() for label in counts for p in label.split(sep)}
        if share >= MIN_SHARE and "" not in parts and len(parts) < len(counts):
            example = max(joined, key=joined.get)
            return TaskGuess(TASKS.multi, f"{share:.0%} of the rows hold several labels separated by '{sep}' (e.g. "
                                      f"'{example}'): {len(parts)} labels in {len(counts)} combinations", sep)
    return TaskGuess(TASKS.single)


def decide_task(guess: TaskGuess, task: str, counts: dict[str, int]) -> TaskGuess:
    """What the run trains: `task` ("single", "multi") when the user chose, else the guess. Several
    labels chosen for a column the guess did not read so: the separator is the first of SEPARATORS
    found in a label (";" when none is: every example then has one label)."""
    if task == TASKS.regression:
        return TaskGuess(TASKS.regression, "chosen")
    if task == TASKS.single:
        return TaskGuess(TASKS.single)
    if task != TASKS.multi and guess.kind == "number":   # auto: measurements are predicted as numbers
        return TaskGuess(TASKS.regression, guess.detail)
    if task != TASKS.multi or guess.kind == TASKS.multi:
        return guess
    sep = next((s for s in SEPARATORS if any(s in label for label in counts)), SEPARATORS[0])
    return TaskGuess(TASKS.multi, f"chosen: labels separated by '{sep}'", sep)


def label_counts(counts: dict[str, int], sep: str) -> dict[str, int]:
    """How many examples carry each label, from the counts of the label column's values."""
    out = Counter()
    for combination, n in counts.items():
        for label in {p.strip() for p in combination.split(sep) if p.strip()}:
            out[label] += n
    return dict(out)


def task_warning(guess: TaskGuess, decided: TaskGuess) -> str | None:
    """The data report's sentence for a label column that asks for more than what is trained, or None."""
    if guess.kind == TASKS.multi and decided.kind == TASKS.single:
        return (f"looks like several labels per example: {guess.detail}. One label per example was chosen, so each "
                "combination becomes a class of its own; choose several labels per example (--task multi) to "
                "train each label on its own.")
    if guess.kind == "number" and decided.kind != TASKS.regression:
        return (f"looks like numbers to predict: {guess.detail}. Trained as classes, each value becomes a class of its "
                "own: choose a number per example (step 1's \"A number\", or --task regression) to predict the value "
                "itself, or put the values into a few named ranges (low / medium / high).")
    if guess.kind == TASKS.single and guess.detail and decided.kind == TASKS.single:
        return (f"holds {guess.detail}: trained as classes, as numbered categories are. If the values measure "
                "something (a larger value means more, as with a score, a size or a weight), choose a number per "
                "example (step 1's \"A number\", or --task regression) to predict the value itself.")
    return None


def not_numbers(counts: dict[str, int]) -> list[str]:
    """The label column's values that are not numbers (a number per example needs one in every row)."""
    return sorted(label for label in counts if _number(label) is None)


# ---- the report in the task's words ----------------------------------------------------------------
TOP = 5             # the most frequent labels / pairs named in the summary
FENCE = 1.5         # Tukey's fences: an outlier lies this many middle halves beyond the quartiles


def describe(guess: TaskGuess, counts: dict[str, int]) -> dict | None:
    """What the data report shows for a column that asks for several labels or a number, in that
    task's words (None for one label per row: the class counts already say it)."""
    if guess.kind == TASKS.multi:
        return describe_labels(counts, guess.separator)
    if guess.kind in ("number", TASKS.regression) and not not_numbers(counts):
        return describe_numbers([v for label, n in counts.items() for v in [_number(label)] * n])
    return None


def describe_labels(counts: dict[str, int], sep: str) -> dict:
    """Each label's frequency, how many labels a row has, and which labels come together most often."""
    per_label, pairs, sizes = Counter(), Counter(), Counter()
    for combination, n in counts.items():
        labels = sorted({p.strip() for p in combination.split(sep) if p.strip()})
        sizes[len(labels)] += n
        for label in labels:
            per_label[label] += n
        for pair in combinations(labels, 2):
            pairs[pair] += n
    rows = sum(sizes.values())
    return {"kind": "multi", "separator": sep, "rows": rows, "labels": dict(per_label.most_common()),
            "labels_per_row": round(sum(k * n for k, n in sizes.items()) / rows, 3),
            "several_share": round(sum(n for k, n in sizes.items() if k > 1) / rows, 4),
            "pairs": [{"labels": list(pair), "rows": n} for pair, n in pairs.most_common(TOP)]}


def describe_numbers(values: list[float]) -> dict:
    """Range, quartiles, a 10-bin histogram and the outliers beyond Tukey's fences."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    low, high = q1 - FENCE * (q3 - q1), q3 + FENCE * (q3 - q1)
    outliers = sorted(float(v) for v in x[(x < low) | (x > high)])
    counts, edges = np.histogram(x, bins=10)
    return {"kind": "number", "rows": int(len(x)), "min": float(x.min()), "max": float(x.max()), "median": median,
            "quartiles": [q1, q3], "outliers": outliers, "fences": [low, high],
            "histogram": {"counts": counts.tolist(), "edges": [float(e) for e in edges]}}


def summary_lines(d: dict) -> list[str]:
    """The report's lines for `describe`'s result."""
    if d["kind"] == "multi":
        top = ", ".join(f"{label} ({n})" for label, n in list(d["labels"].items())[:TOP])
        lines = [f"Several labels per row (separated by '{d['separator']}'): {len(d['labels'])} labels, "
                 f"{d['labels_per_row']:.2f} per row on average, {d['several_share']:.0%} of rows with two or more.",
                 f"  most frequent: {top}"]
        if d["pairs"]:
            lines.append("  most often together: " + ", ".join(f"{' + '.join(p['labels'])} ({p['rows']})"
                                                               for p in d["pairs"]))
        return lines
    q1, q3 = d["quartiles"]
    lines = [f"Numbers from {d['min']:g} to {d['max']:g} ({d['rows']} rows): median {d['median']:g}, "
             f"middle half {q1:g}–{q3:g}."]
    if d["outliers"]:
        shown = _outlier_list(d["outliers"])
        lines.append(f"  {len(d['outliers'])} outlier(s) outside {d['fences'][0]:g} to {d['fences'][1]:g} (further "
                     f"from the middle half than {FENCE:g} times its width): {shown}. Check they are not typos.")
    return lines


def _outlier_list(values: list[float], each_end: int = 3) -> str:
    if len(values) <= 2 * each_end:
        return ", ".join(f"{v:g}" for v in values)
    return ", ".join(f"{v:g}" for v in values[:each_end]) + ", …, " + ", ".join(f"{v:g}" for v in values[-each_end:])
