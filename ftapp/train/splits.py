"""A run's data: loaded, checked, edited as the user asked, and split into training, validation and
(when every class is large enough) a test slice that nothing is chosen on."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ftapp import tasks
from ftapp.data import Dataset, Limits, find_leaks, load_dataset, train_val_split
from ftapp.data.ingest import recheck
from ftapp.data.labels import LabelEdits, apply_edits
from ftapp.errors import UserFacingError
from ftapp.train.config import MIN_TEST_PER_CLASS, TrainConfig


class RunFailed(UserFacingError):
    """Ends a run with a message for the user."""


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset | None            # a slice nothing selects on (None when the data is too small)
    reports: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    label_map: dict = field(default_factory=dict)   # the class edits applied (old -> new, None dropped)
    n_report_warnings: int = 0                      # warnings[:n] are the data report's own

    @property
    def split_warnings(self) -> list[str]:
        return self.warnings[self.n_report_warnings:]

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def task(self) -> str:
        """ftapp.tasks' kind: several labels per example when the label column holds them."""
        return tasks.NUMBER if self.train.numeric else tasks.SEVERAL if self.train.separator else tasks.ONE

    @property
    def modality(self) -> str:
        return self.train.modality

    @property
    def train_and_val(self) -> Dataset:
        return concat(self.train, self.val)


def concat(a: Dataset, b: Dataset) -> Dataset:
    return Dataset(a.modality, a.items + b.items, a.labels + b.labels, a.origins + b.origins, a.separator, a.numeric)


def prepare_data(config: TrainConfig, workdir: Path, limits: Limits) -> Splits:
    """Load, check, edit and split the data (grouped: identical examples stay on one side); raise
    RunFailed with the report's errors when unusable."""
    columns = dict(text_column=config.text_column, label_column=config.label_column, path_column=config.path_column)
    ds, report = load_dataset(config.data, workdir=workdir / "data", limits=limits, task=config.task, **columns)
    if not report.ok:
        raise RunFailed("The data cannot be used: " + " ".join(str(p) for p in report.errors))
    ds, report, label_map = _edit_classes(config, ds, report)
    reports = {"train": report.to_dict(), "summary": report.summary()}
    warnings = [str(p) for p in report.warnings]
    from_report = len(warnings)
    test = None
    # a test file of the user's own is the held-out score: no slice of the training data is set aside for another
    if config.test_fraction > 0 and not config.val_data and not config.test_data \
            and min(ds.class_counts().values()) >= MIN_TEST_PER_CLASS:
        ds, test, _ = train_val_split(ds, config.test_fraction, config.seed + 1)
    if config.val_data:
        val, vreport = load_dataset(config.val_data, workdir=workdir / "val", modality=ds.modality, limits=limits,
                                    task=report.details["task"], **columns)
        reports["validation"] = vreport.to_dict()
        if not vreport.ok:
            raise RunFailed("The validation data cannot be used: " + " ".join(str(p) for p in vreport.errors))
        val, _, _ = apply_edits(val, LabelEdits(label_map=label_map, merge_similar=config.merge_similar_labels,
                                                classes=ds.classes))
        val.separator, val.numeric = ds.separator, ds.numeric
        unknown = sorted(set(val.classes) - set(ds.classes))
        if unknown:
            raise RunFailed(f"The validation data has classes the training data lacks: {', '.join(unknown)}. "
                            "Add training examples for them or remove them from the validation file.")
        train = ds
    else:
        share = config.val_fraction / (1 - (config.test_fraction if test is not None else 0))
        train, val, problems = train_val_split(ds, min(share, 0.5), config.seed)
        warnings += [str(p) for p in problems]
    warnings += [str(p) for p in find_leaks(train, val)]
    reports["warnings"] = warnings
    return Splits(train, val, test, reports, warnings, label_map, n_report_warnings=from_report)


def _edit_classes(config: TrainConfig, ds: Dataset, report):
    """The user's class edits (row fixes, rename / merge / drop, similar-label merges, small classes),
    applied before anything is split; the report is redone on the edited classes."""
    edits = LabelEdits.of(config.to_dict())
    if not edits:
        return ds, report, {}
    if ds.separator or ds.numeric:
        raise RunFailed("Class edits (renames, merges, drops, row fixes) work on one class per example; with several "
                        "labels or a number per example, edit the label column in the file and load it again.")
    edited, mapping, matched = apply_edits(ds, edits)
    if len(edited.classes) < 2:
        raise RunFailed(f"After the class edits only {len(edited.classes)} class is left; training needs at least "
                        "two. Undo some merges or drops.")
    redone = recheck(report, Counter(edited.labels))
    merged = sum(1 for v in mapping.values() if v is not None)
    dropped = sorted(k for k, v in mapping.items() if v is None)
    if config.row_edits:
        redone.warn("row fixes", f"{matched} of {len(config.row_edits)} fixed row(s) found and applied.")
    if mapping:
        redone.warn("class edits", f"{merged} label(s) renamed or merged, {len(dropped)} class(es) dropped"
                                   + (f" ({', '.join(dropped[:5])}{', …' if len(dropped) > 5 else ''})" if dropped
                                      else "") + f": {len(edited)} of {len(ds)} examples, {len(edited.classes)} classes.")
    return edited, redone, mapping
