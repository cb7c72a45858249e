"""Learning-rate range test (Smith 2015, as in fastai's lr_find): train a few dozen steps while
raising the learning rate exponentially, watch the loss, suggest a rate a step below where it
was falling fastest-but-stable (the minimum's rate / 10)."""
from __future__ import annotations

import contextlib
import math
import random
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from ftapp.data import Limits
from ftapp.train import prefix_cache
from ftapp.train.auto import default_recipe
from ftapp.train.config import TrainConfig
from ftapp.train.device import autocast, pick_device, release, resolve_precision
from ftapp.train.job import RunFailed, configure_model, prepare_data
from ftapp.train.loop import Prepared


def suggest_lr(config: TrainConfig, limits: Limits = Limits(), allow_local_paths: bool = True,
               steps: int = 40, max_examples: int = 320, lr_min: float = 1e-7, lr_max: float = 1.0) -> dict:
    device = pick_device()
    with tempfile.TemporaryDirectory(prefix="ftapp-lrfind-") as tmp:
        train = prepare_data(config, Path(tmp), limits).train
        classes = train.classes
        clf = configure_model(config, classes, train.modality, allow_local_paths)
        recipe = default_recipe(config, clf.n_blocks, train.modality)
        clf.freeze(recipe.frozen)
        if recipe.method == "lora":
            clf.add_lora(r=config.lora_r)
        rng = random.Random(config.seed)
        idx = rng.sample(range(len(train)), min(max_examples, len(train)))
        x = clf.preprocess.encode([train.items[i] for i in idx])
        y = torch.tensor([classes.index(train.labels[i]) for i in idx])
        clf.model.to(device)
        precision = resolve_precision(config.precision, device)
        cached = config.cache_prefix and prefix_cache.cache_supported(clf, recipe.frozen, config.augment) \
            and recipe.method != "lora"
        frozen = prefix_cache.compute_states(clf, x, [recipe.frozen], 64, device, autocast=autocast(precision, device)) \
            if cached else None
        data = Prepared(clf, x, y.tolist(), [], [], device, frozen, None)
        k = recipe.frozen if cached else None
        lrs, losses, smooth = [], [], None
        try:
            with prefix_cache.bypass_prefix(clf, recipe.frozen, frozen.as_tuple) if cached else contextlib.nullcontext():
                opt = torch.optim.AdamW([p for p in clf.model.parameters() if p.requires_grad], lr=lr_min)
                gamma = (lr_max / lr_min) ** (1 / steps)
                clf.train_mode()
                for step in range(steps):
                    lr = lr_min * gamma ** step
                    for g in opt.param_groups:
                        g["lr"] = lr
                    batch_idx = rng.sample(range(len(x)), min(config.batch_size, len(x)))
                    with autocast(precision, device):
                        logits = clf.forward(data.batch("train", batch_idx, k, augment=config.augment))
                    loss = F.cross_entropy(logits.float(), y[batch_idx].to(device))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    value = loss.item()
                    smooth = value if smooth is None else 0.7 * smooth + 0.3 * value
                    if not math.isfinite(value) or (losses and smooth > 4 * min(losses)):
                        break
                    lrs.append(lr)
                    losses.append(smooth)
        finally:
            release(device)
    if len(losses) < 5:
        raise RunFailed("The learning-rate test could not run long enough on this data; keep the default.")
    best = losses.index(min(losses))
    lr = max(lrs[best] / 10, lr_min)
    return {"lr": float(f"{lr:.1e}"), "lrs": lrs, "losses": losses,
            "message": f"Suggested learning rate: {lr:.1e} (the loss fell fastest around {lrs[best]:.1e}; "
                       "a tenth of that trains steadily)."}
