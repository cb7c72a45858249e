"""One training run end to end: data → split → model → frozen pass → probe → train/choose →
evaluate → save.

Shared by the CLI and the app. Everything the user should know goes through `run.record`
(status, phase, progress, metrics); nothing here waits on a reader. Expected problems (bad data,
a model that cannot be loaded, divergence, out-of-memory) end the run with a plain message;
anything unexpected is written to error.log in the run folder and summarised in one line.
"""
from __future__ import annotations

from collections import Counter

import copy
import logging
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ftapp.data import Dataset, Limits, duplicate_groups, find_leaks, load_dataset, train_val_split
from ftapp.data.ingest import recheck
from ftapp.data.labels import apply_label_map, apply_row_edits, edit_labels
from ftapp.train import checkpoint
from ftapp.train.loop import ShutDown
from ftapp.evaluate import UnusableData, evaluate_file, evaluation_report, scores
from ftapp.models import ModelError, load_pretrained
from ftapp.runs import Run, RunFolder
from ftapp.train.auto import PROBE, Outcome, Training
from ftapp.train.config import TrainConfig
from ftapp.train.device import describe_device, pick_device, release, resolve_precision

log = logging.getLogger("ftapp")

MIN_TEST_PER_CLASS = 30     # below this, no test slice: the numbers are validation numbers, and say so
IMBALANCE = 3.0             # class weights (auto) when the largest class has this many times the smallest


class RunFailed(Exception):
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


def prepare_data(config: TrainConfig, workdir: Path, limits: Limits) -> Splits:
    """Load, check and split the data (grouped: identical examples stay on one side); raise
    RunFailed with the report's errors when unusable."""
    ds, report = load_dataset(config.data, workdir=workdir / "data", text_column=config.text_column,
                              label_column=config.label_column, path_column=config.path_column, limits=limits)
    if not report.ok:
        raise RunFailed("The data cannot be used: " + " ".join(str(p) for p in report.errors))
    ds, report, label_map = _edit_classes(config, ds, report)
    reports = {"train": report.to_dict(), "summary": report.summary()}
    warnings = [str(p) for p in report.warnings]
    from_report = len(warnings)
    test = None
    counts = [ds.labels.count(c) for c in ds.classes]
    if config.test_fraction > 0 and not config.val_data and min(counts) >= MIN_TEST_PER_CLASS:
        rest, test, _ = train_val_split(ds, config.test_fraction, config.seed + 1)
        ds = rest
    if config.val_data:
        val, vreport = load_dataset(config.val_data, workdir=workdir / "val", modality=ds.modality,
                                    text_column=config.text_column, label_column=config.label_column,
                                    path_column=config.path_column, limits=limits)
        reports["validation"] = vreport.to_dict()
        if not vreport.ok:
            raise RunFailed("The validation data cannot be used: " + " ".join(str(p) for p in vreport.errors))
        val = apply_label_map(val, label_map, config.merge_similar_labels, ds.classes)
        unknown = sorted(set(val.labels) - set(ds.labels))
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
    """The user's class edits (rename / merge / drop, similar-label merges, small classes), applied
    before anything is split; the report is redone on the edited classes."""
    if not (config.label_map or config.merge_similar_labels or config.min_examples or config.row_edits):
        return ds, report, {}
    ds, matched = apply_row_edits(ds, config.row_edits)
    edited, mapping = edit_labels(ds, config.label_map, config.merge_similar_labels, config.min_examples)
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


def configure_model(config: TrainConfig, classes: list[str], modality: str, allow_local_paths: bool):
    torch.manual_seed(config.seed)   # the new head's initial weights are part of a seeded run
    clf = load_pretrained(config.model, classes, modality=modality, allow_local_paths=allow_local_paths,
                          pooling=config.pooling)
    if config.dropout is not None:
        clf.set_dropout(config.dropout)
    if modality == "text":
        clf.preprocess.max_length = config.max_length
    else:
        clf.preprocess.set_augmentation(hflip=config.hflip)
    return clf


def class_weights(config: TrainConfig, labels: list[str], classes: list[str]) -> torch.Tensor | None:
    """Inverse-frequency weights, mean 1 (scikit-learn's "balanced"), when asked or when auto and
    the classes are unbalanced."""
    counts = torch.tensor([labels.count(c) for c in classes], dtype=torch.float)
    if config.class_weights == "off" or (config.class_weights == "auto" and counts.max() < IMBALANCE * counts.min()):
        return None
    return counts.sum() / (len(classes) * counts.clamp_min(1))


