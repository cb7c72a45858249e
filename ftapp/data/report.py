"""Plain data classes shared by every ingestion step.

Everything that can be wrong with a user's data ends up as a `Problem` inside a
`DataReport`; the loaders never raise for bad data.  Messages are written for a
domain expert, not a programmer: they say *where* (file / row / column) and
*what to do*.
"""
from __future__ import annotations

from collections import Counter

import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Iterable

from ftapp.train.config import TASKS

from .task import summary_lines as task_summary_lines

ERROR = "error"  # blocks training
WARNING = "warning"  # training can go on, but the user should look
SKIPPED = "skipped"  # one item (file / row) was left out

LEVELS = (ERROR, WARNING, SKIPPED)
MAX_CLASS_LINES = 15   # the CLI's report lists every class up to this many


@dataclass
class Problem:
    level: str
    where: str
    message: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:  # a programming mistake, not a data problem
            raise ValueError(f"unknown problem level {self.level!r}")

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class Limits:
    """Caps that protect a hosted demo.  Every cap yields a clear Problem, never an exception."""

    max_upload_bytes: int = 500 * 2**20
    max_members: int = 20_000  # zip entries (and files in a folder)
    max_uncompressed_bytes: int = 2 * 2**30
    max_compression_ratio: float = 200.0  # per member and overall
    max_image_pixels: int = 40_000_000  # decompression-bomb guard, checked on the header before decoding
    max_text_chars: int = 20_000  # longer texts are kept but cut to this length
    allow_local_paths: bool = True  # False when hosted: table image paths must stay inside the upload


VALUE = "value"    # the one output of a model that predicts a number
EXAMPLE_NOUNS = {"text": "text", "image": "picture", "audio": "recording"}   # what one example of each kind is called


def examples_noun(modality: str | None, n: int = 2) -> str:
    """"texts", "pictures", "recordings" (or "example(s)" when the kind is not known yet); singular for n == 1."""
    word = EXAMPLE_NOUNS.get(modality or "", "example")
    return word if n == 1 else word + "s"


def quarters(values: list[float]) -> list[str]:
    """Which quarter of the values each one falls in ("q1" … "q4"): what splits keep in proportion."""
    import numpy as np

    if not values:
        return []
    cuts = np.quantile(values, [0.25, 0.5, 0.75])
    return [f"q{int(np.searchsorted(cuts, v, side='right')) + 1}" for v in values]


