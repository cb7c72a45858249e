"""Choosing how to train: the default recipe, the Auto search, and the small-data path.

Every run starts from a fitted head (the linear probe on the frozen model's features, probe.py)
and compares fine-tuning with that probe ("frozen features + logistic regression"); with Auto
(the default) the probe is kept when it wins, so the result never loses to frozen features on the
data that chooses. With Auto off the settings given are trained and kept (the probe is still
reported as a baseline), unless fine-tuning diverges.

- Enough validation data: the default recipe, or with Auto a short successive-halving search
  (Jamieson & Talwalkar, 2016) over frozen blocks and learning rate on the cached frozen prefix:
  four candidates train for an eighth of the plan, the better half to a quarter, the best one on
  from there to the end (RUNGS). Settings the user fixed are not searched.
- Little validation data (a handful per class): k-fold cross-validation on all the labelled
  data chooses between the probe and fine-tuning and the training length; the final model trains
  on all of it for that length, and the reported numbers are out-of-fold predictions.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ftapp.models import default_frozen_layers
from ftapp.train import prefix_cache
from ftapp.train.config import TrainConfig, default_lr
from ftapp.train.device import autocast
from ftapp.train.loop import Fitter, Prepared, Recipe
from ftapp.train.probe import Probe, fit_probe, folds_for
from ftapp.train.schedule import Length, plan_length

SMALL_VAL = 60          # fewer validation examples than this: cross-validate instead of trusting them
LORA_LR_FACTOR = 3      # LoRA's adapters start at zero and want a higher rate than whole blocks (measured:
                        # MiniLM on debian6, rates 1e-4 / 3e-4 / 1e-3 → 0.865 / 0.886 / 0.861 test accuracy)
# Successive halving: every candidate trains to the first share of the planned length, the better
# half to the second, the winner on to the end (or its early stop). Measured on three English sets
# against (1/4, 1/2): 1.3-2.0x a default run instead of 1.5-2.6x, test accuracy within 0.006 on average.
RUNGS = (1 / 8, 1 / 4)
LARGE_MODEL = 100e6     # parameters above which Auto also tries LoRA (memory matters more there)
PROBE = "frozen features + logistic regression"


def default_recipe(config: TrainConfig, n_blocks: int, modality: str) -> Recipe:
    """What a run with no choices uses (and Auto's first candidate)."""
    method = config.method or "full"
    k = config.frozen_layers if config.frozen_layers is not None else default_frozen_layers(n_blocks, modality)
    lr = config.lr or default_lr(modality) * (LORA_LR_FACTOR if method == "lora" else 1)
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
        out[-1] = Recipe(base.frozen, default_lr(modality) * LORA_LR_FACTOR, "lora", 1.0)
    return out


@dataclass
class Outcome:
    """What training decided, and the evidence."""
    chosen: str                          # "fine-tuned" | "probe"
    recipe: Recipe | None                # the fine-tuning recipe kept (None: the probe)
    probe: Probe
    fitter: Fitter | None = None
    val_probs: torch.Tensor | None = None        # the kept model on the validation data (or out-of-fold)
    val_y: list[int] | None = None
    cross_validated: bool = False
    on_training_data: bool = False       # too little data to check on anything else: optimistic numbers
    candidates: list[dict] = field(default_factory=list)
    probe_val: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    epochs_run: int = 0
    best_epoch: int | float | None = None
    status: str = "finished"             # "finished" | "stopped"
    message: str = ""
    features: torch.Tensor | None = None  # the pre-trained head inputs of train + val (the data check)


class Candidates:
    """Each candidate's progress as 'candidate' events (the app shows them live) and as rows."""

    def __init__(self, emit):
        self.emit = emit
        self.rows: dict[str, dict] = {}

    def update(self, name: str, **data) -> None:
        row = self.rows.setdefault(name, {"name": name, "curve": []})
        row.update(data)
        self.emit("candidate", **row)

    def emitter(self, recipe: Recipe):
        def emit(kind, **data):
            if kind == "epoch":
                row = self.rows.get(recipe.name, {"curve": []})
                self.update(recipe.name, recipe=recipe.to_dict(), status="training", steps=data["step"],
                            val_loss=data["val_loss"], val_accuracy=data["val_accuracy"],
                            val_macro_f1=data["val_macro_f1"],
                            curve=row["curve"] + [[data["step"], data["val_loss"], data["val_accuracy"]]])
        return emit

    def table(self) -> list[dict]:
        return list(self.rows.values())


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.float(), -1)


