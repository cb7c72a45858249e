"""Learning-rate range test (Smith 2015; fastai's `lr_find`): the run's own training loop — the
same model, frozen blocks, fitted head, weight-decay groups, layer decay and class weights as a
real run — for a few dozen steps while the rate rises exponentially; the suggestion is a tenth of
the rate where the smoothed loss was lowest (fastai's "minimum / 10")."""
from __future__ import annotations

import math
import random
import tempfile
import threading
from pathlib import Path

from ftapp import tasks
from ftapp.data import Limits
from ftapp.train.config import TrainConfig
from ftapp.train.device import pick_device, release, resolve_precision
from ftapp.train.loop import Recipe
from ftapp.train.prepared import Prepared
from ftapp.train.progress import Budget, Clock
from ftapp.train.recipes import default_recipe
from ftapp.train.schedule import plan_length
from ftapp.train.setup import class_weights, configure_model, standardise
from ftapp.train.splits import RunFailed, prepare_data
from ftapp.train.training import Training

SMOOTHING = 0.3          # weight of the newest loss in the running average
DIVERGED = 4.0           # the sweep ends once the smoothed loss is this many times its lowest


def _quiet(*_args, **_kwargs) -> None:
    pass


def suggest_lr(config: TrainConfig, limits: Limits = Limits(), allow_local_paths: bool = True,
               steps: int = 40, max_examples: int = 320, lr_min: float = 1e-7, lr_max: float = 1.0) -> dict:
    device = pick_device()
    with tempfile.TemporaryDirectory(prefix="ftapp-lrfind-") as tmp:
        splits = prepare_data(config, Path(tmp), limits)
        train, classes = splits.train, splits.classes
        clf = configure_model(config, classes, train.modality, allow_local_paths, splits.task)
        pick = sorted(random.Random(config.seed).sample(range(len(train)), min(max_examples, len(train))))
        x = clf.preprocess.encode([train.items[i] for i in pick])
        y = tasks.targets(train.subset(pick), classes)
        y = standardise(clf, y)(y) if train.numeric else y
        training = Training(clf, config, device, resolve_precision(config.precision, device), _quiet,
                            threading.Event(), Budget(config.time_budget), Clock(_quiet),
                            class_weights(config, [train.labels[i] for i in pick], classes, train.separator,
                                          train.numeric))
        training.task = tasks.of(y)
        base = default_recipe(config, clf.n_blocks, train.modality)
        recipe = Recipe(base.frozen, lr_max, base.method, base.layer_decay)   # the sweep's rates are factors of this
        frozen = training.frozen_pass(x, training.boundaries([recipe]))
        data = Prepared(clf, x, y, [], [], device, frozen, None)
        pretrained = training.start_from(training.probe(frozen.head_inputs, y))
        length = plan_length(len(x), config.batch_size, epochs=None, min_steps=steps, warmup_ratio=0)
        lr_at = lambda step: lr_min * (lr_max / lr_min) ** (step / steps)   # noqa: E731
        fitter = training.fitter(data, recipe, length, pretrained, rate=lambda s: lr_at(s) / lr_max)
        lrs, losses = [], []
        smooth = {"value": None}

        def follow(f, **point):
            value = point["loss"]
            smooth["value"] = value if smooth["value"] is None else (1 - SMOOTHING) * smooth["value"] + SMOOTHING * value
            if not math.isfinite(value) or (losses and smooth["value"] > DIVERGED * min(losses)):
                f.stop_event.set()
                return
            lrs.append(lr_at(point["step"] - 1))
            losses.append(smooth["value"])
        fitter.add_callback("step", follow)
        try:
            fitter.activate()
            fitter.train(until_step=steps)
            fitter.deactivate()
        finally:
            release(device)
    if len(losses) < 5:
        raise RunFailed("The learning-rate test could not run long enough on this data; keep the default.")
    best = losses.index(min(losses))
    lr = max(lrs[best] / 10, lr_min)
    return {"lr": float(f"{lr:.1e}"), "lrs": lrs, "losses": losses,
            "message": f"Suggested learning rate: {lr:.1e} (the loss was lowest around {lrs[best]:.1e}; a tenth of "
                       "that trains steadily)."}
