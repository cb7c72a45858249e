"""The training loop: one recipe (frozen blocks, learning rate, method) trained on prepared data.

AdamW with a warm-up + cosine schedule planned in steps (schedule.py, optim.py), validation every
few epochs, the best checkpoint kept, early stopping when validation stops improving in a way that
matters (selection.py), a deadline, stop requests honoured within one step. A `Fitter` can pause at
any validation and resume later, and several fitters can take turns on one model (the Auto
search): `activate` puts its weights in, `deactivate` takes them out.

Whoever needs to follow a fitter registers a callback (minGPT's `add_callback`): "step" after each
optimizer step, "epoch" after each validation, "best" at a new best checkpoint, "checkpoint" at each point where
its resumable state (`state_dict()`) may be written (final=True: the process is going away). The fitter never knows who listens.

It is a plain loop (nanoGPT style) rather than transformers.Trainer because it must train on
cached frozen-prefix states, report every step to the run store, take turns with other recipes
and stop on request; the metrics come from scikit-learn (ftapp.evaluate.scores).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import torch

from ftapp import tasks
from ftapp.server_load import wait_while_busy
from ftapp.train import prefix_cache, selection
from ftapp.train.batches import epoch_batches, eval_batches
from ftapp.train.config import EVAL_BATCH, LEARNED_LOSS, LEARNED_PATIENCE, METHODS, PRECISIONS
from ftapp.train.device import autocast, govern_threads
from ftapp.train.distributed import SINGLE, Distributed
from ftapp.train.fitter_state import FitterState, trainable_state
from ftapp.train.optim import make_optimizer
from ftapp.train.prepared import Prepared, to_device
from ftapp.train.schedule import Length, lr_factor

ANNEAL_ABOVE = 0.2      # a plateau while the rate is above this share of its peak: bring it down first
TAIL_SHARE = 0.05       # over this share of the planned steps (at least an epoch)


def augment_workers() -> int:
    """Leave at least one core to the training itself."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class Why:
    """Why a fitter ended (words.WHY says each in a sentence)."""
    FINISHED = "planned end"          # trained to the planned end
    EARLY = "early stop"              # validation had stopped improving (the rate already low)
    LEARNED = "learned"               # the training examples were learned and validation had stopped improving
    ANNEALED = "annealed early"       # validation had stopped improving: the rate was brought to zero, then it ended
    STOPPED = "stop request"          # a person asked it to stop
    TIME = "time budget"              # the time budget (or this part's share of it) ran out
    DIVERGED = "diverged"             # the loss became infinite or not-a-number
    CUT = (STOPPED, TIME)     # ended from outside: whatever comes after it is skipped too


class Diverged(Exception):
    pass


class Stopped(Exception):
    pass


class ShutDown(Exception):
    """The process is going away (SIGTERM, a restart): the fitter wrote a checkpoint at the last
    step; the run is left to resume, not finished."""


@dataclass(frozen=True)
class Recipe:
    """One way to train: what Auto compares, and what a run with fixed settings uses."""
    frozen: int
    lr: float
    method: str = METHODS.full    # config.METHODS
    layer_decay: float = 1.0      # learning rate × this per block further from the head (1 = same rate)

    @property
    def name(self) -> str:
        decay = f", layer decay {self.layer_decay:g}" if self.layer_decay != 1 else ""
        return f"{self.frozen} frozen, lr {self.lr:.0e}{', LoRA' if self.method == METHODS.lora else ''}{decay}"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_dict_settings(self) -> dict:
        """The recipe as TrainConfig settings (what the run records as its effective settings)."""
        return {"frozen_layers": self.frozen, "lr": self.lr, "method": self.method, "layer_decay": self.layer_decay}


def learned_by_heart(check: dict, bad_evals: int, patience: int) -> bool:
    """The training examples are learned (mean loss under LEARNED_LOSS) and validation has not
    progressed for LEARNED_PATIENCE checks: the run ends now, without the patience's last checks or
    the tail. Once the training loss is that low the gradients are too, and the later checks hardly
    move: on long descriptions (debian_long) and German ones (german6) validation stayed within one
    example for four more checks of 20 s each, and the patience and the tail took over a third of
    the run (benchmarks/first_run.py measures the rule on every evaluation set)."""
    return 0 < patience and bad_evals >= min(patience, LEARNED_PATIENCE) and check["train_loss"] < LEARNED_LOSS


class Callbacks:
    """A registry of listeners, keyed by event name; each is called as fn(owner, **data)."""

    def add_callback(self, event: str, fn) -> None:
        self.__dict__.setdefault("_callbacks", {}).setdefault(event, []).append(fn)

    def trigger(self, event: str, **data) -> None:
        for fn in self.__dict__.get("_callbacks", {}).get(event, ()):
            fn(self, **data)


