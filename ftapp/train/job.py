"""One training run end to end: data → model → encoded examples → training (the first model, then
fine-tuning) → results → saved model.

Shared by the CLI, the app's worker and `torchrun`. Everything the user should know goes through
`run.record` (status, phase, progress, metrics); nothing here waits on a reader. Expected problems
(bad data, a model that cannot be loaded, divergence, out-of-memory) end the run with a plain
message; anything unexpected is written to error.log in the run folder and summarised in one line.
"""
from __future__ import annotations

import logging
import os
import shutil
import traceback
from pathlib import Path

import torch

from ftapp.data import Limits, duplicate_groups
from ftapp.errors import UserFacingError
from ftapp.runs import Run, RunFolder, Status
from ftapp.server_load import follow_server
from ftapp.train import checkpoint
from ftapp.train.config import TrainConfig
from ftapp.train.device import describe_device, pick_device, release, resolve_precision
from ftapp.train.distributed import SINGLE, Distributed
from ftapp.train.loop import ShutDown
from ftapp.train.prepared import Encoded
from ftapp.train.progress import Budget, Clock
from ftapp.train.results import Results
from ftapp.train.setup import check_language, class_weights, configure_model, encode
from ftapp.train.splits import RunFailed, Splits, prepare_data
from ftapp.train.training import Outcome, Training

log = logging.getLogger("ftapp")


def execute(config: TrainConfig, run: Run, *, workdir: str | os.PathLike | None = None,
            limits: Limits = Limits(), allow_local_paths: bool = True, resume: bool = False,
            dist: Distributed = SINGLE) -> None:
    """Train as `config` says, recording everything on `run`. Never raises. `resume`: go on from
    the run's checkpoint when it has one (a run cut off by a restart or SIGTERM). `dist`: this
    process's place among several training one run (torchrun); only rank 0 writes results."""
    emit = run.record
    workdir = Path(workdir or run.dir / "work")
    device = dist.start(pick_device())
    run.device = describe_device(device) + (f", {dist.world} processes" if dist.active else "")
    emit("status", status=Status.RUNNING, message="")
    emit("info", device=run.device)
    state = dist.broadcast(checkpoint.load(run.dir) if resume and dist.main else None)
    budget = Budget(config.time_budget, started=None if state is None else checkpoint.started(state))
    clock = Clock(emit, budget)
    follow_server()   # started by the app: steps and batches wait while its server is busy
    try:
        if config.problems():
            raise RunFailed(" ".join(config.problems()))
        emit("phase", phase="preparing data")
        splits = prepare_data(config, workdir, limits)
        weights = class_weights(config, splits.train.labels, splits.classes, splits.train.separator,
                                splits.train.numeric)
        record_data(run, splits, weights)
        emit("phase", phase="loading model")
        clf = configure_model(config, splits.classes, splits.modality, allow_local_paths, splits.task)
        flagged = check_language(run, config, clf, splits)
        precision = resolve_precision(config.precision, device)
        emit("settings", precision=precision, seed=config.seed, workers=_workers(config, splits.modality),
             batch_size=config.batch_size)
        emit("info", n_blocks=clf.n_blocks, total_params=sum(p.numel() for p in clf.model.parameters()),
             head=clf.kind)
        emit("phase", phase={"image": "reading images", "audio": "reading recordings"}.get(splits.modality, "tokenizing"))
        enc = encode(clf, splits, device, precision, dist)
        training = Training(clf, config, device, precision, emit, run.stop_event, budget, clock, weights,
                            shutdown_event=run.shutdown_event, resume=state, dist=dist)
        results = Results(run, config, splits, enc, clock, workdir, limits, flagged, dist.world, clf.target_scale)
        if dist.main:   # the other ranks train alongside and write nothing
            training.add_callback("first_model", lambda _t, outcome: results.first(outcome))
            training.add_callback("best", lambda _t, fitter: results.checkpoint_model(fitter.clf))
            training.add_callback("checkpoint", checkpoint.writer(run, budget.started))
        outcome = train_with_oom_retry(training, run, config, enc, splits)
        emit("settings", **effective_settings(outcome))
        emit("info", frozen_layers=outcome.clf.frozen_blocks, freezing=outcome.clf.freezing_summary(),
             trainable_params=outcome.clf.param_counts()[0], train_seconds=round(outcome.train_seconds, 2),
             chosen=outcome.kept)
        if dist.main:
            results.final(outcome)
        clock.finish()
        emit("phase", phase=outcome.status)
        emit("status", status=outcome.status, message=outcome.message, has_model=True)
    except ShutDown:   # the process is going away: the checkpoint stays, the run resumes after a restart
        emit("phase", phase="paused: the app is restarting")
        return
    except UserFacingError as exc:
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
        dist.close()
        if run.ended:
            checkpoint.remove(run.dir)
        if workdir.is_relative_to(run.dir):   # a caller's own workdir is the caller's to remove
            shutil.rmtree(workdir, ignore_errors=True)


def record_data(run: Run, splits: Splits, weights) -> None:
    run.files.write(RunFolder.DATA_REPORT, splits.reports)
    if splits.label_map:   # the class edits as applied: settings.json, the card and evaluation read them
        run.amend_settings(label_map=splits.label_map)
    if weights is not None:
        splits.warnings.append("The classes are unbalanced: rare classes weigh more in training (class "
                               "weights), and balanced accuracy is reported beside accuracy.")
    test = splits.test
    run.record("info", n_train=len(splits.train), n_val=len(splits.val), n_test=len(test) if test else 0,
               classes=splits.classes, warnings=splits.warnings, split_warnings=splits.split_warnings,
               data_summary=splits.reports["summary"], class_weights=weights is not None)


def train_with_oom_retry(training: Training, run: Run, config: TrainConfig, enc: Encoded, splits: Splits) -> Outcome:
    """On GPU out-of-memory, start again from the pre-trained weights with half the batch size."""
    groups = duplicate_groups(splits.train_and_val)
    while True:
        try:
            return training.run(enc.train_x, enc.train_y, enc.val_x, enc.val_y, groups)
        except torch.cuda.OutOfMemoryError:
            if training.dist.active:    # the other ranks are inside a collective: a lone retry would hang them
                raise RunFailed(f"GPU {training.dist.local_rank} ran out of memory. Try a smaller batch size "
                                "(--batch-size) or fewer GPUs per run.") from None
            if config.batch_size <= 1:
                raise RunFailed("The GPU ran out of memory even with batch size 1. Pick a smaller model.") from None
            config.batch_size //= 2
            run.record("info", notice=f"The GPU ran out of memory; retrying with batch size {config.batch_size}.")
            run.record("settings", batch_size=config.batch_size)
            training.clf.model.load_state_dict(training.initial)
            release(training.device)


def effective_settings(outcome: Outcome) -> dict:
    if outcome.recipe is None:
        return {"frozen_layers": outcome.clf.n_blocks, "method": "probe", "lr": None}
    return outcome.recipe.to_dict_settings()


def _fail(run: Run, message: str) -> None:
    run.record("phase", phase=Status.FAILED)
    run.record("status", status=Status.FAILED, message=message)


def _workers(config: TrainConfig, modality: str) -> int:
    from ftapp.train.loop import augment_workers

    return augment_workers() if config.augment and modality != "text" else 0
