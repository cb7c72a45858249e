"""What to train: the default recipe of a run, and the candidates Auto compares."""
from __future__ import annotations

from ftapp.models import default_frozen_layers
from ftapp.train.config import LARGE_MODEL, LORA_LR_FACTOR, METHODS, TrainConfig, default_lr
from ftapp.train.loop import Recipe


def default_recipe(config: TrainConfig, n_blocks: int, modality: str) -> Recipe:
    """What a run with no choices uses (and Auto's first candidate)."""
    method = config.method or METHODS.full
    k = config.frozen_layers if config.frozen_layers is not None else default_frozen_layers(n_blocks, modality)
    lr = config.lr or default_lr(modality) * (LORA_LR_FACTOR if method == METHODS.lora else 1)
    return Recipe(min(int(k), n_blocks), float(lr), method, config.layer_decay)


def auto_recipes(config: TrainConfig, n_blocks: int, modality: str, n_params: int) -> list[Recipe]:
    """Auto's candidates: the default and three neighbours over what the user left open — fewer
    blocks frozen, more frozen with a higher rate, a higher rate (four, so the whole search costs
    about two default runs; measured: more candidates on shorter rungs chose worse, the ranking
    noise of a short rung being larger than the differences between good settings)."""
    base = default_recipe(config, n_blocks, modality)
    fewer = 0 if modality == "text" else max(n_blocks - 4, 0)
    more = (2 * n_blocks) // 3 if modality == "text" else max(n_blocks - 1, 0)
    fixed_k, fixed_lr = config.frozen_layers is not None, bool(config.lr)
    if fixed_k and fixed_lr:
        grid = [(base.frozen, base.lr)]
    elif fixed_k:
        grid = [(base.frozen, base.lr), (base.frozen, base.lr * 3), (base.frozen, base.lr / 3)]
    elif fixed_lr:
        grid = [(base.frozen, base.lr), (fewer, base.lr), (more, base.lr)]
    else:
        grid = [(base.frozen, base.lr), (fewer, base.lr), (more, base.lr * 3), (base.frozen, base.lr * 3)]
    out = []
    for k, lr in grid:
        r = Recipe(min(k, n_blocks), lr, base.method, base.layer_decay)
        if r not in out:
            out.append(r)
    if config.method is None and n_params >= LARGE_MODEL and len(out) > 1:
        out[-1] = Recipe(base.frozen, default_lr(modality) * LORA_LR_FACTOR, METHODS.lora, 1.0)
    return out


def recipes_for(config: TrainConfig, n_blocks: int, modality: str, n_params: int) -> list[Recipe]:
    if config.auto:
        return auto_recipes(config, n_blocks, modality, n_params)
    return [default_recipe(config, n_blocks, modality)]
