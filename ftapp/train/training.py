"""The training part of one run, from encoded examples to the model kept.

Every run first runs the pre-trained model over the examples once (the frozen pass) and fits a
logistic regression on its features: the **first model**, usable seconds after the run starts
(the "first_model" event: the job saves it, so Try it, Evaluate and Export work while fine-tuning
goes on). Fine-tuning then starts from that fitted head (LP-FT: Kumar et al., ICLR 2022) and
replaces the first model only when it beats it on data that did not choose it:

- Enough validation data: the validation examples choose the checkpoint, early stopping and
  Auto's candidate; fine-tuning is compared with the first model cross-fitted (each half of the
  validation examples scored by the checkpoint the other half chose: selection.crossfit). With
  Auto (the default) the first model is kept unless fine-tuning does better there; with Auto off
  the settings given are kept, unless fine-tuning diverged.
- Little validation data: cross-validation on all the examples (crossval.py).

Nothing here knows about the run store: events go through `emit`, and a `Training` triggers
"first_model" (outcome), "best" (fitter: a better checkpoint, beating the first model so far) and
"checkpoint" (fitter, final) for whoever registered.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ftapp import tasks
from ftapp.runs import Candidate, Kept, Status
from ftapp.train import prefix_cache, selection, words
from ftapp.train.selection import scored
from ftapp.train.config import (EVAL_BATCH, HEAD_INITS, METHODS, MIN_VAL_PER_CLASS, SEARCH_MIN_VAL, SMALL_VAL,
                                TrainConfig)
from ftapp.train.device import autocast
from ftapp.train.distributed import SINGLE, Distributed
from ftapp.train.loop import Callbacks, Fitter, Recipe, Why
from ftapp.train.prepared import Prepared
from ftapp.train.probe import Probe, fit_probe, folds_for
from ftapp.train.recipes import recipes_for
from ftapp.train.schedule import Length, plan_length
from ftapp.train.search import Candidates, rung_plan, successive_halving

HOLDOUT, CROSS_VALIDATION, TRAINING_DATA = "validation split", "cross-validation", "training data"


@dataclass
class Outcome:
    """What training decided, and the evidence."""
    kept: str                                # Kept.FINE_TUNED | Kept.FIRST_MODEL
    clf: object                              # the model kept (a LoRA candidate trains its own copy)
    probe: Probe                             # the first model's head
    probs: torch.Tensor                      # the kept model on the reported examples
    y: list[int]
    validation: str = HOLDOUT                # what the reported examples are
    rows: list[int] | None = None            # which evaluated examples `probs` covers (None: all of them)
    recipe: Recipe | None = None
    first: dict = field(default_factory=dict)          # the first model's numbers there
    first_probs: object = None               # the first model's probabilities on all evaluated examples
    check: dict | None = None                # fine-tuned vs first model on the checking half (words.compared)
    candidates: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    epochs_run: int = 0
    best_epoch: int | float | None = None
    why: str | None = None                   # why fine-tuning ended (loop.Why)
    message: str = ""
    features: torch.Tensor | None = None     # the pre-trained head inputs of train + val (data check, learning curve)
    probe_oof: np.ndarray | None = None      # the first model's out-of-fold probabilities there (data check)

    @property
    def status(self) -> str:
        return Status.STOPPED if self.why == Why.STOPPED else Status.FINISHED

    @property
    def fine_tuned(self) -> bool:
        return self.kept == Kept.FINE_TUNED


def comparison(ft_probs, probe_probs, y, mask=None, class_weights=None) -> dict:
    """Fine-tuned (cross-fitted: selection.crossfit) vs the first model on the same examples, with
    the paired test (on the examples each gets wholly right)."""
    y, task = np.asarray(y), tasks.of(y)
    mask = np.ones(len(y), dtype=bool) if mask is None else np.asarray(mask)
    ft, pr = task.correct(np.asarray(ft_probs)[mask], y[mask]), task.correct(np.asarray(probe_probs)[mask], y[mask])
    return {"ft": scored(ft_probs, y, mask, class_weights), "probe": scored(probe_probs, y, mask, class_weights),
            "test": selection.paired(ft, pr)}


class Training(Callbacks):
    def __init__(self, clf, config: TrainConfig, device, precision: str, emit, stop_event, budget, clock,
                 class_weights: torch.Tensor | None, shutdown_event=None, resume: dict | None = None,
                 dist: Distributed = SINGLE):
        """resume: a checkpoint's state, to go on from it instead of searching and training from the start;
        dist: this process's place among several training the run (every rank takes the same decisions)."""
        self.clf, self.config, self.device, self.precision, self.dist = clf, config, device, precision, dist
        self.emit, self.stop_event, self.budget, self.clock = emit, stop_event, budget, clock
        self.class_weights, self.shutdown_event, self.resume = class_weights, shutdown_event, resume
        self.n_params = sum(p.numel() for p in clf.model.parameters())
        self.candidates = Candidates(emit)
        # the pre-trained weights: every recipe, every fold and the first model start from these
        self.initial = {k: v.detach().clone() for k, v in clf.model.state_dict().items()}
        self.features: torch.Tensor | None = None
        self.pool: list[np.ndarray] = []     # every validation's probabilities, of every recipe tried
        self.task = tasks.OneLabel           # what the targets ask for (tasks.py): set when a run starts

    # ---- building blocks (also used by crossval.py) -------------------------------------------
    def recipes(self, n_val: int) -> list[Recipe]:
        """Auto searches only when the validation examples can rank settings (SEARCH_MIN_VAL): below
        that, candidates a point or two apart are ranked by chance, and the search costs half a run more."""
        recipes = recipes_for(self.config, self.clf.n_blocks, self.clf.modality, self.n_params)
        if len(recipes) > 1 and n_val < SEARCH_MIN_VAL:
            self.emit("info", notice=words.no_search(n_val, SEARCH_MIN_VAL))
            return recipes[:1]
        return recipes

    def boundaries(self, recipes: list[Recipe]) -> list[int]:
        return sorted({r.frozen for r in recipes if self.config.cache_prefix
                       and prefix_cache.cache_supported(self.clf, r.frozen, self.config.augment)})

    def frozen_pass(self, items: list, boundaries: list[int], done_before: int = 0, total: int | None = None):
        """The pre-trained model over `items` once: states at the boundaries, head inputs."""
        total = total or len(items)
        report = lambda done, _n: self.clock.preparing((done_before + done) / total)   # noqa: E731
        return prefix_cache.compute_states(self.clf, items, boundaries, EVAL_BATCH, self.device, report,
                                           autocast(self.precision, self.device), head_inputs=True, dist=self.dist)

    def length(self, n_train: int) -> Length:
        c = self.config
        return plan_length(n_train, c.batch_size, epochs=c.epochs, min_steps=c.min_steps, warmup_ratio=c.warmup_ratio)

    def probe(self, features: torch.Tensor, y, groups=None) -> Probe:
        cw = self.class_weights.numpy() if self.class_weights is not None else None
        return fit_probe(features, list(y), len(self.clf.labels), groups=groups, seed=self.config.seed,
                         class_weight=cw if self.task.kind == tasks.ONE else None, oof=False,
                         modality=self.clf.modality)

    def start_from(self, probe: Probe) -> dict:
        """The pre-trained weights with the first model's head; every recipe starts from this (LP-FT)."""
        self.clf.model.load_state_dict(self.initial)
        self.clf.freeze(0)
        if self.config.head_init == HEAD_INITS.probe:
            self.clf.set_head(probe.weight, probe.bias)
        return {k: v.detach().clone() for k, v in self.clf.model.state_dict().items()}

    def keep_probe(self, probe: Probe) -> None:
        """The first model on `clf`: the pre-trained weights, every block frozen, the fitted head."""
        self.clf.model.load_state_dict(self.initial)
        self.clf.freeze(self.clf.n_blocks)
        self.clf.set_head(probe.weight, probe.bias)

    def fitter(self, data: Prepared, recipe: Recipe, length: Length, pretrained: dict, *, deadline=None,
               curves=None, candidate: bool = False, pooled: bool = False, rate=None) -> Fitter:
        """A fitter wired to the clock; `curves`: "main" (the run's own curves), a part's tag (the
        cross-validation's lines), or None; `candidate`: a row in the table of candidates; `pooled`:
        its validations join the pool the first model is compared with (crossfit)."""
        clf, kw = self.clf, {}
        if recipe.method == METHODS.lora:   # LoRA changes the module tree: it trains its own copy
            clf = copy.deepcopy(self.clf)
            clf.freeze(recipe.frozen)
            clf.add_lora(r=self.config.lora_r)
        else:
            kw["pretrained"] = pretrained
        f = Fitter(clf, data, recipe, length, config=self.config, device=self.device, precision=self.precision,
                   stop_event=self.stop_event, class_weights=self.class_weights,
                   deadline=deadline or self.budget.training_deadline, rate=rate, dist=self.dist, **kw)
        f.shutdown_event = self.shutdown_event   # only the kept fitter checkpoints; the others just end the process
        f.add_callback("step", lambda _f, **_d: self.clock.tick())
        if pooled:
            f.add_callback("epoch", lambda ff, **_m: self.pool.append(ff.val_probs.numpy()))
        if curves is not None:
            self.show_curves(f, curves)
        if candidate:
            self.candidates.follow(f)
        return f

    def show_curves(self, f: Fitter, curves) -> None:
        tag = {} if curves == "main" else {"part": curves}
        f.add_callback("step", lambda _f, **d: self.emit("step", **d, **tag))
        f.add_callback("epoch", lambda _f, **d: self.emit("epoch", **d, **tag))
        if curves == "main":
            f.add_callback("best", lambda _f, **d: self.emit("best", **d))

    def first_model(self, probe: Probe, probs, y, validation: str, probe_oof=None) -> Outcome:
        """The first model is the model now: on `clf`, announced (the job saves it)."""
        first = Outcome(Kept.FIRST_MODEL, self.clf, probe, probs, list(y), validation,
                        first=scored(probs, y, class_weights=self.class_weights), first_probs=np.asarray(probs),
                        probe_oof=probe_oof)
        self.keep_probe(probe)
        self.candidates.update(self.task.first_model, status=Candidate.FIRST, val_loss=first.first["loss"],
                               **{f"val_{self.task.score_key}": selection.score_of(first.first)})
        self.trigger("first_model", outcome=first)
        return first

    # ---- the validation-split path -------------------------------------------------------------
    def run(self, train_x, train_y, val_x, val_y, groups_all=None) -> Outcome:
        """groups_all: a duplicate-group id per example of train + val (identical examples share one)."""
        self.task = tasks.of(train_y)
        rare = self.rare_in_validation(val_y, train_y + val_y, groups_all)
        if len(val_y) < SMALL_VAL or rare:
            from ftapp.train.crossval import cross_validated

            if rare:
                self.emit("info", notice=words.cross_validating(rare))
            out = cross_validated(self, train_x + val_x, train_y + val_y, groups_all, reason=rare or words.TOO_FEW)
        else:
            out = self.holdout(train_x, train_y, val_x, val_y,
                               None if groups_all is None else groups_all[:len(train_x)])
        out.features, out.candidates = self.features, self.candidates.table()
        return out

    def rare_in_validation(self, val_y, all_y, groups) -> str | None:
        """Why the split cannot check some class (it has under MIN_VAL_PER_CLASS validation examples),
        when cross-validation can (every class has two distinct examples); else None. A class with one
        or two validation examples swings on each of them, and a model that handles it worse — fine-tuned
        on its ten training examples — looks as good as one that handles it better. One class per example."""
        if self.task.kind != tasks.ONE or not len(val_y):
            return None
        counts = np.bincount(np.asarray(val_y), minlength=len(self.clf.labels))
        c = int(counts.argmin())
        if counts[c] >= MIN_VAL_PER_CLASS or folds_for(all_y, groups, self.config.seed) is None:
            return None
        return words.too_few_of(self.clf.labels[c], int(counts[c]))

    def holdout(self, train_x, train_y, val_x, val_y, train_groups=None) -> Outcome:
        recipes = self.recipes(len(val_y))
        boundaries = self.boundaries(recipes)
        self.emit("phase", phase="computing the frozen model's outputs once")
        total = len(train_x) + len(val_x)
        tr_pass = self.frozen_pass(train_x, boundaries, 0, total)
        va_pass = self.frozen_pass(val_x, boundaries, len(train_x), total)
        data = Prepared(self.clf, train_x, train_y, val_x, val_y, self.device, tr_pass, va_pass)
        self.features = torch.cat([tr_pass.head_inputs, va_pass.head_inputs])
        self.emit("info", used_cache=bool(boundaries), precision=self.precision)

        self.emit("phase", phase="fitting the first model on the frozen features")
        probe = self.probe(tr_pass.head_inputs, train_y, train_groups)
        probe_probs = self.task.probs(probe.logits(va_pass.head_inputs))
        first = self.first_model(probe, probe_probs, val_y, HOLDOUT)
        pretrained = self.start_from(probe)
        length = self.length(len(train_x))
        self.emit("info", plan=length.to_dict(), probe=first.first)
        started = time.time()
        fitter = self._kept_fitter(data, recipes, length, pretrained)
        self._save_when_ahead(fitter, probe_probs, val_y)
        fitter.add_callback("checkpoint", lambda f, final: self.trigger(
            "checkpoint", fitter=f, final=final, extra={"candidates": self.candidates.table(), "pool": [torch.from_numpy(p) for p in self.pool]}))
        fitter.train()
        fitter.deactivate()
        out = self._decide(fitter, first, probe_probs, val_y)
        out.train_seconds, out.epochs_run = time.time() - started, fitter.epoch
        return out

    def _kept_fitter(self, data, recipes, length, pretrained) -> Fitter:
        """The fitter that trains to the end: resumed, the only recipe, or Auto's winner — active."""
        if self.resume is not None:
            fitter = self.fitter(data, Recipe(**self.resume["recipe"]), length, pretrained, curves="main",
                                 pooled=True)
            fitter.activate()
            fitter.load_state_dict(self.resume)
            self.pool.extend(np.asarray(p) for p in self.resume.get("pool") or [])
            for row in self.resume.get("candidates") or []:
                self.candidates.rows[row["name"]] = row
            self.clock.plan(length.total_steps - fitter.step)
            self.emit("phase", phase=f"going on from its checkpoint at epoch {fitter.epoch}")
            return fitter
        if len(recipes) == 1:
            self.clock.plan(length.total_steps)
            self.emit("phase", phase="training")
            fitter = self.fitter(data, recipes[0], length, pretrained, curves="main", pooled=True)
            fitter.activate()
            return fitter
        self.emit("phase", phase=f"Auto: trying {len(recipes)} settings briefly")
        rungs, planned = rung_plan(length, len(recipes))
        self.clock.plan(planned)
        fitters = [self.fitter(data, r, length, pretrained, candidate=True, pooled=True) for r in recipes]
        winner = successive_halving(fitters, rungs, self.candidates)
        self.emit("phase", phase=f"training the best settings: {winner.recipe.name}")
        for point in winner.history.steps:    # its curves so far become the run's: it goes on from there
            self.emit("step", **point)
        for ev in winner.history.evals:
            self.emit("epoch", **ev)
        if winner.best:
            self.emit("best", **winner.best)
        self.show_curves(winner, "main")
        winner.activate()
        return winner

    def crossfitted(self, y) -> np.ndarray:
        return selection.crossfit(self.pool, y, self.config.seed, self.class_weights, self.config.select)

    def _save_when_ahead(self, fitter: Fitter, probe_probs, y) -> None:
        """A new best checkpoint may replace the first model on disk while training goes on (a crash
        then keeps the better model) once fine-tuning beats it on data that did not choose."""
        def on_best(f, **_m):
            c = comparison(self.crossfitted(y), probe_probs, y, class_weights=self.class_weights)
            if selection.better(c["ft"], c["probe"], self.config.select):
                with prefix_cache.whole_model(f.clf):
                    self.trigger("best", fitter=f)
        fitter.add_callback("best", on_best)

    def _decide(self, fitter: Fitter, first: Outcome, probe_probs, y) -> Outcome:
        """Keep fine-tuning's best checkpoint when fine-tuning beats the first model on data that did
        not choose (with Auto off: unless it diverged), else the first model."""
        out = Outcome(Kept.FIRST_MODEL, self.clf, first.probe, probe_probs, list(y), HOLDOUT, first=first.first,
                      first_probs=first.first_probs, why=fitter.done,
                      best_epoch=fitter.best["epoch"] if fitter.best else None)
        if fitter.best is not None and fitter.done != Why.DIVERGED:
            fitter.activate()
            fitter.restore_best()          # the best checkpoint's weights, and its validation probabilities
            fitter.deactivate()
            out.check = comparison(self.crossfitted(y), probe_probs, y, class_weights=self.class_weights)
            if not self.config.auto or selection.better(out.check["ft"], out.check["probe"], self.config.select):
                out.kept, out.clf, out.recipe, out.probs = Kept.FINE_TUNED, fitter.clf, fitter.recipe, fitter.val_probs
        if not out.fine_tuned:
            self.keep_probe(first.probe)
        out.message = words.holdout_message(out.fine_tuned, fitter.done, fitter.recipe.name, out.best_epoch,
                                            self.config.auto, out.check, self.config.select, self.task.score_name,
                                            words.first_words(self.task.first_model))
        return out
