"""The training loop: one recipe (frozen blocks, learning rate, method) trained on prepared data.

AdamW with a warm-up + cosine schedule planned in steps (schedule.py), validation every few
epochs, the best checkpoint kept, early stopping, a time limit, stop requests honoured within one
step. A `Fitter` can pause at any validation and resume later, and several fitters can take turns
on one model (the Auto search): `activate` puts its weights in, `deactivate` takes them out.

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
import torch.nn.functional as F

from ftapp.evaluate import scores
from ftapp.train import prefix_cache
from ftapp.train.batches import epoch_batches, eval_batches
from ftapp.train.device import autocast, govern_threads
from ftapp.train.schedule import Length, lr_factor


def augment_workers() -> int:
    """Leave at least one core to the training itself."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


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
    method: str = "full"          # "full" | "lora"
    layer_decay: float = 1.0      # learning rate × this per block further from the head (1 = same rate)

    @property
    def name(self) -> str:
        decay = f", layer decay {self.layer_decay:g}" if self.layer_decay != 1 else ""
        return f"{self.frozen} frozen, lr {self.lr:.0e}{', LoRA' if self.method == 'lora' else ''}{decay}"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_dict_settings(self) -> dict:
        """The recipe as TrainConfig settings (what the run records as its effective settings)."""
        return {"frozen_layers": self.frozen, "lr": self.lr, "method": self.method, "layer_decay": self.layer_decay}