class Training:
    """The training part of one run, from encoded examples to the kept model (on `clf`)."""

    def __init__(self, clf, config: TrainConfig, device, precision: str, emit, stop_event, deadline: float,
                 class_weights: torch.Tensor | None, on_best=None, on_checkpoint=None, shutdown_event=None,
                 resume: dict | None = None):
        """on_checkpoint(state): the kept fitter's state after validations and at shut-down (the
        search itself is not checkpointed: a run cut off during it starts again); resume: such a
        state, to go on from it instead of searching and training from the start."""
        self.clf, self.config, self.device, self.precision = clf, config, device, precision
        self.emit, self.stop_event, self.deadline = emit, stop_event, deadline
        self.class_weights, self.on_best = class_weights, on_best
        self.on_checkpoint, self.shutdown_event, self.resume = on_checkpoint, shutdown_event, resume
        self.n_params = sum(p.numel() for p in clf.model.parameters())
        self.candidates = Candidates(emit)
        # the pre-trained weights: every recipe, every fold and the probe start from these
        self.initial = {k: v.detach().clone() for k, v in clf.model.state_dict().items()}
        self._planned, self._done, self._started = 1, 0, time.time()
        self.features: torch.Tensor | None = None

    # ---- progress: one clock over every step of the training phase ------------------------
    def _plan(self, steps: int) -> None:
        self._planned, self._done, self._started = max(1, steps), 0, time.time()

    def _tick(self) -> None:
        self._done += 1
        share = min(1.0, self._done / self._planned)
        per_step = (time.time() - self._started) / self._done
        self.emit("progress", progress=round(0.1 + 0.85 * share, 4),
                  eta_seconds=round(per_step * max(0, self._planned - self._done) * 1.1, 1))

    def _main(self, kind, **data) -> None:
        """The kept model's own curves: to the run (the charts), and the clock."""
        if kind == "step":
            self._tick()
        self.emit(kind, **data)

    def _part(self, part):
        """A cross-validation part's curves go to the run tagged with the part (the charts draw one
        line per part; "all" is the final model on all the examples); 'best' stays the run's own."""
        def emit(kind, **data):
            if kind == "step":
                self._tick()
            if kind in ("step", "epoch"):
                self.emit(kind, **data, part=part)
        return emit

    def _quiet(self, also=None):
        """A candidate's or a fold's events: only the clock (and `also`, e.g. the candidate table)."""
        def emit(kind, **data):
            if kind == "step":
                self._tick()
            if also is not None:
                also(kind, **data)
        return emit

    # ---- helpers ---------------------------------------------------------------------------
    def recipes(self) -> list[Recipe]:
        cfg, clf = self.config, self.clf
        if cfg.auto:
            return auto_recipes(cfg, clf.n_blocks, clf.modality, self.n_params)
        return [default_recipe(cfg, clf.n_blocks, clf.modality)]

    def _boundaries(self, recipes: list[Recipe]) -> list[int]:
        return sorted({r.frozen for r in recipes
                       if self.config.cache_prefix and prefix_cache.cache_supported(self.clf, r.frozen, self.config.augment)})

    def frozen_pass(self, items: list, boundaries: list[int], progress=None) -> prefix_cache.FrozenPass:
        """The pre-trained model over `items` once: states at the boundaries, head inputs."""
        return prefix_cache.compute_states(self.clf, items, boundaries, 64, self.device, progress,
                                           autocast(self.precision, self.device), head_inputs=True)

    def length(self, n_train: int) -> Length:
        c = self.config
        return plan_length(n_train, c.batch_size, epochs=c.epochs, min_steps=c.min_steps, warmup_ratio=c.warmup_ratio)

    def fitter(self, data: Prepared, recipe: Recipe, length: Length, pretrained: dict, emit=None) -> Fitter:
        clf, kw = self.clf, {}
        if recipe.method == "lora":
            clf = copy.deepcopy(self.clf)
            clf.freeze(recipe.frozen)
            clf.add_lora(r=self.config.lora_r)
        else:
            kw["pretrained"] = pretrained
        return Fitter(clf, data, recipe, length, config=self.config, device=self.device, precision=self.precision,
                      emit=emit or self._main, stop_event=self.stop_event, class_weights=self.class_weights,
                      deadline=self.deadline, on_best=self.on_best if emit in (None, self._main) else None, **kw)

    def probe(self, features: torch.Tensor, y: list[int], groups=None) -> Probe:
        cw = self.class_weights.numpy() if self.class_weights is not None else None
        return fit_probe(features, y, len(self.clf.labels), groups=groups, seed=self.config.seed, class_weight=cw)

    def start_from(self, probe: Probe) -> dict:
        """The pre-trained weights with the probe as the head; every recipe starts from this (LP-FT)."""
        self.clf.model.load_state_dict(self.initial)
        self.clf.freeze(0)
        if self.config.head_init == "probe":
            self.clf.set_head(probe.weight, probe.bias)
        return {k: v.detach().clone() for k, v in self.clf.model.state_dict().items()}

    def keep_probe(self, probe: Probe) -> None:
        """The probe as the final model: the pre-trained weights, every block frozen, the probe as head."""
        self.clf.model.load_state_dict(self.initial)
        self.clf.freeze(self.clf.n_blocks)
        self.clf.set_head(probe.weight, probe.bias)

    # ---- the two paths ---------------------------------------------------------------------
    def run(self, train_x, train_y, val_x, val_y, groups_all=None) -> Outcome:
        """groups_all: a duplicate-group id per example of train + val (identical examples share one)."""
        if len(val_y) < SMALL_VAL:
            out = self.cross_validated(train_x + val_x, train_y + val_y, groups_all)
        else:
            out = self.holdout(train_x, train_y, val_x, val_y, None if groups_all is None else groups_all[:len(train_x)])
        out.features = self.features
        return out

    def holdout(self, train_x, train_y, val_x, val_y, train_groups=None) -> Outcome:
        recipes = self.recipes()
        boundaries = self._boundaries(recipes)
        total = len(train_x) + len(val_x)
        self.emit("phase", phase="computing the frozen model's outputs once")
        report = lambda done, _n, base=0: self.emit("progress", progress=0.1 * (base + done) / total, eta_seconds=None)
        tr_pass = self.frozen_pass(train_x, boundaries, report)
        va_pass = self.frozen_pass(val_x, boundaries, lambda d, n: report(d, n, len(train_x)))
        data = Prepared(self.clf, train_x, train_y, val_x, val_y, self.device, tr_pass, va_pass)
        self.features = torch.cat([tr_pass.head_inputs, va_pass.head_inputs])
        self.emit("info", used_cache=bool(boundaries), precision=self.precision)

        self.emit("phase", phase="fitting the head on the frozen features")
        probe = self.probe(tr_pass.head_inputs, train_y, train_groups)
        probe_val = self._probe_metrics(probe, va_pass.head_inputs, val_y)
        pretrained = self.start_from(probe)
        length = self.length(len(train_x))
        self.emit("info", plan=length.to_dict(), probe=probe_val)
        started = time.time()
        if self.resume is not None:
            fitter = self._resumed(data, length, pretrained)
        elif len(recipes) == 1:
            self._plan(length.total_steps)
            self.emit("phase", phase="training")
            fitter = self.fitter(data, recipes[0], length, pretrained)
            fitter.activate()
        else:
            self.emit("phase", phase=f"Auto: trying {len(recipes)} settings briefly")
            fitter = self.successive_halving(data, recipes, length, pretrained, probe_val)
            self.emit("phase", phase=f"training the best settings: {fitter.recipe.name}")
            self._replay(fitter)
        if self.on_checkpoint is not None:
            fitter.on_checkpoint = lambda state: self.on_checkpoint({**state, "candidates": self.candidates.table()})
        fitter.shutdown_event = self.shutdown_event
        fitter.train()
        fitter.deactivate()
        out = Outcome("fine-tuned", fitter.recipe, probe, fitter, val_y=val_y, candidates=self.candidates.table(),
                      probe_val=probe_val, train_seconds=time.time() - started, epochs_run=fitter.epoch,
                      best_epoch=fitter.best["epoch"] if fitter.best else None)
        return self._finish(out, fitter, data, probe, probe_val, va_pass.head_inputs)

    def _resumed(self, data: Prepared, length: Length, pretrained: dict) -> Fitter:
        """The kept fitter as the checkpoint left it (the same batches, rates, early-stopping count)."""
        state = self.resume
        fitter = self.fitter(data, Recipe(**state["recipe"]), length, pretrained)
        fitter.activate()
        fitter.load_checkpoint(state)
        for row in state.get("candidates") or []:
            self.candidates.rows[row["name"]] = row
        self._plan(length.total_steps)
        self._done = fitter.step
        self.emit("phase", phase=f"resumed after a restart at epoch {fitter.epoch}")
        return fitter

    def _finish(self, out: Outcome, fitter: Fitter, data: Prepared, probe: Probe, probe_val: dict, val_features):
        """Keep fine-tuning's best checkpoint, or the probe when it does better on validation (or
        fine-tuning diverged: the probe is still a sound model)."""
        out.status = "stopped" if fitter.done == "stopped" else "finished"
        ft_ok = fitter.best is not None and fitter.done != "diverged"
        # Auto keeps whichever is better; settings chosen by hand (Auto off) are kept unless they diverged
        ft_better = ft_ok and (not self.config.auto or (fitter.best["val_accuracy"], -fitter.best["val_loss"]) >=
                               (probe_val["val_accuracy"], -probe_val["val_loss"]))
        if ft_better:
            if fitter.clf is not self.clf:       # a LoRA candidate trained its own copy of the model
                self.clf.__dict__.update(fitter.clf.__dict__)
                fitter.clf = self.clf
            fitter.activate()
            fitter.restore_best()                # the best checkpoint, and its validation probabilities
            fitter.deactivate()
            out.val_probs = fitter.val_probs
        else:
            self.keep_probe(probe)
            out.chosen, out.recipe = "probe", None
            out.val_probs = _softmax(probe.logits(val_features))
        out.message = self._message(out, fitter, probe_val)
        return out

    def cross_validated(self, all_x, all_y, groups) -> Outcome:
        """Little validation data: k-fold on everything chooses probe vs fine-tuning and the length."""
        recipe = self.recipes()[0] if not self.config.auto else default_recipe(self.config, self.clf.n_blocks,
                                                                               self.clf.modality)
        boundaries = self._boundaries([recipe])
        self.emit("phase", phase="computing the frozen model's outputs once")
        all_pass = self.frozen_pass(all_x, boundaries, lambda d, n: self.emit("progress", progress=0.1 * d / n,
                                                                            eta_seconds=None))
        base = Prepared(self.clf, all_x, all_y, [], [], self.device, all_pass, None)
        self.emit("info", used_cache=bool(boundaries), precision=self.precision)
        y = np.asarray(all_y)
        folds = folds_for(y, groups, self.config.seed)
        self.emit("phase", phase="fitting the head on the frozen features")
        self.features = all_pass.head_inputs
        probe_all = self.probe(all_pass.head_inputs, all_y, groups)
        started = time.time()
        if folds is None:   # a class too small for two folds: the probe is all that can be checked
            self.keep_probe(probe_all)
            return Outcome("probe", None, probe_all, val_probs=_softmax(probe_all.logits(all_pass.head_inputs)),
                           val_y=all_y, on_training_data=True, train_seconds=time.time() - started,
                           probe_val=self._probe_metrics(probe_all, all_pass.head_inputs, all_y),
                           message="Too few examples per class to check fine-tuning; kept frozen features + "
                                   "logistic regression (its numbers are on the training data, so optimistic).")
        n, c = len(y), len(self.clf.labels)
        fold_length = self.length(len(folds[0][0]))
        self._plan((len(folds) + 1) * fold_length.total_steps)
        self.emit("info", plan=fold_length.to_dict(), cross_validation_folds=len(folds))
        probe_oof = np.zeros((n, c))
        ft_oof: list[np.ndarray] = []
        fold_losses: list[list[float]] = []
        length = None
        for f, (tr, te) in enumerate(folds):
            self.emit("phase", phase=f"checking fine-tuning on part {f + 1} of {len(folds)} (cross-validation)")
            fold = base.subset(tr.tolist(), te.tolist())
            fold_y = [all_y[i] for i in tr]
            probe = self.probe(fold.head_inputs["train"], fold_y, None if groups is None else [groups[i] for i in tr])
            probe_oof[te] = _softmax(probe.logits(fold.head_inputs["val"])).numpy()
            pretrained = self.start_from(probe)
            length = self.length(len(tr))
            fitter = self.fitter(fold, recipe, length, pretrained, emit=self._part(f + 1))
            fitter.keep_val_probs = True
            fitter.activate()
            fitter.train()
            fitter.deactivate()
            for j, (ev, probs) in enumerate(zip(fitter.history.evals, fitter.val_probs_history)):
                if len(ft_oof) <= j:
                    ft_oof.append(np.zeros((n, c)))
                    fold_losses.append([])
                ft_oof[j][te] = probs.numpy()
                fold_losses[j].append(ev["val_loss"])
            if fitter.done in ("stopped", "time"):
                break
        complete = [j for j, l in enumerate(fold_losses) if len(l) == len(folds)]
        probe_cv = self._oof_metrics(probe_oof, y)
        self.candidates.update(PROBE, status="baseline", **probe_cv)
        best_j = min(complete, key=lambda j: self._cv_rank(ft_oof[j], y, fold_losses[j])) if complete else None
        ft_cv = self._oof_metrics(ft_oof[best_j], y) if best_j is not None else None
        if ft_cv is not None:
            self.candidates.update(recipe.name, recipe=recipe.to_dict(), status="checked", **ft_cv)
        ft_better = ft_cv is not None and (not self.config.auto or (ft_cv["val_accuracy"], -ft_cv["val_loss"]) >=
                                           (probe_cv["val_accuracy"], -probe_cv["val_loss"]))
        pretrained = self.start_from(probe_all)
        if ft_better and not self.stop_event.is_set():
            # the same schedule, in steps, as in the folds, stopped where they did best
            steps = (best_j + 1) * length.eval_every * length.steps_per_epoch
            self.emit("phase", phase=f"training on all {n} examples for {steps} steps")
            final = self.fitter(Prepared(self.clf, all_x, all_y, [], [], self.device, all_pass, None), recipe,
                                length, pretrained, emit=self._part("all"))
            final.on_best = self.on_best
            final.activate()
            final.train(until_step=steps)
            final.deactivate()
            self.clf.model.load_state_dict(final.best_state, strict=False)
            out = Outcome("fine-tuned", recipe, probe_all, final, val_probs=torch.tensor(ft_oof[best_j]).float(),
                          val_y=all_y, cross_validated=True, candidates=self.candidates.table(), probe_val=probe_cv,
                          train_seconds=time.time() - started, epochs_run=final.epoch,
                          best_epoch=(best_j + 1) * length.eval_every,
                          status="stopped" if final.done == "stopped" else "finished")
        else:
            self.keep_probe(probe_all)
            out = Outcome("probe", None, probe_all, val_probs=torch.tensor(probe_oof).float(), val_y=all_y,
                          cross_validated=True, candidates=self.candidates.table(), probe_val=probe_cv,
                          train_seconds=time.time() - started,
                          status="stopped" if self.stop_event.is_set() else "finished")
        out.message = self._cv_message(out, ft_cv, probe_cv, len(folds))
        return out

    # ---- Auto: successive halving --------------------------------------------------------------
    def successive_halving(self, data: Prepared, recipes: list[Recipe], length: Length, pretrained: dict,
                           probe_val: dict) -> Fitter:
        """Every candidate trains to the first rung (RUNGS), the better half to the second, the best
        one to the end. Ranked like checkpoints (Fitter.rank_key). Returns the winner, active on the model."""
        total_evals = max(1, math.ceil(length.epochs / length.eval_every))
        rungs = sorted({max(1 + i, int(total_evals * share)) for i, share in enumerate(RUNGS)} - {total_evals})
        per_eval = length.eval_every * length.steps_per_epoch
        alive_at = [len(recipes)] + [max(1, len(recipes) // 2)] * (len(rungs) - 1) + [1]
        bounds = [0] + rungs + [total_evals]
        self._plan(sum(n * (b - a) * per_eval for n, a, b in zip(alive_at, bounds, bounds[1:])))
        self.candidates.update(PROBE, status="baseline", **probe_val)
        fitters = [self.fitter(data, r, length, pretrained, emit=self._quiet(self.candidates.emitter(r)))
                   for r in recipes]
        alive = list(fitters)
        for i, rung in enumerate(rungs):
            for f in alive:
                f.activate()
                f.train(until_evals=rung)
                f.deactivate()
                if f.done in ("stopped", "time"):
                    break
            keep = max(1, len(alive) // 2) if i < len(rungs) - 1 else 1
            ranked = sorted(alive, key=lambda f: (f.done == "diverged", f.rank_key))
            for f in ranked[keep:]:
                self.candidates.update(f.recipe.name, status="dropped")
            alive = ranked[:keep]
            if any(f.done in ("stopped", "time") for f in fitters):
                break
        winner = alive[0]
        self.candidates.update(winner.recipe.name, status="chosen")
        for f in fitters:
            if f is not winner:
                f.best_state = f._weights = f._opt = None   # free their memory
        winner.emit, winner.on_best = self._main, self.on_best
        winner.activate()
        return winner

    def _replay(self, fitter: Fitter) -> None:
        """The winner's curves so far become the run's curves (it goes on from where the search left it)."""
        for point in fitter.history.steps:
            self.emit("step", **point)
        for ev in fitter.history.evals:
            self.emit("epoch", **ev)
        if fitter.best:
            self.emit("best", **fitter.best)

    def _cv_rank(self, probs: np.ndarray, y: np.ndarray, losses: list[float]) -> tuple:
        """Smaller is better, the same measure that picks checkpoints (Fitter.rank_key)."""
        acc = float((probs.argmax(1) == y).mean())
        return (float(np.mean(losses)), -acc) if self.config.select == "loss" else (-acc, float(np.mean(losses)))

    # ---- numbers and words -------------------------------------------------------------------
    def _probe_metrics(self, probe: Probe, features, y: list[int]) -> dict:
        logits = probe.logits(features)
        return self._oof_metrics(_softmax(logits).numpy(), np.asarray(y))

    def _oof_metrics(self, probs: np.ndarray, y: np.ndarray) -> dict:
        from ftapp.evaluate import scores

        p = torch.tensor(probs).float().clamp_min(1e-12)
        yt = torch.as_tensor(y, dtype=torch.long)
        w = self.class_weights
        loss = torch.nn.functional.nll_loss(p.log(), yt, weight=w).item()
        s = scores(yt.tolist(), p.argmax(-1).tolist())
        return {"val_loss": round(loss, 5), "val_accuracy": round(s["accuracy"], 5),
                "val_macro_f1": round(s["macro_f1"], 5), "val_balanced_accuracy": round(s["balanced_accuracy"], 5)}

    @staticmethod
    def _message(out: Outcome, fitter: Fitter, probe_val: dict) -> str:
        if fitter.done == "diverged":
            return ("Fine-tuning stopped: the training loss became infinite or not-a-number, which usually means the "
                    "learning rate is too high — try a 10x lower learning rate. "
                    + ("Kept frozen features + logistic regression, which does not depend on it."
                       if out.chosen == "probe" else f"Kept the checkpoint from epoch {out.best_epoch}."))
        why = {"finished": "trained to the planned end", "early": "stopped early: validation had stopped improving",
               "time": "stopped at the time budget", "stopped": "stopped by request",
               "diverged": "stopped: the loss became infinite (learning rate too high)"}.get(fitter.done or "", "")
        if out.chosen == "probe":
            return (f"Fine-tuning ({why}) did not beat frozen features + logistic regression on the validation data "
                    f"(accuracy {probe_val['val_accuracy']:.3f}), so that simpler model was kept.")
        best = "lowest validation loss" if fitter.config.select == "loss" else "best validation accuracy"
        return f"{fitter.recipe.name}: {why}; kept the check with the {best} (epoch {out.best_epoch})."

    @staticmethod
    def _cv_message(out: Outcome, ft_cv, probe_cv, n_folds: int) -> str:
        cv = f"{n_folds}-fold cross-validation on all the examples (too few to set some aside)"
        if out.chosen == "probe":
            extra = (f" fine-tuning reached {ft_cv['val_accuracy']:.3f}, frozen features + logistic regression "
                     f"{probe_cv['val_accuracy']:.3f}," if ft_cv else "")
            return f"Kept frozen features + logistic regression:{extra} by {cv}."
        return (f"Fine-tuned on all the examples, as long as a {cv} found best (there: accuracy "
                f"{ft_cv['val_accuracy']:.3f}; frozen features + logistic regression {probe_cv['val_accuracy']:.3f}).")


