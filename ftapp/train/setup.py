"""Setting a run up: the model with its new head, class weights, the language check, and the
examples encoded once. Shared by a run (job.py) and the learning-rate finder (lr_find.py)."""
from __future__ import annotations

import numpy as np
import torch

from ftapp import tasks
from ftapp.models import load_pretrained
from ftapp.runs import Run, RunFolder
from ftapp.train.config import CLASS_WEIGHTS, EVAL_BATCH, IMBALANCE, TrainConfig
from ftapp.train.device import autocast
from ftapp.train.distributed import SINGLE
from ftapp.train.prepared import Encoded
from ftapp.train.splits import Splits


def configure_model(config: TrainConfig, classes: list[str], modality: str, allow_local_paths: bool,
                    task: str = tasks.ONE):
    torch.manual_seed(config.seed)   # the new head's initial weights are part of a seeded run
    clf = load_pretrained(config.model, classes, modality=modality, allow_local_paths=allow_local_paths,
                          pooling=config.pooling)
    clf.task = task
    if config.dropout is not None:
        clf.set_dropout(config.dropout)
    if modality == "text":
        clf.preprocess.max_length = config.max_length
    elif modality == "image":
        clf.preprocess.set_augmentation(hflip=config.hflip)
    return clf


def check_language(run: Run, config: TrainConfig, clf, splits: Splits) -> bool:
    """Texts: how well the model's tokenizer fits them; a warning (and True) when poorly."""
    if splits.modality != "text":
        return False
    from ftapp.models.fit import language_warning, tokenizer_fit

    fit = tokenizer_fit(clf.preprocess.tokenizer, splits.train.items, seed=config.seed)
    warning = language_warning(config.model, fit)
    if warning:
        splits.warnings.append(warning)
        run.files.write(RunFolder.DATA_REPORT, splits.reports)
    run.record("info", language=fit, language_warning=warning)
    return bool(warning)


def class_weights(config: TrainConfig, labels: list[str], classes: list[str], separator: str = "",
                  numeric: bool = False) -> torch.Tensor | None:
    """scikit-learn's "balanced" weights (inverse frequency, mean 1), when asked or when auto and the
    classes are unbalanced. Several labels per example (`separator`): each label's positive
    examples weigh negatives / positives (torch's pos_weight), only when asked — on the real
    multi-label set the tuned thresholds already handle rare labels (micro-F1 0.682 without weights,
    0.676 with; benchmarks/multilabel_study.py)."""
    from sklearn.utils.class_weight import compute_class_weight

    if numeric:   # a number per example: no classes to weigh
        return None
    if separator:
        if config.class_weights != CLASS_WEIGHTS.on:
            return None
        positives = np.array([sum(c in {p.strip() for p in label.split(separator)} for label in labels)
                              for c in classes], dtype=float)
        return torch.tensor((len(labels) - positives) / np.maximum(positives, 1), dtype=torch.float)
    counts = [labels.count(c) for c in classes]
    if config.class_weights == CLASS_WEIGHTS.off or (config.class_weights == CLASS_WEIGHTS.auto
                                                     and max(counts) < IMBALANCE * min(counts)):
        return None
    return torch.tensor(compute_class_weight("balanced", classes=np.asarray(classes), y=np.asarray(labels)),
                        dtype=torch.float)


def standardise(clf, train_values: list[float]):
    """A number per example: the training values' mean and standard deviation become the model's
    `target_scale` (predictions are mapped back with it, and a saved model has it folded into its
    head); returns the function that standardises targets."""
    mean, std = float(np.mean(train_values)), float(np.std(train_values)) or 1.0
    clf.target_scale = (mean, std)
    return lambda values: [(v - mean) / std for v in values]


def encode(clf, splits: Splits, device, precision: str, dist=SINGLE) -> Encoded:
    """The examples as the model reads them, once; the test slice's pre-trained features too (the
    first model is scored on them without another pass)."""
    classes = splits.classes
    scaled = standardise(clf, tasks.targets(splits.train, classes)) if splits.train.numeric else (lambda y: y)
    enc = Encoded(clf.preprocess.encode(splits.train.items), scaled(tasks.targets(splits.train, classes)),
                  clf.preprocess.encode(splits.val.items), scaled(tasks.targets(splits.val, classes)))
    if splits.test is not None:
        from ftapp.train.prefix_cache import compute_states

        enc.test_x, enc.test_y = clf.preprocess.encode(splits.test.items), scaled(tasks.targets(splits.test, classes))
        clf.model.to(device)
        enc.test_features = compute_states(clf, enc.test_x, [], EVAL_BATCH, device, autocast=autocast(precision, device),
                                           head_inputs=True, dist=dist).head_inputs
    return enc
