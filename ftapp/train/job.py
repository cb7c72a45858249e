"""One training run end to end: data → model → freeze → fit → evaluate → save.

Shared by the CLI and the app. Everything the user should know goes through `run.record`
(status, phase, progress, metrics); nothing here waits on a reader. Expected problems (bad data,
a model that cannot be loaded, divergence, out-of-memory) end the run with a plain message;
anything unexpected is written to error.log in the run folder and summarised in one line.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import time
import traceback
from pathlib import Path

import torch

from ftapp.data import Dataset, Limits, find_leaks, load_dataset, train_val_split
from ftapp.evaluate import UnusableData, evaluate_file, evaluation_report
from ftapp.models import ModelError, default_frozen_layers, load_pretrained
from ftapp.runs import Run, RunFolder
from ftapp.train.config import TrainConfig, default_lr
from ftapp.train.device import describe_device, pick_device, release
from ftapp.train.loop import Fitter, trainable_state

log = logging.getLogger("ftapp")


class RunFailed(Exception):
    """Ends a run with a message for the user."""


def prepare_data(config: TrainConfig, workdir: Path, limits: Limits) -> tuple[Dataset, Dataset, dict]:
    """Load, check and split the data; raise RunFailed with the report's errors when unusable."""
    ds, report = load_dataset(config.data, workdir=workdir / "data", text_column=config.text_column,
                              label_column=config.label_column, path_column=config.path_column, limits=limits)
    reports = {"train": report.to_dict(), "summary": report.summary()}
    if not report.ok:
        raise RunFailed("The data cannot be used: " + " ".join(str(p) for p in report.errors))
    warnings = [str(p) for p in report.warnings]
    if config.val_data:
        val, vreport = load_dataset(config.val_data, workdir=workdir / "val", modality=ds.modality,
                                    text_column=config.text_column, label_column=config.label_column,
                                    path_column=config.path_column, limits=limits)
        reports["validation"] = vreport.to_dict()
        if not vreport.ok:
            raise RunFailed("The validation data cannot be used: " + " ".join(str(p) for p in vreport.errors))
        unknown = sorted(set(val.labels) - set(ds.labels))
        if unknown:
            raise RunFailed(f"The validation data has classes the training data lacks: {', '.join(unknown)}. "
                            "Add training examples for them or remove them from the validation file.")
        train = ds
    else:
        train, val, problems = train_val_split(ds, config.val_fraction, config.seed)
        warnings += [str(p) for p in problems]
    warnings += [str(p) for p in find_leaks(train, val)]
    reports["warnings"] = warnings
    return train, val, reports


def configure_model(config: TrainConfig, classes: list[str], modality: str, allow_local_paths: bool):
    torch.manual_seed(config.seed)   # the new head's initial weights are part of a seeded run
    clf = load_pretrained(config.model, classes, modality=modality, allow_local_paths=allow_local_paths)
    k = config.frozen_layers
    if k is None:
        k = default_frozen_layers(clf.n_blocks, modality)
    clf.freeze(k)
    if config.method == "lora":
        clf.add_lora(r=config.lora_r)
    if config.dropout is not None:
        clf.set_dropout(config.dropout)
    if modality == "text":
        clf.preprocess.max_length = config.max_length
    return clf