def execute(config: TrainConfig, run: Run, *, workdir: str | os.PathLike | None = None,
            limits: Limits = Limits(), allow_local_paths: bool = True, resume: bool = False) -> None:
    """Train as `config` says, recording everything on `run`. Never raises. `resume`: go on from
    the run's checkpoint when it has one (a run cut off by a restart or SIGTERM)."""
    emit = run.record
    workdir = Path(workdir or run.dir / "work")
    device = pick_device()
    run.device = describe_device(device)
    emit("status", status="running", message="")
    started = time.time()
    try:
        if config.problems():
            raise RunFailed(" ".join(config.problems()))
        emit("phase", phase="preparing data")
        splits = prepare_data(config, workdir, limits)
        files = run.files
        files.write(RunFolder.DATA_REPORT, splits.reports)
        if splits.label_map:   # the class edits as applied: settings.json, the card and evaluation read them
            run.amend_settings(label_map=splits.label_map)
        train, val, test = splits.train, splits.val, splits.test
        classes = train.classes
        weights = class_weights(config, train.labels, classes)
        if weights is not None:
            splits.warnings.append("The classes are unbalanced: rare classes weigh more in training (class "
                                   "weights), and balanced accuracy is reported beside accuracy.")
        emit("info", n_train=len(train), n_val=len(val), n_test=len(test) if test else 0, classes=classes,
             warnings=splits.warnings, split_warnings=splits.split_warnings, data_summary=splits.reports["summary"],
             class_weights=weights is not None)

        emit("phase", phase="loading model")
        clf = configure_model(config, classes, train.modality, allow_local_paths)
        if train.modality == "text":
            from ftapp.models.fit import language_warning, tokenizer_fit

            fit = tokenizer_fit(clf.preprocess.tokenizer, train.items, seed=config.seed)
            warning = language_warning(config.model, fit)
            if warning:
                splits.warnings.append(warning)
                files.write(RunFolder.DATA_REPORT, splits.reports)
            emit("info", language=fit, language_warning=warning)
        precision = resolve_precision(config.precision, device)
        emit("settings", precision=precision, seed=config.seed, workers=_workers(config, train.modality),
             batch_size=config.batch_size)
        emit("info", n_blocks=clf.n_blocks, total_params=sum(p.numel() for p in clf.model.parameters()),
             device=run.device, head=clf.kind)

        emit("phase", phase="reading images" if train.modality == "image" else "tokenizing")
        index = {c: i for i, c in enumerate(classes)}
        train_x, val_x = clf.preprocess.encode(train.items), clf.preprocess.encode(val.items)
        train_y, val_y = [index[l] for l in train.labels], [index[l] for l in val.labels]
        deadline = started + 60 * config.time_budget
        test_x = clf.preprocess.encode(test.items) if test is not None else None
        test_features = _pretrained_features(clf, test_x, device, precision) if test is not None else None

        state = checkpoint.load(run.dir) if resume else None
        began = started
        if state is not None:   # the time budget goes on too: what the first attempt used is spent
            began = time.time() - state.get("elapsed", 0)
            deadline = began + 60 * config.time_budget
        outcome = _train_with_oom_retry(clf, config, device, precision, run, weights, deadline,
                                        train_x, train_y, val_x, val_y, train, val, state, began)
        emit("settings", **_effective(outcome, clf))
        k = clf.frozen_blocks
        trainable = sum(p.numel() for p in clf.model.parameters() if p.requires_grad)
        emit("info", frozen_layers=k, trainable_params=trainable, freezing=clf.freezing_summary(),
             train_seconds=round(outcome.train_seconds, 2), chosen=outcome.chosen)

        _check_labels(run, config, outcome, _concat(train, val), classes)
        emit("phase", phase="evaluating")
        evaluated = _concat(train, val) if outcome.cross_validated or outcome.on_training_data else val
        report = evaluation_report(classes, outcome.val_y, outcome.val_probs, evaluated.items, evaluated.origins)
        report["cross_validated"] = outcome.cross_validated
        baselines = _baselines(clf, config, outcome, train, train_y, evaluated, index)
        report["baselines"] = baselines
        if train.modality == "image":
            _keep_example_images(run.dir, report, evaluated, "val")
        else:
            report["examples"] = [{"item": evaluated.items[i], "label": evaluated.labels[i]}
                                  for i in _spread(evaluated.labels)]
        emit("phase", phase="saving")
        save_model(clf, run.dir)
        files.write(RunFolder.REPORT, report)
        files.write(RunFolder.CANDIDATES, outcome.candidates)
        metrics = {"val_accuracy": report["accuracy"], "val_macro_f1": report["macro_f1"],
                   "val_balanced_accuracy": report["balanced_accuracy"], "validation": _validation_kind(outcome),
                   "chosen": outcome.chosen, "recipe": outcome.recipe.to_dict() if outcome.recipe else None,
                   "train_seconds": round(outcome.train_seconds, 2), "best_epoch": outcome.best_epoch,
                   "epochs_run": outcome.epochs_run, "used_prefix_cache": bool(run.info.get("used_cache")),
                   "frozen_layers": k, "n_blocks": clf.n_blocks, "status": outcome.status,
                   **{f"baseline_{m}": v for m, v in baselines.get("headline", {}).items()},
                   "probe_val_accuracy": baselines["probe"]["accuracy"],
                   "tfidf_val_accuracy": baselines.get("tfidf", {}).get("accuracy")}
        if test is not None:
            emit("phase", phase="scoring the held-out test slice")
            test_report = evaluation_report(classes, [index[l] for l in test.labels], clf.proba_encoded(test_x),
                                            test.items, test.origins)
            test_report["baselines"] = _test_baselines(outcome, test_features, train, train_y, test, index)
            if train.modality == "image":
                _keep_example_images(run.dir, test_report, test, "test")
            files.write(RunFolder.TEST_REPORT, test_report)
            metrics.update(test_accuracy=test_report["accuracy"], test_macro_f1=test_report["macro_f1"],
                           test_balanced_accuracy=test_report["balanced_accuracy"], n_test=test_report["n"],
                           test_source="held-out slice")
        if config.test_data:
            emit("phase", phase="scoring the test file")
            ext = evaluate_file(clf, config.test_data, workdir / "test", text_column=config.text_column,
                                label_column=config.label_column, path_column=config.path_column,
                                limits=limits, what="test data", label_map=splits.label_map,
                                merge_similar=config.merge_similar_labels)
            files.write(RunFolder.TEST_FILE_REPORT, ext)
            metrics.update(file_test_accuracy=ext["accuracy"], file_test_macro_f1=ext["macro_f1"], n_file_test=ext["n"])
            if test is None:
                metrics.update(test_accuracy=ext["accuracy"], test_macro_f1=ext["macro_f1"], n_test=ext["n"],
                               test_source="test file")
        metrics["baseline_note"] = _baseline_note(metrics, baselines, train.modality)
        files.write(RunFolder.METRICS, metrics)
        emit("info", result={k: metrics.get(k) for k in ("val_accuracy", "test_accuracy", "n_test", "baseline_name",
                                                         "baseline_val_accuracy", "baseline_note", "chosen")}
             | {"cross_validated": outcome.cross_validated})
        status = outcome.status
        emit("phase", phase=status)
        emit("status", status=status, message=outcome.message, has_model=True)
    except ShutDown:   # the process is going away: the checkpoint stays, the run resumes after a restart
        emit("phase", phase="paused: the app is restarting")
        return
    except (RunFailed, ModelError, UnusableData) as exc:
        _fail(run, str(exc))
    except MemoryError:
        _fail(run, "The computer ran out of memory. Try a smaller batch size, a smaller model, or fewer images.")
    except OSError as exc:
        _fail(run, f"Could not write the results ({exc.strerror or exc}). Free some disk space and try again.")
    except Exception as exc:  # noqa: BLE001 — the run must end with a status, whatever happened
        (run.dir / RunFolder.ERROR_LOG).write_text(traceback.format_exc())
        log.exception("run %s failed", run.id)
        _fail(run, f"Training failed unexpectedly: {str(exc)[:300]}. Details are in error.log in the run folder.")
    finally:
        release(device)
        if run.ended:
            checkpoint.remove(run.dir)
        if workdir.is_relative_to(run.dir):   # a caller's own workdir is the caller's to remove
            shutil.rmtree(workdir, ignore_errors=True)