@dataclass
class History:
    steps: list = field(default_factory=list)      # {"step", "epoch", "loss", "lr"}
    evals: list = field(default_factory=list)      # {"epoch", "step", "train_loss", "val_loss", "val_accuracy", …}


@torch.no_grad()
def validation(clf, data: Prepared, k: int | None, autocast_ctx, device, dist: Distributed,
               class_weights: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
    """The model on the validation examples (from the cache at boundary k when k is given): every
    example's probabilities and the metrics. With several processes each scores its share and all
    get the whole."""
    clf.model.eval()
    n, y = data.n("val"), data.y["val"]
    task = tasks.of(data.y["train"])
    probs, losses = torch.empty(n, len(clf.labels)), torch.empty(n)
    mine = dist.shard(range(n))
    lengths = [data.lengths["val"][i] for i in mine] if data.lengths["val"] is not None else None
    for b in eval_batches(len(mine), EVAL_BATCH, lengths):
        wait_while_busy()
        idx = [mine[j] for j in b]
        with autocast_ctx:
            logits = clf.forward(data.batch("val", idx, k)).float()
        weights = class_weights if task.kind == tasks.SEVERAL else None   # pos_weight: part of the loss itself
        losses[idx] = task.loss(logits, y[idx].to(device), weights, reduction="none").cpu()
        probs[idx] = task.probs(logits).cpu()
    if dist.active and n:
        rows = dist.gather_rows({i: (probs[i], losses[i]) for i in mine})
        probs, losses = torch.stack([rows[i][0] for i in range(n)]), torch.stack([rows[i][1] for i in range(n)])
    scale = clf.target_scale[1]   # a number per example: MAE and RMSE in the target's own unit
    return probs, {"val_loss": weighted_mean(losses, y, class_weights, task),
                   **{f"val_{key}": v for key, v in task.metrics(probs.numpy(), y.numpy(), scale=scale).items()}}


def weighted_mean(losses: torch.Tensor, y: torch.Tensor, class_weights, task) -> float:
    """The examples' mean loss, each example weighed by its class's weight (one label per example)."""
    weights = class_weights.cpu()[y] if class_weights is not None and task.kind == tasks.ONE else torch.ones(len(y))
    return float((losses * weights).sum() / weights.sum().clamp_min(1e-9))


class Fitter(Callbacks, FitterState):
    """Trains one recipe. `train(until_evals=None)` runs to the end of the plan (or an early stop,
    the deadline, a stop request); with `until_evals` it pauses after that many validations.
    `rate(step)` replaces the planned learning-rate schedule."""

    def __init__(self, clf, data: Prepared, recipe: Recipe, length: Length, *, config, device: torch.device,
                 precision: str = PRECISIONS.fp32, stop_event: threading.Event | None = None,
                 class_weights: torch.Tensor | None = None, deadline: float | None = None,
                 pretrained: dict | None = None, rate=None, dist: Distributed = SINGLE):
        self.clf, self.data, self.recipe, self.length, self.config = clf, data, recipe, length, config
        self.task = tasks.of(data.y["train"])
        self.device, self.precision, self.rate, self.dist = device, precision, rate, dist
        self.autocast = autocast(precision, device)
        self.stop_event = stop_event or threading.Event()
        self.class_weights = class_weights.to(device) if class_weights is not None else None
        self.deadline = deadline
        self.pretrained = pretrained          # every weight as pre-trained (+ the fitted head): where recipes start
        self.cached = (config.cache_prefix and prefix_cache.cache_supported(clf, recipe.frozen, config.augment)
                       and recipe.frozen in data.states)
        self.rng = random.Random(config.seed)
        self.step = self.epoch = 0
        self._batches: list[list[int]] = []
        self._batch_iter = None
        self._losses: list[float] = []
        self.best: dict | None = None          # metrics of the best validation so far
        self.best_state: dict | None = None
        self.reference: dict | None = None     # the last validation that made progress (early stopping)
        self.bad_evals = 0
        self.tail: tuple[int, int] | None = None   # (first step, steps): the rate falling to zero after a plateau
        self.history = History()
        self.done: str | None = None           # why it ended (Why)
        self.val_probs: torch.Tensor | None = None
        self._opt = self._sched = None
        self._weights: dict | None = None      # this recipe's weights while another one trains
        self._stack: contextlib.ExitStack | None = None
        self.train_seconds = 0.0
        self.shutdown_event: threading.Event | None = None

    # ---- taking turns on one model ---------------------------------------------------------
    def activate(self) -> None:
        clf, r = self.clf, self.recipe
        if self.pretrained is not None:
            clf.model.load_state_dict(self.pretrained, strict=False)
        clf.freeze(r.frozen)
        if self._weights is not None:
            clf.model.load_state_dict(self._weights, strict=False)
            self._weights = None
        clf.model.to(self.device)
        if self.device.type == "cuda" and clf.modality == "image":   # conv kernels run faster channels-last
            clf.model.to(memory_format=torch.channels_last)
        self._stack = contextlib.ExitStack()
        if self.cached:
            self._stack.enter_context(prefix_cache.bypass_prefix(clf, r.frozen, self.data.as_tuple))
        if self._opt is None:
            self.dist.same_as_main([p for p in clf.model.parameters() if p.requires_grad])
            self.dist.same_as_main(clf.model.buffers())
            self._opt, self._sched = make_optimizer(clf, r, self.length, self.config, self.device, self.factor)

    def deactivate(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._weights = trainable_state(self.clf.model)

    def factor(self, step: int) -> float:
        """The learning-rate factor at `step`: the planned schedule (or the given `rate`), and after a
        plateau a straight fall to zero over the tail (adaptive length: the gains of annealing without
        waiting for the planned end)."""
        L = self.length
        planned = self.rate or (lambda s: lr_factor(s, L.warmup_steps, L.total_steps, self.config.schedule))
        if self.tail is None or step < self.tail[0]:
            return planned(step)
        start, steps = self.tail
        return planned(start) * max(0.0, 1 - (step - start + 1) / steps)

    def _plateau(self) -> bool:
        """Validation stopped improving: bring the rate down over a short tail (True: go on), or stop
        now when it is low already or the tail is done (False)."""
        L = self.length
        if self.tail is None and self.factor(self.step) > ANNEAL_ABOVE:
            self.tail = (self.step, max(L.steps_per_epoch, round(TAIL_SHARE * L.total_steps)))
            self.bad_evals = 0
            return True
        self.done = Why.ANNEALED if self.tail is not None else Why.EARLY
        return False

    def release(self) -> None:
        """Free this fitter's copies of weights and optimizer state (it will not train again)."""
        self.best_state = self._weights = self._opt = self._sched = None

    # ---- validation ------------------------------------------------------------------------

    def validate(self) -> dict:
        self.dist.same_as_main(self.clf.model.buffers())
        self.val_probs, metrics = validation(self.clf, self.data, self.recipe.frozen if self.cached else None,
                                             self.autocast, self.device, self.dist, self.class_weights)
        return metrics

    def _evaluate(self, train_loss: float, cut: bool = False) -> None:
        """One validation; `cut`: the run was cut off before its first planned one (not a check at the
        planned length, so cross-validation does not count it)."""
        metrics = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss, **self.validate()}
        if cut:
            metrics["cut"] = True
        metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
        self.history.evals.append(metrics)
        self.trigger("epoch", **metrics)
        select = self.config.select
        if selection.progressed(metrics, self.reference, select):
            self.reference, self.bad_evals = metrics, 0
        elif self.step > self.length.warmup_steps:   # while the rate still rises, no progress is no verdict
            self.bad_evals += 1
        if selection.better(metrics, self.best, select):
            self.best, self.best_state = metrics, trainable_state(self.clf.model)
            self.trigger("best", **metrics)

    # ---- the loop ------------------------------------------------------------------------
    def train(self, until_evals: int | None = None, until_step: int | None = None) -> str | None:
        """Train until the plan ends (returns why), or pause after `until_evals` validations (None).
        With `until_step` it ends after that many steps, as FINISHED."""
        if self.done:
            return self.done
        clf, L = self.clf, self.length
        k = self.recipe.frozen if self.cached else None
        augment = self.config.augment and clf.modality != "text" and not self.cached
        started = time.time()
        try:
            end = L.total_steps if until_step is None else min(until_step, L.total_steps)
            if self._batches and self._batch_iter is None:   # resumed mid-epoch
                clf.train_mode()
                self._batch_iter = self._epoch_iter(self._batches, k, augment)
            while self.step < end:
                shutdown, stop, late = self.dist.agree(
                    self.shutdown_event is not None and self.shutdown_event.is_set(), self.stop_event.is_set(),
                    self.deadline is not None and time.time() > self.deadline)
                if shutdown:
                    self.trigger("checkpoint", final=True)
                    raise ShutDown
                if stop:
                    raise Stopped
                if late:
                    self.done = Why.TIME
                    break
                if not self._batches:
                    self._new_epoch(k, augment)
                idx, batch = next(self._batch_iter)
                self._batches.pop(0)
                self._step(idx, batch)
                tail_end = self.tail is not None and self.step >= sum(self.tail)
                if self.data.n("val") and (tail_end or not self._batches and (self.epoch % L.eval_every == 0
                                                                              or self.step >= L.total_steps)):
                    self._evaluate(sum(self._losses) / len(self._losses))
                    self._losses = []
                    learned = learned_by_heart(self.history.evals[-1], self.bad_evals, self.config.patience)
                    if tail_end or learned or 0 < self.config.patience <= self.bad_evals and not self._plateau():
                        self.done = Why.ANNEALED if tail_end else Why.LEARNED if learned else self.done
                        break
                    self.trigger("checkpoint", final=False)
                    if until_evals is not None and len(self.history.evals) >= until_evals:
                        return None
            else:
                self.done = Why.FINISHED
        except Stopped:
            self.done = Why.STOPPED
        except Diverged:
            self.done = Why.DIVERGED
        finally:
            self.train_seconds += time.time() - started
        if self.done in Why.CUT and self.best is None and self.data.n("val"):   # ended before its first check
            self._evaluate(sum(self._losses) / max(len(self._losses), 1), cut=True)
        if not self.data.n("val") and self.done != Why.DIVERGED:
            self.best_state = trainable_state(self.clf.model)   # no validation: the weights at the end
        return self.done

    def _new_epoch(self, k, augment: bool) -> None:
        govern_threads(self.device)   # fewer threads while other processes busy the cores
        self.epoch += 1
        self._batches = epoch_batches(self.data.n("train"), self.config.batch_size, self.rng,
                                      self.data.lengths["train"])
        self._losses = []
        self.clf.train_mode()
        self._batch_iter = self._epoch_iter(self._batches, k, augment)

    def _step(self, idx: list[int], batch: dict) -> None:
        """One update on the batch `idx`; with several processes this one computes its share (`batch`
        holds only those examples) and the gradients are summed: the whole batch's mean gradient."""
        y = self.data.y["train"]
        mine = self.dist.shard(idx)
        weights = (self.class_weights.cpu()[y[idx]] if self.class_weights is not None and self.task.kind == tasks.ONE
                   else torch.ones(len(idx)))
        params = [p for g in self._opt.param_groups for p in g["params"]]
        self._opt.zero_grad(set_to_none=True)
        if mine:
            with self.autocast:
                logits = self.clf.forward(batch)
            share = self.task.loss(logits, y[mine].to(self.device), self.class_weights,
                                   reduction="sum") / float(weights.sum())
            share.backward()
            value = share.item()
        else:
            value = 0.0
        loss = self.dist.total(value)
        if not math.isfinite(loss):
            raise Diverged
        self.dist.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self._opt.step()
        self._sched.step()
        self.step += 1
        self._losses.append(loss)
        point = {"step": self.step, "epoch": round(self.epoch - 1 + len(self._losses) / self.length.steps_per_epoch, 4),
                 "loss": round(self._losses[-1], 5), "lr": self._sched.get_last_lr()[-1]}
        self.history.steps.append(point)
        self.trigger("step", **point)

    def _epoch_iter(self, batches: list[list[int]], k, augment: bool):
        """(indices, batch) for one epoch. Augmented images are prepared by DataLoader workers so
        random crops and jitter overlap with training; everything else is cheap (cached states,
        pre-tokenized text, pre-decoded images) and stays in this thread."""
        shard = self.dist.shard
        if not augment:
            for idx in list(batches):
                yield idx, self.data.batch("train", shard(idx), k) if shard(idx) else {}
            return
        from torch.utils.data import DataLoader

        collate = self.clf.preprocess.collate
        epoch, seed = self.epoch, self.config.seed
        items = self.data.x["train"]
        loader = DataLoader(list(range(len(items))), batch_sampler=[shard(b) or b[:1] for b in batches],
                            num_workers=augment_workers(),
                            collate_fn=lambda ids: collate([items[i] for i in ids], augment=True,
                                                           seeds=[hash((seed, epoch, i)) for i in ids]),
                            pin_memory=self.device.type == "cuda")
        for idx, batch in zip(list(batches), loader):
            yield idx, {key: to_device(v, self.device) for key, v in batch.items()}

    def restore_best(self) -> None:
        """Put the best checkpoint's weights in and compute its validation probabilities."""
        if self.best_state is not None:
            self.clf.model.load_state_dict(self.best_state, strict=False)
            if self.data.n("val"):
                self.validate()

    @property
    def rank_key(self) -> tuple:
        """Smaller is better: how Auto ranks candidates (the measure that picks checkpoints)."""
        return selection.rank_key(self.best, self.config.select)