def execute(config: TrainConfig, run: Run, *, workdir: str | os.PathLike | None = None,
            limits: Limits = Limits(), allow_local_paths: bool = True) -> None:
    """Train as `config` says, recording everything on `run`. Never raises."""
    emit = run.record
    workdir = Path(workdir or run.dir / "work")
    device = pick_device()
    run.device = describe_device(device)
    emit("status", status="running", message="")
    try:
        if config.problems():
            raise RunFailed(" ".join(config.problems()))
        emit("phase", phase="preparing data")
        train, val, reports = prepare_data(config, workdir, limits)
        files = run.files
        files.write(RunFolder.DATA_REPORT, reports)
        classes = train.classes
        emit("info", n_train=len(train), n_val=len(val), classes=classes, warnings=reports["warnings"],
             data_summary=reports["summary"])

        emit("phase", phase="loading model")
        config.lr = config.lr or default_lr(train.modality)
        clf = configure_model(config, classes, train.modality, allow_local_paths)
        config.frozen_layers = clf.frozen_blocks
        emit("settings", lr=config.lr, frozen_layers=clf.frozen_blocks, batch_size=config.batch_size,
             method=config.method)
        trainable, total = clf.param_counts()
        emit("info", n_blocks=clf.n_blocks, frozen_layers=clf.frozen_blocks, trainable_params=trainable,
             total_params=total, freezing=clf.freezing_summary(), lr=config.lr, device=run.device)

        emit("phase", phase="reading images" if train.modality == "image" else "tokenizing")
        index = {c: i for i, c in enumerate(classes)}
        train_x, val_x = clf.preprocess.encode(train.items), clf.preprocess.encode(val.items)
        train_y, val_y = [index[l] for l in train.labels], [index[l] for l in val.labels]

        result = _fit_with_oom_retry(clf, config, device, run, train_x, train_y, val_x, val_y)
        emit("info", train_seconds=round(result.train_seconds, 2))
        if result.best_epoch is None:    # diverged before the first validation: nothing worth keeping
            raise RunFailed(result.message)

        emit("phase", phase="evaluating")
        report = evaluation_report(classes, val_y, result.val_probs, val.items, val.origins)
        if train.modality == "image":
            _keep_example_images(run.dir, report, val)
        else:
            report["examples"] = [{"item": val.items[i], "label": val.labels[i]} for i in _spread(val.labels)]
        emit("phase", phase="saving")
        save_model(clf, run.dir)
        files.write(RunFolder.REPORT, report)
        metrics = {"val_accuracy": report["accuracy"], "val_macro_f1": report["macro_f1"],
                   "train_seconds": round(result.train_seconds, 2), "best_epoch": result.best_epoch,
                   "epochs_run": result.epochs_run, "used_prefix_cache": result.used_cache,
                   "frozen_layers": clf.frozen_blocks, "n_blocks": clf.n_blocks, "status": result.status}
        if config.test_data:
            emit("phase", phase="scoring the test file")
            test = evaluate_file(clf, config.test_data, workdir / "test", text_column=config.text_column,
                                 label_column=config.label_column, path_column=config.path_column,
                                 limits=limits, what="test data")
            files.write(RunFolder.TEST_REPORT, test)
            metrics.update(test_accuracy=test["accuracy"], test_macro_f1=test["macro_f1"], n_test=test["n"])
        files.write(RunFolder.METRICS, metrics)
        status = {"finished": "finished", "stopped": "stopped", "diverged": "failed"}[result.status]
        emit("phase", phase=status)
        emit("status", status=status, message=result.message, has_model=True)
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
        if workdir.is_relative_to(run.dir):   # a caller's own workdir is the caller's to remove
            shutil.rmtree(workdir, ignore_errors=True)


def _fail(run: Run, message: str) -> None:
    run.record("phase", phase="failed")
    run.record("status", status="failed", message=message)


def _fit_with_oom_retry(clf, config, device, run, train_x, train_y, val_x, val_y):
    """On GPU out-of-memory, start again from the pre-trained weights with half the batch size."""
    initial = trainable_state(clf.model)
    while True:
        try:
            return Fitter(clf, config, device, run.record, run.stop_event,
                          on_best=_checkpointer(run)).fit(train_x, train_y, val_x, val_y)
        except torch.cuda.OutOfMemoryError:
            if config.batch_size <= 1:
                raise RunFailed("The GPU ran out of memory even with batch size 1. Pick a smaller model.") from None
            config.batch_size //= 2
            run.record("info", notice=f"The GPU ran out of memory; retrying with batch size {config.batch_size}.")
            run.record("settings", batch_size=config.batch_size)
            clf.model.load_state_dict(initial, strict=False)
            release(device)


def _checkpointer(run: Run, every_seconds: float = 60.0):
    """Save the best epoch's model at most once a minute, so a run cut off by a crash or a
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
        os.replace(f, run_dir / f.name)
    tmp.rmdir()


def _keep_example_images(run_dir: Path, report: dict, val: Dataset, n_examples: int = 24) -> None:
    """Copy the validation images the app shows (misclassified ones, try-it examples) into the run
    folder: uploads are temporary, the run is not."""
    out = run_dir / RunFolder.EXAMPLES
    out.mkdir(exist_ok=True)
    picks = _spread(val.labels, n_examples)
    wanted = {w["item"] for w in report["misclassified"]} | {val.items[i] for i in picks}
    mapping = {}
    for i, src in enumerate(sorted(wanted)):
        dst = out / f"{i:04d}{Path(src).suffix.lower()}"
        shutil.copyfile(src, dst)
        mapping[src] = str(dst.relative_to(run_dir))
    for w in report["misclassified"]:
        w["item"] = mapping[w["item"]]
    report["examples"] = [{"item": mapping[val.items[i]], "label": val.labels[i]} for i in picks]


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