def _check_labels(run: Run, config: TrainConfig, outcome: Outcome, data: Dataset, classes: list[str]) -> None:
    """label_issues.csv (likely label errors, near-duplicates with other labels, outliers) and
    cleaned_data.csv (the suggested labels applied) from the features training computed anyway.
    A problem here never fails the run."""
    from ftapp import quality

    if outcome.features is None or len(outcome.features) != len(data):
        return
    run.record("phase", phase="checking the labels")
    try:
        shown = data.items if data.modality == "text" else [os.path.basename(p) for p in data.items]
        issues = quality.find_issues(outcome.features, data.labels, classes, data.origins, shown,
                                     groups=duplicate_groups(data), seed=config.seed)
        quality.write_csv(issues, run.dir / RunFolder.LABEL_ISSUES)
        quality.write_cleaned(shown, data.labels, data.origins, issues, run.dir / RunFolder.CLEANED_DATA,
                              "text" if data.modality == "text" else "file")
        run.record("info", label_issues=sum(r["issue"] == "label" for r in issues),
                   near_duplicates=sum(r["issue"] == "near-duplicate" for r in issues))
    except Exception:  # noqa: BLE001
        log.exception("the label check of run %s failed", run.id)


def _pretrained_features(clf, encoded, device, precision) -> torch.Tensor:
    """What the head of the pre-trained model reads, for examples scored later (the probe's test)."""
    from ftapp.train.device import autocast
    from ftapp.train.prefix_cache import compute_states

    clf.model.to(device)
    return compute_states(clf, encoded, [], 64, device, autocast=autocast(precision, device),
                          head_inputs=True).head_inputs


