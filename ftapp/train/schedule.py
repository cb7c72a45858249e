"""How long a run trains and how its learning rate moves, decided in optimizer steps.

Counting epochs starves small data sets (40 examples at batch 32 get two steps an epoch), so a run
is planned in steps: at least `min_steps`, however small the data, at least a few epochs, and at
most the epoch cap. The learning rate warms up from a small non-zero value, then follows a cosine
down to nearly zero at the planned end, so a run that trains to its end is annealed; validation
picks the best checkpoint along the way and early stopping may end it sooner.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ftapp.train.config import EVALUATIONS, MAX_EPOCHS, MIN_EPOCHS, SCHEDULES


@dataclass(frozen=True)
class Length:
    steps_per_epoch: int
    epochs: int
    total_steps: int
    warmup_steps: int
    eval_every: int          # epochs between validations

    def to_dict(self) -> dict:
        return {"steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "eval_every_epochs": self.eval_every}


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches of `batch_size`; a last batch under half the size joins the one before it."""
    full, rest = divmod(n_train, batch_size)
    if full == 0:
        return 1
    return full + (1 if rest >= batch_size / 2 else 0)


def plan_length(n_train: int, batch_size: int, *, epochs: int | None, min_steps: int,
                warmup_ratio: float) -> Length:
    """epochs=None: as many epochs as `min_steps` needs (at least MIN_EPOCHS, at most MAX_EPOCHS);
    an explicit epoch count is the cap, and the step floor still applies below it."""
    spe = steps_per_epoch(n_train, batch_size)
    wanted = max(MIN_EPOCHS, math.ceil(min_steps / spe))
    n_epochs = min(wanted, MAX_EPOCHS) if epochs is None else min(wanted, int(epochs))
    total = n_epochs * spe
    return Length(spe, n_epochs, total, int(round(warmup_ratio * total)), max(1, round(n_epochs / EVALUATIONS)))


def lr_factor(step: int, warmup: int, total: int, kind: str = SCHEDULES.cosine) -> float:
    """The factor on the learning rate for update number `step` (0-based). Never 0 before the end:
    the first update moves at 1/(warmup+1) of the rate."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if kind == SCHEDULES.constant:
        return 1.0
    progress = min(1.0, (step - warmup + 1) / max(1, total - warmup + 1))
    if kind == SCHEDULES.linear:
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def refit_length(folds: Length, n_train: int, batch_size: int) -> Length:
    """The final run after cross-validation: the folds' own schedule (their warm-up and decay over
    their planned steps), on all the examples; it trains up to the length the folds chose. The folds
    scored their checkpoints along this schedule, so the final run repeats what was checked. (A plan
    that annealed to zero at the chosen length trained less than the folds had and was never
    checked: photos5 0.917 and its 8 per class 0.865 against 0.923 and 0.885, seeds 0-2.)"""
    spe = steps_per_epoch(n_train, batch_size)
    return Length(spe, math.ceil(folds.total_steps / spe), folds.total_steps, folds.warmup_steps, 1)