def trainable_state(model) -> dict:
    """A copy of what training can change: trainable parameters and buffers (BatchNorm
    statistics). Frozen weights never change, so they are not copied."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    names |= {n for n, _ in model.named_buffers()}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


class Prepared:
    """The examples of one run, ready for any recipe: encoded once, the frozen prefix computed once
    per boundary (`states[k]`), and the head inputs of the pre-trained model (the probe's features)."""

    def __init__(self, clf, train_x, train_y, val_x, val_y, device, frozen_pass=None, val_pass=None):
        self.clf, self.device = clf, device
        self.x = {"train": train_x, "val": val_x}
        self.y = {"train": torch.tensor(train_y, dtype=torch.long), "val": torch.tensor(val_y, dtype=torch.long)}
        text = clf.modality == "text"
        self.lengths = {s: [len(v) for v in self.x[s]] if text else None for s in self.x}
        self.states: dict[int, dict] = {}
        self.as_tuple = 0
        if frozen_pass is not None:
            self.as_tuple = frozen_pass.as_tuple
            for k, st in frozen_pass.states.items():
                self.states[k] = {"train": st, "val": val_pass.states[k] if val_pass else None}
        self.head_inputs = {"train": frozen_pass.head_inputs if frozen_pass else None,
                            "val": val_pass.head_inputs if val_pass else None}

    def n(self, split: str) -> int:
        return len(self.x[split])

    def subset(self, train_idx: list[int], val_idx: list[int]) -> "Prepared":
        """A fold of a Prepared that holds every example as "train": the same cached states, re-cut."""
        out = object.__new__(Prepared)
        out.clf, out.device, out.as_tuple = self.clf, self.device, self.as_tuple

        def cut(values, idx):
            if values is None:
                return None
            if torch.is_tensor(values):
                return values[torch.as_tensor(idx, dtype=torch.long)]
            return [values[i] for i in idx]

        src = "train"
        out.x = {"train": cut(self.x[src], train_idx), "val": cut(self.x[src], val_idx)}
        out.y = {"train": self.y[src][train_idx], "val": self.y[src][val_idx]}
        out.lengths = {s: None if self.lengths[src] is None else cut(self.lengths[src], i)
                       for s, i in (("train", train_idx), ("val", val_idx))}
        out.states = {k: {"train": cut(st[src], train_idx), "val": cut(st[src], val_idx)} for k, st in self.states.items()}
        out.head_inputs = {"train": cut(self.head_inputs[src], train_idx), "val": cut(self.head_inputs[src], val_idx)}
        return out

    def batch(self, split: str, idx: list[int], k: int | None, augment: bool = False) -> dict:
        """A model input: from the cache at boundary k when k is given, else from the examples."""
        if k is not None:
            return prefix_cache.cached_batch(self.clf, self.states[k][split], idx, self.device)
        batch = self.clf.preprocess.collate([self.x[split][i] for i in idx], augment=augment)
        return {key: v.to(self.device, non_blocking=True) for key, v in batch.items()}


@dataclass
class History:
    steps: list = field(default_factory=list)      # {"step", "epoch", "loss", "lr"}
    evals: list = field(default_factory=list)      # {"epoch", "step", "train_loss", "val_loss", "val_accuracy", …}


class Fitter:
    """Trains one recipe. `train(until_evals=None)` runs to the end of the plan (or an early stop,
    the deadline, a stop request); with `until_evals` it pauses after that many validations."""

    def __init__(self, clf, data: Prepared, recipe: Recipe, length: Length, *, config, device: torch.device,
                 precision: str = "fp32", emit=None, stop_event: threading.Event | None = None,
                 class_weights: torch.Tensor | None = None, deadline: float | None = None, on_best=None,
                 pretrained: dict | None = None):
        self.clf, self.data, self.recipe, self.length, self.config = clf, data, recipe, length, config
        self.device, self.precision = device, precision
        self.autocast = autocast(precision, device)
        self.emit = emit or (lambda kind, **d: None)
        self.stop_event = stop_event or threading.Event()
        self.class_weights = class_weights.to(device) if class_weights is not None else None
        self.deadline, self.on_best = deadline, on_best
        self.pretrained = pretrained          # every weight as pre-trained (+ the fitted head): where recipes start
        self.cached = (config.cache_prefix and prefix_cache.cache_supported(clf, recipe.frozen, config.augment)
                       and recipe.frozen in data.states)
        self.rng = random.Random(config.seed)
        self.step = self.epoch = 0
        self._batches: list[list[int]] = []
        self._losses: list[float] = []
        self.best: dict | None = None          # metrics of the best validation so far
        self.best_state: dict | None = None
        self.bad_evals = 0
        self.history = History()
        self.done: str | None = None           # why it ended: "finished" | "early" | "stopped" | "time" | "diverged"
        self.val_probs: torch.Tensor | None = None
        self.keep_val_probs = False              # cross-validation needs every validation's probabilities
        self.val_probs_history: list[torch.Tensor] = []
        self._opt = self._sched = None
        self._weights: dict | None = None      # this recipe's weights while another one trains
        self._stack: contextlib.ExitStack | None = None
        self.train_seconds = 0.0
        self.on_checkpoint = None                 # callable(state): after each validation, and at shut-down
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
        self._stack = contextlib.ExitStack()
        if self.cached:
            self._stack.enter_context(prefix_cache.bypass_prefix(clf, r.frozen, self.data.as_tuple))
        if self._opt is None:
            self._opt, self._sched = self._optimizer()

    def deactivate(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._weights = trainable_state(self.clf.model)

    # ---- checkpoints: everything needed to go on exactly where it was -------------------------
    def checkpoint(self) -> dict:
        """The fitter's state at a step boundary (active on the model). The best weights are stored
        only when they are not the current ones: one copy where one would do."""
        weights = trainable_state(self.clf.model)
        best_is_current = bool(self.history.evals) and self.best is self.history.evals[-1] and not self._losses
        return {"recipe": self.recipe.to_dict(), "step": self.step, "epoch": self.epoch,
                "batches": [list(b) for b in self._batches], "losses": list(self._losses),
                "rng": self.rng.getstate(), "torch_rng": torch.get_rng_state(), "best": self.best,
                "bad_evals": self.bad_evals, "history": {"steps": self.history.steps, "evals": self.history.evals},
                "weights": weights, "best_state": None if best_is_current else self.best_state,
                "opt": self._opt.state_dict(), "sched": self._sched.state_dict(),
                "train_seconds": self.train_seconds}

    def load_checkpoint(self, state: dict) -> None:
        """Go on from `state` (after activate()): the same batches, rates and early-stopping count."""
        self.clf.model.load_state_dict(state["weights"], strict=False)
        self._opt.load_state_dict(state["opt"])
        self._sched.load_state_dict(state["sched"])
        self.step, self.epoch = state["step"], state["epoch"]
        self._batches, self._losses = [list(b) for b in state["batches"]], list(state["losses"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.best, self.bad_evals = state["best"], state["bad_evals"]
        self.history.steps, self.history.evals = list(state["history"]["steps"]), list(state["history"]["evals"])
        self.best_state = state["best_state"] if state["best_state"] is not None else state["weights"]
        self.train_seconds = state["train_seconds"]

    def _save_checkpoint(self) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.checkpoint())

    # ---- optimisation --------------------------------------------------------------------
    def _param_groups(self) -> list[dict]:
        """Weight decay on matrices only (not biases and norms); with layer decay < 1, each block
        further from the head learns at a smaller rate (fastai's discriminative learning rates)."""
        clf, r, wd = self.clf, self.recipe, self.config.weight_decay
        depth = {}
        blocks = clf.layout.blocks
        for i, block in enumerate(blocks):
            for path in block:
                for name, _ in clf.model.get_submodule(path).named_parameters(prefix=path):
                    depth[name] = len(blocks) - i
        for path in clf.layout.stem:
            for name, _ in clf.model.get_submodule(path).named_parameters(prefix=path):
                depth[name] = len(blocks) + 1
        groups: dict[tuple, list] = {}
        for name, p in clf.model.named_parameters():
            if not p.requires_grad:
                continue
            scale = r.layer_decay ** depth.get(name, 0)
            key = (scale, p.ndim >= 2)
            groups.setdefault(key, []).append(p)
        return [{"params": ps, "lr": r.lr * scale, "weight_decay": wd if matrix else 0.0}
                for (scale, matrix), ps in groups.items()]

    def _optimizer(self):
        # The fused kernel (one pass over all parameters) is 7x faster per step than the default
        # multi-tensor path on a 2-core CPU, and is what transformers.Trainer uses too.
        opt = torch.optim.AdamW(self._param_groups(), lr=self.recipe.lr,
                                fused=self.device.type in ("cpu", "cuda"))
        L = self.length
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, L.warmup_steps, L.total_steps, self.config.schedule))
        return opt, sched

    def _loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=self.class_weights, reduction=reduction)

    # ---- validation ------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        clf, data = self.clf, self.data
        clf.model.eval()
        n = data.n("val")
        probs = torch.empty(n, len(clf.labels))
        loss_sum, weight_sum = 0.0, 0.0
        k = self.recipe.frozen if self.cached else None
        for idx in eval_batches(n, 64, data.lengths["val"]):
            with self.autocast:
                logits = clf.forward(data.batch("val", idx, k)).float()
            y = data.y["val"][idx].to(self.device)
            loss_sum += self._loss(logits, y, "sum").item()
            weight_sum += float(self.class_weights[y].sum()) if self.class_weights is not None else len(idx)
            probs[idx] = logits.softmax(-1).cpu()
        self.val_probs = probs
        preds = probs.argmax(-1).tolist()
        s = scores(data.y["val"].tolist(), preds)
        return {"val_loss": loss_sum / max(weight_sum, 1e-9), "val_accuracy": s["accuracy"],
                "val_macro_f1": s["macro_f1"], "val_balanced_accuracy": s["balanced_accuracy"]}

    def _evaluate(self, train_loss: float) -> None:
        metrics = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss, **self.validate()}
        metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
        self.history.evals.append(metrics)
        if self.keep_val_probs:
            self.val_probs_history.append(self.val_probs)
        self.emit("epoch", **metrics)
        if self.best is None or self._better(metrics, self.best):
            self.best, self.best_state, self.bad_evals = metrics, trainable_state(self.clf.model), 0
            self.emit("best", **metrics)
            if self.on_best is not None:
                with prefix_cache.whole_model(self.clf):
                    self.on_best(self.clf)
        else:
            self.bad_evals += 1

    # ---- the loop ------------------------------------------------------------------------
    def train(self, until_evals: int | None = None, until_step: int | None = None) -> str | None:
        """Train until the plan ends (returns why), or pause after `until_evals` validations (None).
        With `until_step` (and no validation data) it ends after that many steps, as "finished"."""
        if self.done:
            return self.done
        cfg, clf, data, L = self.config, self.clf, self.data, self.length
        k = self.recipe.frozen if self.cached else None
        augment = cfg.augment and clf.modality == "image" and not self.cached
        started = time.time()
        try:
            end = L.total_steps if until_step is None else min(until_step, L.total_steps)
            if self._batches and getattr(self, "_batch_iter", None) is None:   # resumed mid-epoch
                clf.train_mode()
                self._batch_iter = self._epoch_iter(self._batches, k, augment)
            while self.step < end:
                if self.shutdown_event is not None and self.shutdown_event.is_set():
                    self._save_checkpoint()
                    raise ShutDown
                if not self._batches:
                    govern_threads(self.device)   # fewer threads while other processes busy the cores
                    self.epoch += 1
                    self._batches = epoch_batches(data.n("train"), cfg.batch_size, self.rng, data.lengths["train"])
                    self._losses = []
                    clf.train_mode()
                    self._batch_iter = self._epoch_iter(self._batches, k, augment)
                idx, batch = next(self._batch_iter)
                self._batches.pop(0)
                if self.stop_event.is_set():
                    raise Stopped
                if self.deadline is not None and time.time() > self.deadline:
                    self.done = "time"
                    break
                with self.autocast:
                    logits = clf.forward(batch)
                loss = self._loss(logits, data.y["train"][idx].to(self.device))
                if not torch.isfinite(loss):
                    raise Diverged
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in self._opt.param_groups for p in g["params"]], 1.0)
                self._opt.step()
                self._sched.step()
                self.step += 1
                self._losses.append(loss.item())
                point = {"step": self.step, "epoch": round(self.epoch - 1 + len(self._losses) / L.steps_per_epoch, 4),
                         "loss": round(self._losses[-1], 5), "lr": self._sched.get_last_lr()[-1]}
                self.history.steps.append(point)
                self.emit("step", **point)
                if self.data.n("val") and not self._batches and (self.epoch % L.eval_every == 0
                                                                 or self.step >= L.total_steps):
                    self._evaluate(sum(self._losses) / len(self._losses))
                    self._losses = []
                    if 0 < cfg.patience <= self.bad_evals:
                        self.done = "early"
                        break
                    self._save_checkpoint()
                    if until_evals is not None and len(self.history.evals) >= until_evals:
                        return None
            else:
                self.done = "finished"
        except Stopped:
            self.done = "stopped"
            if self.best is None and self.data.n("val"):   # stopped before the first validation
                self._evaluate(sum(self._losses) / max(len(self._losses), 1))
        except Diverged:
            self.done = "diverged"
        finally:
            self.train_seconds += time.time() - started
        if self.done == "time" and self.best is None and self.data.n("val"):
            self._evaluate(sum(self._losses) / max(len(self._losses), 1))
        if not self.data.n("val") and self.done != "diverged":
            self.best_state = trainable_state(self.clf.model)   # no validation: the weights at the end
        return self.done

    def _epoch_iter(self, batches: list[list[int]], k, augment: bool):
        """(indices, batch) for one epoch. Augmented images are prepared by DataLoader workers so
        random crops and jitter overlap with training; everything else is cheap (cached states,
        pre-tokenized text, pre-decoded images) and stays in this thread."""
        if not augment:
            for idx in list(batches):
                yield idx, self.data.batch("train", idx, k)
            return
        from torch.utils.data import DataLoader

        collate = self.clf.preprocess.collate
        epoch, seed = self.epoch, self.config.seed
        items = self.data.x["train"]
        loader = DataLoader(list(range(len(items))), batch_sampler=list(batches), num_workers=augment_workers(),
                            collate_fn=lambda ids: collate([items[i] for i in ids], augment=True,
                                                           seeds=[hash((seed, epoch, i)) for i in ids]),
                            pin_memory=self.device.type == "cuda")
        for idx, batch in zip(list(batches), loader):
            yield idx, {key: v.to(self.device, non_blocking=True) for key, v in batch.items()}

    def restore_best(self) -> None:
        """Put the best checkpoint's weights in and compute its validation probabilities."""
        if self.best_state is not None:
            self.clf.model.load_state_dict(self.best_state, strict=False)
            self.validate()

    def _better(self, new: dict, old: dict) -> bool:
        if self.config.select == "accuracy":
            return (new["val_accuracy"], -new["val_loss"]) > (old["val_accuracy"], -old["val_loss"])
        return new["val_loss"] < old["val_loss"] - 1e-4

    @property
    def rank_key(self) -> tuple:
        """Smaller is better: how Auto ranks candidates (the same measure that picks checkpoints)."""
        if self.best is None:
            return (math.inf, math.inf)
        if self.config.select == "accuracy":
            return (-self.best["val_accuracy"], self.best["val_loss"])
        return (self.best["val_loss"], -self.best["val_accuracy"])