def _fail(run: Run, message: str) -> None:
    run.record("phase", phase="failed")
    run.record("status", status="failed", message=message)


def _workers(config: TrainConfig, modality: str) -> int:
    from ftapp.train.loop import augment_workers

    return augment_workers() if config.augment and modality == "image" else 0


def _effective(outcome: Outcome, clf) -> dict:
    if outcome.recipe is None:
        return {"frozen_layers": clf.n_blocks, "method": "probe", "lr": None}
    return outcome.recipe.to_dict_settings()


def _validation_kind(outcome: Outcome) -> str:
    if outcome.on_training_data:
        return "the training examples themselves (too few to check on anything else), so optimistic"
    if outcome.cross_validated:
        return ("out-of-fold predictions of a k-fold cross-validation on all the examples; they also chose "
                "the length and the method, so they are somewhat optimistic")
    return "the validation split, which chose the checkpoint and the settings (so somewhat optimistic)"


def _concat(a: Dataset, b: Dataset) -> Dataset:
    return Dataset(a.modality, a.items + b.items, a.labels + b.labels, a.origins + b.origins)


def _train_with_oom_retry(clf, config, device, precision, run, weights, deadline, train_x, train_y, val_x, val_y,
                          train: Dataset, val: Dataset, resume: dict | None = None,
                          started: float | None = None) -> Outcome:
    """On GPU out-of-memory, start again from the pre-trained weights with half the batch size."""
    initial = {k: v.detach().clone() for k, v in clf.model.state_dict().items()}
    groups = duplicate_groups(_concat(train, val))
    while True:
        try:
            training = Training(clf, config, device, precision, run.record, run.stop_event, deadline, weights,
                                on_best=_checkpointer(run), on_checkpoint=checkpoint.writer(run, started),
                                shutdown_event=run.shutdown_event, resume=resume)
            return training.run(train_x, train_y, val_x, val_y, groups)
        except torch.cuda.OutOfMemoryError:
            if config.batch_size <= 1:
                raise RunFailed("The GPU ran out of memory even with batch size 1. Pick a smaller model.") from None
            config.batch_size //= 2
            run.record("info", notice=f"The GPU ran out of memory; retrying with batch size {config.batch_size}.")
            run.record("settings", batch_size=config.batch_size)
            clf.model.load_state_dict(initial)
            release(device)


def _baselines(clf, config, outcome: Outcome, train: Dataset, train_y, evaluated: Dataset, index) -> dict:
    """Frozen features + logistic regression (always) and, for text, TF-IDF + logistic regression,
    scored on the same examples as the model (cross-validated when the model was)."""
    y = [index[l] for l in evaluated.labels]
    out = {"probe": _named(PROBE, outcome.probe_val)}
    if clf.modality == "text":
        out["tfidf"] = _tfidf_scores(config, train.items, train_y, evaluated, y, len(index), outcome)
    best = max((v for v in out.values()), key=lambda b: b["accuracy"])
    out["headline"] = {"val_accuracy": best["accuracy"], "val_macro_f1": best["macro_f1"], "name": best["name"]}
    return out


def _named(name: str, m: dict) -> dict:
    return {"name": name, "accuracy": m["val_accuracy"], "macro_f1": m["val_macro_f1"],
            "balanced_accuracy": m.get("val_balanced_accuracy")}


def _tfidf_scores(config, train_items, train_y, evaluated: Dataset, y, n_classes: int, outcome: Outcome) -> dict:
    from ftapp.train.baselines import predict_proba, tfidf_baseline

    if outcome.cross_validated:   # out-of-fold, like the model's numbers
        import numpy as np
        from ftapp.train.probe import folds_for

        folds = folds_for(np.asarray(y), duplicate_groups(evaluated), config.seed)
        probs = np.zeros((len(y), n_classes))
        for tr, te in folds or []:
            m = tfidf_baseline([evaluated.items[i] for i in tr], [y[i] for i in tr])
            probs[te] = predict_proba(m, [evaluated.items[i] for i in te], n_classes)
    else:
        probs = predict_proba(tfidf_baseline(train_items, train_y), evaluated.items, n_classes)
    s = scores(y, probs.argmax(1).tolist())
    return {"name": "TF-IDF + logistic regression", **s}


def _test_baselines(outcome: Outcome, test_features, train: Dataset, train_y, test: Dataset, index) -> dict:
    """The same baselines on the held-out test slice (the probe on the pre-trained model's features)."""
    y = [index[l] for l in test.labels]
    probe = outcome.probe.logits(test_features).argmax(-1).tolist()
    out = {"probe": {"name": PROBE, **scores(y, probe)}}
    if train.modality == "text":
        from ftapp.train.baselines import predict_proba, tfidf_baseline

        probs = predict_proba(tfidf_baseline(train.items, train_y), test.items, len(index))
        out["tfidf"] = {"name": "TF-IDF + logistic regression", **scores(y, probs.argmax(1).tolist())}
    return out


def _baseline_note(metrics: dict, baselines: dict, modality: str) -> str:
    """A plain line when the fine-tuned model does not beat the best baseline, with what to try."""
    best = baselines["headline"]
    if metrics["val_accuracy"] >= best["val_accuracy"] - 1e-9 or metrics["chosen"] == "probe" and \
            best["name"] == PROBE:
        return ""
    what = ("The model may not fit the texts' language or kind: try a multilingual model (e.g. "
            "intfloat/multilingual-e5-small), more examples per class, or a longer time budget."
            if modality == "text" else "Try another model, more pictures per class, or augmentation.")
    return (f"The baseline ({best['name']}) scored {best['val_accuracy']:.3f} on the same examples, above the "
            f"model's {metrics['val_accuracy']:.3f}. {what}")


def _checkpointer(run: Run, every_seconds: float = 60.0):
    """Save the best checkpoint's model at most once a minute, so a run cut off by a crash or a
    restart keeps a usable model, while short runs pay nothing (the final save covers them)."""
    last = {"t": time.time()}

    def save_best(clf) -> None:
        if time.time() - last["t"] < every_seconds:
            return
        snapshot = copy.copy(clf)
        snapshot.model = copy.deepcopy(clf.model).cpu()   # merging LoRA must not touch the live model
        try:
            save_model(snapshot, run.dir)
        except OSError:
            return   # a failed checkpoint is not fatal; the final save reports disk problems
        last["t"] = time.time()
        run.record("status", status=run.status, has_model=True)

    return save_best


def save_model(clf, run_dir: Path) -> None:
    """Write into a temporary folder, then move the files in: a failure (disk full) leaves the
    previous model, if any, intact."""
    tmp = run_dir / ".model-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        clf.save(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for f in tmp.iterdir():
        target = run_dir / f.name
        if target.is_dir() and f.is_dir():
            shutil.rmtree(target)
        os.replace(f, target)
    tmp.rmdir()


def _keep_example_images(run_dir: Path, report: dict, ds: Dataset, prefix: str, n_examples: int = 24) -> None:
    """Copy the pictures the app shows (misclassified ones, and for validation the try-it
    examples) into the run folder: uploads are temporary, the run is not."""
    out = run_dir / RunFolder.EXAMPLES
    out.mkdir(exist_ok=True)
    picks = _spread(ds.labels, n_examples) if prefix == "val" else []
    wanted = {w["item"] for w in report["misclassified"]} | {ds.items[i] for i in picks}
    mapping = {}
    for i, src in enumerate(sorted(wanted)):
        dst = out / f"{prefix}-{i:04d}{Path(src).suffix.lower()}"
        shutil.copyfile(src, dst)
        mapping[src] = str(dst.relative_to(run_dir))
    for w in report["misclassified"]:
        w["item"] = mapping[w["item"]]
    if prefix == "val":
        report["examples"] = [{"item": mapping[ds.items[i]], "label": ds.labels[i]} for i in picks]


def _spread(labels: list[str], n: int = 24) -> list[int]:
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