@dataclass
class Dataset:
    modality: str  # "image" | "text" | "audio"
    items: list[str]  # image, audio: absolute file paths; text: the texts
    labels: list[str]
    origins: list[str]  # per item, where it came from (for messages)
    separator: str = ""  # several labels per example: what separates them in a label ("billing;bug")
    numeric: bool = False  # a number per example (the label column holds it as text)

    @property
    def classes(self) -> list[str]:
        """The classes, or with several labels per example the labels (each one, not the combinations);
        a number per example: its one output, "value"."""
        if self.numeric:
            return [VALUE]
        if self.separator:
            return sorted({part for label in self.labels for part in self.split_label(label)})
        return sorted(set(self.labels))

    def class_counts(self) -> Counter:
        """Examples per class (several labels per example: per label; a number: per quarter of the values)."""
        if self.numeric:
            return Counter(quarters([float(v) for v in self.labels]))
        return Counter(part for label in self.labels for part in self.split_label(label))

    def split_label(self, label: str) -> list[str]:
        """An example's labels (several labels per example: the parts, blanks left out)."""
        return [p.strip() for p in label.split(self.separator) if p.strip()] if self.separator else [label]

    def subset(self, indices: Iterable[int]) -> "Dataset":
        idx = list(indices)
        return Dataset(
            modality=self.modality,
            items=[self.items[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            origins=[self.origins[i] for i in idx],
            separator=self.separator,
            numeric=self.numeric,
        )

    def __len__(self) -> int:
        return len(self.items)


def class_summary(counts: dict[str, int]) -> str:
    """"300 classes; smallest 2, median 2, largest 5 examples"."""
    if not counts:
        return "no classes"
    values = sorted(counts.values())
    return (f"{len(values)} classes; smallest {values[0]}, median {statistics.median(values):g}, "
            f"largest {values[-1]} examples")


@dataclass
class DataReport:
    source: str
    modality: str | None = None
    class_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    text_column: str | None = None
    label_column: str | None = None
    path_column: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    details: dict = field(default_factory=dict)   # full lists behind grouped warnings (data_report.json)

    # -- helpers used by the loaders -------------------------------------------------
    def add(self, level: str, where: str, message: str) -> Problem:
        p = Problem(level, where, message)
        self.problems.append(p)
        return p

    def error(self, where: str, message: str) -> Problem:
        return self.add(ERROR, where, message)

    def warn(self, where: str, message: str) -> Problem:
        return self.add(WARNING, where, message)

    def skip(self, where: str, message: str) -> Problem:
        return self.add(SKIPPED, where, message)

    def count_drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    # -- views ---------------------------------------------------------------------
    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.level == SKIPPED]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, max_lines_per_section: int = 10) -> str:
        """Short plain-text report for the command line."""
        lines = [f"Data: {self.source}" + (f" ({self.modality})" if self.modality else "")]
        if self.text_column or self.label_column or self.path_column:
            cols = []
            if self.text_column:
                cols.append(f"text column '{self.text_column}'")
            if self.path_column:
                cols.append(f"file column '{self.path_column}'")
            if self.label_column:
                cols.append(f"label column '{self.label_column}'")
            lines.append("Using " + ", ".join(cols))
        if self.class_counts and self.details.get("task") == TASKS.multi:   # counts per label: a row counts once per label
            lines.append(f"{len(self.class_counts)} labels on {self.details['task_detail']['rows']} examples "
                         "(examples per label):")
            width = max(len(c) for c in self.class_counts)
            lines += [f"  {name.ljust(width)}  {n}" for name, n in sorted(self.class_counts.items(),
                                                                          key=lambda kv: (-kv[1], kv[0]))]
        elif self.class_counts:
            total = sum(self.class_counts.values())
            ranked = sorted(self.class_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if len(ranked) <= MAX_CLASS_LINES:
                lines.append(f"{len(self.class_counts)} classes, {total} examples:")
                width = max(len(c) for c in self.class_counts)
                lines += [f"  {name.ljust(width)}  {n}" for name, n in ranked]
            else:   # hundreds of classes: the shape of the counts, not one line each
                lines.append(f"{class_summary(self.class_counts)} ({total} in all).")
                lines.append("  largest: " + ", ".join(f"{c} ({n})" for c, n in ranked[:3])
                             + "; smallest: " + ", ".join(f"{c} ({n})" for c, n in ranked[-3:])
                             + " — every count is in data_report.json")
        if self.details.get("task_detail"):
            lines += task_summary_lines(self.details["task_detail"])
        if self.details.get("audio"):
            from .audio import summary_lines as audio_lines

            lines += audio_lines(self.details["audio"])
        if self.dropped:
            lines.append("Rows left out: " + ", ".join(f"{n} ({why})" for why, n in self.dropped.items()))
        for title, probs in (("Skipped", self.skipped), ("Warnings", self.warnings), ("Errors", self.errors)):
            if not probs:
                continue
            lines.append(f"{title} ({len(probs)}):")
            for p in probs[:max_lines_per_section]:
                lines.append(f"  - {p}")
            if len(probs) > max_lines_per_section:
                lines.append(f"  ... and {len(probs) - max_lines_per_section} more")
        lines.append("Ready to train." if self.ok else "Cannot train until the errors above are fixed.")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, d: dict) -> "DataReport":
        """Back from to_dict() (a session keeps its report as JSON)."""
        known = {f for f in cls.__dataclass_fields__}
        report = cls(**{k: v for k, v in d.items() if k in known and k != "problems"})
        report.problems = [Problem(p["level"], p["where"], p["message"]) for p in d.get("problems", [])]
        return report

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["n_errors"] = len(self.errors)
        d["n_warnings"] = len(self.warnings)
        d["n_skipped"] = len(self.skipped)
        return d


def display_name(path: str | os.PathLike) -> str:
    """The name the user knows a file/folder by (never a temp path)."""
    return os.path.basename(os.path.normpath(os.fspath(path))) or os.fspath(path)


def human_size(n: float) -> str:
    """1536 -> '1.5 KB' (binary units, as file managers show them)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover
