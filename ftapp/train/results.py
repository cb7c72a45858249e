"""What a run found, written into its folder for the model kept now: the first model as soon as it
exists (so Try it, Evaluate and Export can use it while fine-tuning goes on), then the final one.

One writer for both, so the first model's report and the final report read alike: the model, the
evaluation on the examples its numbers are on (validation, or out-of-fold), the held-out test
slice, 95 % intervals and n beside every headline number, metrics.json, candidates.json. The final
write adds the baselines (on the same examples, with a paired test), the test file, the data check
and the learning curve.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ftapp import tasks, unsure
from ftapp.data import Dataset, duplicate_groups
from ftapp.evaluate import evaluate_file, evaluation_report, multilabel_report, number_report
from ftapp.files import MODEL_META, MODEL_TMP, atomic_write_json, read_json
from ftapp.runs import Candidate, Run, RunFolder
from ftapp.train import baselines, checkpoint, selection, words
from ftapp.train.learning_curve import learning_curve
from ftapp.train.prepared import Encoded
from ftapp.train.probe import folds_for
from ftapp.train.splits import Splits
from ftapp.train.training import CROSS_VALIDATION, HOLDOUT, Outcome

log = logging.getLogger("ftapp")


def save_model(clf, run_dir: Path) -> None:
    """Write into a temporary folder, then move the files in: a failure (disk full) leaves the
    previous model, if any, intact."""
    tmp = run_dir / MODEL_TMP
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        clf.save(tmp)
        meta = read_json(tmp / MODEL_META)   # the model's files, so an export takes exactly these
        atomic_write_json(tmp / MODEL_META, {**meta, "files": sorted(f.name for f in tmp.iterdir())})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for f in sorted(tmp.iterdir(), key=lambda f: f.name == MODEL_META):   # the meta last: a model is whole
        target = run_dir / f.name
        if target.is_dir() and f.is_dir():
            shutil.rmtree(target)
        os.replace(f, target)
    tmp.rmdir()


class Results:
    def __init__(self, run: Run, config, splits: Splits, enc: Encoded, clock, workdir: Path, limits,
                 language_flagged: bool = False, world_size: int = 1, scale: tuple = (0.0, 1.0)):
        """scale: a number per example, the training values' mean and standard deviation (the engine
        works in standardised units; reports are in the target's own)."""
        self.run, self.config, self.splits, self.enc, self.clock = run, config, splits, enc, clock
        self.world_size, self.scale = world_size, scale
        self.workdir, self.limits, self.language_flagged = workdir, limits, language_flagged
        self.classes = splits.classes
        self.files = run.files
        self._last_save = time.time()
        self._baseline: tuple = (None, None)     # (which training examples, the baseline fitted on them)
        self.unsure_below = 0.0                  # the kept model's "not sure" threshold, chosen on validation
        self.task = tasks.of(enc.train_y)        # one class, several labels or a number per example (tasks.py)
        self.key = self.task.score_key           # the headline number: accuracy, micro-F1, or R²
        self.thresholds: dict[str, list] = {}    # several labels: each model's thresholds, tuned on validation

    # ---- the first model ------------------------------------------------------------------------
    def first(self, outcome: Outcome) -> None:
        """The first model is saved and reported at once (seconds after the frozen pass)."""
        report, evaluated = self._report(outcome)   # first: it chooses the "not sure" threshold saved with the model
        save_model(outcome.clf, self.run.dir)
        metrics = self._metrics(outcome, report, stage="first model")
        if self.enc.test_features is not None:
            probs = self.task.probs(outcome.probe.logits(self.enc.test_features))
            metrics.update(self._test(probs))
        self.files.write(RunFolder.METRICS, metrics)
        self.files.write(RunFolder.CANDIDATES, [{"name": self.task.first_model, "status": Candidate.FIRST,
                                                 **outcome.first}])
        head = ("test", "held-out test examples") if f"test_{self.key}" in metrics else (
            "val", "validation examples" if outcome.validation == HOLDOUT else "examples (out-of-fold)")
        key = f"{head[0]}_{self.key}"
        score, n, ci = metrics[key], metrics[f"n_{head[0]}"], metrics.get(f"{key}_interval")   # none under 3 examples
        message = words.first_model(score, n, *(ci or (None, None)), head[1], more_coming=True,
                                    score_name=self.task.score_name)
        self.run.record("info", first_model={self.key: score, "n": n, "interval": ci, "on": head[0],
                                             "message": message})
        self.run.record("status", status=self.run.status, has_model=True)

    def checkpoint_model(self, clf) -> None:
        """A better checkpoint (it beats the first model on the checking half) replaces the saved
        model at most once a minute, so a crash keeps it; the final save covers short runs."""
        if time.time() - self._last_save < checkpoint.every_seconds():
            return
        snapshot = copy.copy(clf)
        snapshot.model = copy.deepcopy(clf.model).cpu()   # merging LoRA must not touch the live model
        try:
            save_model(snapshot, self.run.dir)
        except OSError:
            return   # a failed checkpoint is not fatal; the final save reports disk problems
        self._last_save = time.time()

    # ---- the final model ------------------------------------------------------------------------
    def final(self, outcome: Outcome) -> dict:
        run, clf = self.run, outcome.clf
        self._data_check(outcome)
        run.record("phase", phase="evaluating")
        self.clock.scoring(0.1)
        report, evaluated = self._report(outcome)
        report["baselines"] = self._baselines(outcome, evaluated, report)
        if self.splits.modality != "text":   # pictures, recordings: copies the app can still show later
            keep_example_images(run.dir, report, evaluated, "val")
        else:
            report["examples"] = [{"item": evaluated.items[i], "label": evaluated.labels[i]}
                                  for i in spread(evaluated.labels)]
        run.record("phase", phase="saving")
        self.clock.scoring(0.3)
        save_model(clf, run.dir)
        self.files.write(RunFolder.REPORT, report)
        self.files.write(RunFolder.CANDIDATES, outcome.candidates)
        metrics = self._metrics(outcome, report, stage="final")
        b, k = report["baselines"], self.key
        metrics.update(baseline_name=b["headline"]["name"], baseline_note=b["headline"]["note"],
                       baseline_val_macro_f1=b["headline"].get("val_macro_f1"),
                       **{f"baseline_val_{k}": b["headline"][f"val_{k}"], f"probe_val_{k}": b["probe"][k],
                          f"{baselines.baseline_for(self.splits.modality).key}_val_{k}": b["own"][k]})
        if self.enc.test_x is not None:
            run.record("phase", phase="scoring the held-out test slice")
            self.clock.scoring(0.5)
            metrics.update(self._test(clf.proba_encoded(self.enc.test_x), outcome))
        if self.config.test_data:
            run.record("phase", phase="scoring the test file")
            self.clock.scoring(0.7)
            metrics.update(self._test_file(clf, metrics))
        self.clock.scoring(0.9)
        self._learning_curve(outcome)
        self.files.write(RunFolder.METRICS, metrics)
        k = self.key
        run.record("info", result={name: metrics.get(name) for name in (
            f"val_{k}", f"val_{k}_interval", "n_val", f"test_{k}", f"test_{k}_interval", "n_test",
            "baseline_name", f"baseline_val_{k}", "baseline_note", "chosen")}
            | {"cross_validated": outcome.validation == CROSS_VALIDATION, "validation_kind": outcome.validation})
        return metrics

    # ---- pieces ---------------------------------------------------------------------------------
    def _evaluated(self, outcome: Outcome) -> Dataset:
        ds = self.splits.val if outcome.validation == HOLDOUT else self.splits.train_and_val
        return ds.subset(outcome.rows) if outcome.rows is not None else ds

    def _report(self, outcome: Outcome) -> tuple[dict, Dataset]:
        evaluated = self._evaluated(outcome)
        if self.task.kind == tasks.SEVERAL:   # each label's threshold chosen on these examples, saved with the model
            self.thresholds["model"] = outcome.clf.thresholds = tasks.thresholds(outcome.probs, outcome.y)
        elif self.task.kind == tasks.ONE:     # "not sure" below the confidence chosen here: saved, applied to the test
            confidence, preds = outcome.probs.max(-1)
            self.unsure_below = outcome.clf.unsure_below = unsure.choose_threshold(
                confidence.numpy(), preds.numpy() == np.asarray(outcome.y))
        report = self._scored(outcome.probs, outcome.y, evaluated, self.thresholds.get("model"))
        if self.task.kind == tasks.NUMBER:    # the validation errors' spread: saved with the model for Try it
            outcome.clf.residual_interval = report["residual_interval"]
        report.update(validation=outcome.validation, cross_validated=outcome.validation == CROSS_VALIDATION)
        self.files.write(RunFolder.REPORT, report)
        return report, evaluated

    def _metrics(self, outcome: Outcome, report: dict, stage: str) -> dict:
        return {"stage": stage, "task": self.task.kind, **headline(report, "val"),
                "validation": validation_words(outcome), "validation_kind": outcome.validation,
                "chosen": outcome.kept, "recipe": outcome.recipe.to_dict() if outcome.recipe else None,
                f"first_model_val_{self.key}": outcome.first.get(self.key), "check": _plain(outcome.check),
                "train_seconds": round(outcome.train_seconds, 2), "best_epoch": outcome.best_epoch,
                "epochs_run": outcome.epochs_run, "used_prefix_cache": bool(self.run.info.get("used_cache")),
                "frozen_layers": outcome.clf.frozen_blocks, "n_blocks": outcome.clf.n_blocks,
                "status": outcome.status, "world_size": self.world_size, **unsure_numbers(report)}

    def _test(self, probs: torch.Tensor, outcome: Outcome | None = None) -> dict:
        """The held-out test slice: the model's numbers (and, at the end, the baselines')."""
        test = self.splits.test
        y = self.enc.test_y
        report = self._scored(probs, y, test, self.thresholds.get("model"))
        if outcome is not None:
            train = self.splits.train if outcome.validation == HOLDOUT else self.splits.train_and_val
            train_x = self.enc.train_x if outcome.validation == HOLDOUT else self.enc.train_x + self.enc.val_x
            train_y = self.enc.train_y if outcome.validation == HOLDOUT else self.enc.train_y + self.enc.val_y
            first = self.task.probs(outcome.probe.logits(self.enc.test_features)).numpy()
            own = self._fitted_baseline(train, train_x, train_y).proba(self._items(test, self.enc.test_x),
                                                                       len(self.classes))
            named = baselines.baseline_name(train.modality, y)
            report["baselines"] = {"probe": baselines.named(self.task.first_model, first, y, self.thresholds.get("probe")),
                                   "own": baselines.named(named, own, y, self.thresholds.get("own"))}
            if train.modality != "text":
                keep_example_images(self.run.dir, report, test, "test")
        self.files.write(RunFolder.TEST_REPORT, report)
        return {**headline(report, "test"), "test_source": "held-out slice"}

    def _scored(self, probs, y, ds: Dataset, thresholds=None) -> dict:
        return scored_report(self.task, self.classes, probs, y, ds, thresholds, self.unsure_below, self.scale)

    def _test_file(self, clf, metrics: dict) -> dict:
        ext = evaluate_file(clf, self.config.test_data, self.workdir / "test", text_column=self.config.text_column,
                            label_column=self.config.label_column, path_column=self.config.path_column,
                            limits=self.limits, what="test data", label_map=self.splits.label_map,
                            merge_similar=self.config.merge_similar_labels)
        self.files.write(RunFolder.TEST_FILE_REPORT, ext)
        out = headline(ext, "file_test")
        if f"test_{self.key}" not in metrics:
            out.update(headline(ext, "test"), test_source="test file")
        return out

    def _fitted_baseline(self, train: Dataset, train_x: list, train_y: list):
        """The modality's baseline fitted on these training examples, once: validation and the test
        slice are scored by the same fit (a TF-IDF fit is a second of a short run)."""
        key = (id(train), len(train_y))
        if self._baseline[0] != key:
            self._baseline = (key, baselines.baseline_for(train.modality)().fit(self._items(train, train_x), train_y))
        return self._baseline[1]

    @staticmethod
    def _items(ds: Dataset, encoded: list) -> list:
        """What a baseline reads: the texts themselves, or the decoded pictures."""
        return ds.items if ds.modality == "text" else encoded

    def _baselines(self, outcome: Outcome, evaluated: Dataset, report: dict) -> dict:
        """The first model and the modality's own baseline on the model's examples, the best of them
        as the headline, and whether it is ahead of the model by more than chance."""
        y, n_classes, modality, task = np.asarray(outcome.y), len(self.classes), self.splits.modality, self.task
        rows = outcome.rows if outcome.rows is not None else list(range(len(y)))
        first = np.asarray(outcome.first_probs)[rows]
        if outcome.validation == HOLDOUT:
            own = self._fitted_baseline(self.splits.train, self.enc.train_x, self.enc.train_y).proba(
                self._items(evaluated, self.enc.val_x), n_classes)
        else:
            all_ds = self.splits.train_and_val
            items = self._items(all_ds, self.enc.train_x + self.enc.val_x)
            all_y = self.enc.train_y + self.enc.val_y
            folds = folds_for(all_y, duplicate_groups(all_ds), self.config.seed) or []
            own = baselines.out_of_fold(modality, items, all_y, folds, n_classes)[rows]
        std = self.scale[1]   # a number: MAE and RMSE in the target's own unit
        out = {"probe": baselines.named(task.first_model, first, y, scale=std),
               "own": baselines.named(baselines.baseline_name(modality, y), own, y, scale=std)}
        if task.kind == tasks.NUMBER:   # the standardised training mean is 0
            out["mean"] = baselines.named("the training examples' mean", np.zeros((len(y), 1)), y, scale=std)
        self.thresholds.update({name: b["thresholds"] for name, b in out.items() if "thresholds" in b})
        best = max(out.values(), key=lambda b: b[self.key])
        test = selection.paired(best["correct"], task.correct(outcome.probs.numpy(), y, self.thresholds.get("model")))
        for b in out.values():
            b.pop("correct")
        note = words.baseline_note(report[self.key], best["name"], best[self.key], test, modality,
                                   self.language_flagged, task.score_name)
        out["headline"] = {"name": best["name"], **{f"val_{k}": best[k] for k in HEADLINE if k in best},
                           "paired_test": test, "note": note}
        return out

    def _data_check(self, outcome: Outcome) -> None:
        """label_issues.csv and cleaned_data.csv from the features training computed anyway. A
        problem here never fails the run."""
        from ftapp import quality

        data = self.splits.train_and_val
        if outcome.features is None or len(outcome.features) != len(data):
            return
        self.run.record("phase", phase="checking the labels")
        try:
            issues = quality.find_issues(outcome.features, data, classes=self.classes, groups=duplicate_groups(data),
                                         seed=self.config.seed,
                                         oof_probs=outcome.probe_oof if self.task.kind == tasks.ONE else None)
            quality.write_csv(issues, self.run.dir / RunFolder.LABEL_ISSUES)
            quality.write_cleaned(quality.shown_items(data), data.labels, data.origins, issues, self.run.dir / RunFolder.CLEANED_DATA,
                                  "text" if data.modality == "text" else "file")
            self.run.record("info", label_issues=sum(r["issue"] == "label" for r in issues),
                            near_duplicates=sum(r["issue"] == "near-duplicate" for r in issues))
        except Exception:  # noqa: BLE001
            log.exception("the label check of run %s failed", self.run.id)

    def _learning_curve(self, outcome: Outcome) -> None:
        if outcome.features is None:
            return
        y = self.enc.train_y + self.enc.val_y
        if outcome.validation == HOLDOUT:
            n = len(self.enc.train_y)
            parts = [(list(range(n)), list(range(n, len(y))))]
        else:
            parts = folds_for(y, duplicate_groups(self.splits.train_and_val), self.config.seed) or []
        if parts:
            self.files.write(RunFolder.LEARNING_CURVE,
                             learning_curve(outcome.features, y, parts, self.classes, self.config.seed,
                                            self.splits.modality))


def scored_report(task, classes: list[str], probs, y, ds: Dataset, thresholds=None, unsure_below: float = 0.0,
                  scale: tuple = (0.0, 1.0)) -> dict:
    """The report of a model on labelled examples, in its task's numbers (a number: in the target's
    own unit, from the standardised values the engine works in)."""
    if task.kind == tasks.NUMBER:
        mean, std = scale
        return number_report(np.asarray(y, dtype=float) * std + mean, tasks.Number.predicted(probs) * std + mean,
                             ds.items, ds.origins)
    if task.kind == tasks.SEVERAL:
        return multilabel_report(classes, y, probs, ds.items, ds.origins, thresholds)
    return evaluation_report(classes, y, probs, ds.items, ds.origins, unsure_below=unsure_below)


HEADLINE = ("accuracy", "micro_f1", "r2", "macro_f1", "balanced_accuracy", "subset_accuracy", "spearman", "mae", "rmse")


def headline(report: dict, prefix: str) -> dict:
    """A report's headline numbers as metrics.json names them: `prefix`_accuracy (or _micro_f1 …),
    n_`prefix` and the 95 % intervals."""
    out = {f"{prefix}_{k}": report[k] for k in HEADLINE if k in report} | {f"n_{prefix}": report["n"]}
    return out | {f"{prefix}_{k}_interval": v for k, v in report["interval"].items() if k != "n"}


def unsure_numbers(report: dict) -> dict:
    """The "not sure" threshold and what it does (one class per example only: ftapp/unsure.py)."""
    if "unsure" not in report:
        return {}
    u = report["unsure"]
    return {"unsure_below": u["threshold"], "unsure_coverage": u["coverage"], "unsure_answered_accuracy": u["accuracy"]}


def validation_words(outcome: Outcome) -> str:
    """What the validation numbers are measured on, in words."""
    if tasks.of(outcome.y).kind == tasks.SEVERAL:   # the examples chose each label's threshold, whatever else
        where = {CROSS_VALIDATION: "out-of-fold predictions of a k-fold cross-validation on all the examples",
                 HOLDOUT: "the validation split"}.get(outcome.validation, "the training examples themselves")
        return f"{where}, which chose each label's decision threshold (so somewhat optimistic)"
    if outcome.validation == CROSS_VALIDATION:
        return ("out-of-fold predictions of a k-fold cross-validation on all the examples" +
                ("; they also chose the length, so they are somewhat optimistic" if outcome.fine_tuned else ""))
    if outcome.validation == HOLDOUT:
        return ("the validation split, which chose the checkpoint and the settings (so somewhat optimistic)"
                if outcome.fine_tuned else "the validation split, which chose nothing for this model")
    return "the training examples themselves (too few to check on anything else), so optimistic"


def _plain(check: dict | None) -> dict | None:
    return None if check is None else {k: v for k, v in check.items()}


def keep_example_images(run_dir: Path, report: dict, ds: Dataset, prefix: str, n_examples: int = 24) -> None:
    """Copy the pictures or recordings the app shows (misclassified ones, or a number's largest
    errors, and for validation the try-it examples) into the run folder: uploads are temporary, the
    run is not."""
    out = run_dir / RunFolder.EXAMPLES
    out.mkdir(exist_ok=True)
    picks = spread(ds.labels, n_examples) if prefix == "val" else []
    wrong = report["misclassified"] if "misclassified" in report else report["largest_errors"]
    wanted = {w["item"] for w in wrong} | {ds.items[i] for i in picks}
    mapping = {}
    for i, src in enumerate(sorted(wanted)):
        dst = out / f"{prefix}-{i:04d}{Path(src).suffix.lower()}"
        shutil.copyfile(src, dst)
        mapping[src] = str(dst.relative_to(run_dir))
    for w in wrong:
        w["item"] = mapping[w["item"]]
    if prefix == "val":
        report["examples"] = [{"item": mapping[ds.items[i]], "label": ds.labels[i]} for i in picks]


def spread(labels: list[str], n: int = 24) -> list[int]:
    """Indices of up to n examples taking the classes in turn, so every class is represented."""
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    queues = list(by_class.values())
    picks = []
    while len(picks) < n and any(queues):
        for q in queues:
            if q and len(picks) < n:
                picks.append(q.pop(0))
    return picks
