"""Small data: k-fold cross-validation on all the examples decides between the first model and
fine-tuning, and how long to fine-tune.

Each fold fine-tunes from its own fitted head and is checked on its held-out part at every
validation; the predictions there, fold by fold, are out-of-fold predictions of the whole set. The
length is the check with the best out-of-fold accuracy; fine-tuning is compared with the first
model's out-of-fold predictions cross-fitted (each half of the examples scored at the length the
other half chose: selection.crossfit). When one side is clearly ahead after the first fold (a
paired test on its examples), the other folds are skipped. The final model trains on everything for the chosen number of steps — or as many of
them as the time left allows, a length the folds measured too.

Every number is computed on the examples actually scored: a fold cut off before its first check
adds none, and fine-tuning's numbers cover only the folds that ran.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ftapp.runs import Candidate, Kept
from ftapp.train import selection, words
from ftapp.train.loop import Why
from ftapp.train.prepared import Prepared
from ftapp.train.probe import folds_for
from ftapp.train.recipes import default_recipe
from ftapp.train.schedule import refit_length
from ftapp.train.training import CROSS_VALIDATION, TRAINING_DATA, Outcome, Training, comparison, scored

FINAL_WEIGHT = 1.5      # the final run's share of the time left, against one fold's


def cross_validated(t: Training, all_x, all_y, groups, reason: str = words.TOO_FEW) -> Outcome:
    """reason: why a split was not used, for the run's message (words.TOO_FEW, words.too_few_of)."""
    cfg, clf = t.config, t.clf
    recipe = default_recipe(cfg, clf.n_blocks, clf.modality)
    boundaries = t.boundaries([recipe])
    t.emit("phase", phase="computing the frozen model's outputs once")
    all_pass = t.frozen_pass(all_x, boundaries)
    base = Prepared(clf, all_x, all_y, [], [], t.device, all_pass, None)
    t.emit("info", used_cache=bool(boundaries), precision=t.precision)
    y, features = np.asarray(all_y), all_pass.head_inputs
    t.features = features
    folds = folds_for(y, groups, cfg.seed)
    t.emit("phase", phase="fitting the first model on the frozen features")
    probe_all = t.probe(features, all_y, groups)
    if folds is None:   # a class with fewer than two distinct examples: nothing can be checked
        first = t.first_model(probe_all, t.task.probs(probe_all.logits(features)), all_y, TRAINING_DATA)
        first.message = ("Too few distinct examples per class to check fine-tuning; kept the first model (its "
                         "numbers are on the training examples themselves, so optimistic).")
        return first
    fold_probes = [t.probe(features[tr], y[tr], None if groups is None else [groups[i] for i in tr])
                   for tr, _ in folds]
    probe_oof = np.zeros((len(y), len(clf.labels)))
    for p, (_, te) in zip(fold_probes, folds):
        probe_oof[te] = t.task.probs(p.logits(features[te])).numpy()
    first = t.first_model(probe_all, torch.tensor(probe_oof).float(), all_y, CROSS_VALIDATION, probe_oof=probe_oof)
    run = _Folds(t, base, recipe, folds, probe_oof, reason)
    run.train_folds()
    out = run.decide(first)
    out.probe_oof = probe_oof
    return out


class _Folds:
    """The folds' fine-tuning: out-of-fold probabilities per validation, and the decision."""

    def __init__(self, t: Training, base: Prepared, recipe, folds, probe_oof, reason: str):
        self.t, self.base, self.recipe, self.folds, self.probe_oof = t, base, recipe, folds, probe_oof
        self.reason = reason                     # why a split was not used (the message says it)
        self.y = base.y["train"].numpy()
        self.length = t.length(len(folds[0][0]))
        self.oof: list[np.ndarray] = []          # per validation j: the folds' probabilities
        self.reached: list[int] = []             # validations made, per fold that ran
        self.rows: list[np.ndarray] = []         # held-out examples, per fold that ran
        self.decided_early = False
        self.why: str | None = None              # why the last fold ended
        self.started = time.time()
        self.seconds_per_step: float | None = None

    def train_folds(self) -> None:
        t = self.t
        n, c = len(self.y), len(t.clf.labels)
        t.clock.plan((len(self.folds) + 1) * self.length.total_steps)
        t.emit("info", plan=self.length.to_dict(), cross_validation_folds=len(self.folds))
        steps = 0
        for f, (tr, te) in enumerate(self.folds):
            t.emit("phase", phase=f"checking fine-tuning on part {f + 1} of {len(self.folds)} (cross-validation)")
            deadline = t.dist.broadcast(time.time() + t.budget.training_left() / (len(self.folds) - f + FINAL_WEIGHT))
            pretrained = t.start_from(t.probe(self.base.head_inputs["train"][tr], self.y[tr]))
            fitter = t.fitter(self.base.subset(tr.tolist(), te.tolist()), self.recipe, self.length, pretrained,
                              deadline=deadline, curves=f + 1)
            history: list[np.ndarray] = []
            fitter.add_callback("epoch", lambda ff, **m: m.get("cut") or history.append(ff.val_probs.numpy()))
            fitter.activate()
            fitter.train()
            fitter.deactivate()
            self.why = fitter.done
            steps += fitter.step
            for j, probs in enumerate(history):
                if len(self.oof) <= j:
                    self.oof.append(np.zeros((n, c)))
                self.oof[j][te] = probs
            if history:
                self.reached.append(len(history))
                self.rows.append(te)
            self.seconds_per_step = t.dist.broadcast((time.time() - self.started) / max(steps, 1))
            if fitter.done in Why.CUT or t.dist.broadcast(t.budget.training_left() <= 0):
                break
            if f == 0 and len(self.folds) > 1 and history and self._clear_after_first_fold():
                self.decided_early = True
                break

    def _best_check(self, rows: np.ndarray, upto: int) -> int:
        """The validation (0-based) whose out-of-fold predictions do best on `rows`."""
        cw, select = self.t.class_weights, self.t.config.select
        return min(range(upto), key=lambda j: selection.rank_key(scored(self.oof[j][rows], self.y[rows],
                                                                        class_weights=cw), select))

    def _check(self, rows: np.ndarray, upto: int) -> dict:
        """Fine-tuning, its length cross-fitted, against the first model on `rows`."""
        t = self.t
        crossfitted = selection.crossfit([self.oof[j][rows] for j in range(upto)], self.y[rows], t.config.seed,
                                         t.class_weights, t.config.select)
        return comparison(crossfitted, self.probe_oof[rows], self.y[rows], class_weights=t.class_weights)

    def _clear_after_first_fold(self) -> bool:
        test = self._check(self.rows[0], self.reached[0])["test"]
        return test["p_value"] < selection.ALPHA and test["only_a"] != test["only_b"]

    def decide(self, first: Outcome) -> Outcome:
        t, cfg = self.t, self.t.config
        n_run = len(self.rows)
        stopped = t.dist.agree(t.stop_event.is_set())[0]
        out = Outcome(Kept.FIRST_MODEL, t.clf, first.probe, torch.tensor(self.probe_oof).float(), list(self.y),
                      CROSS_VALIDATION, first=first.first, first_probs=self.probe_oof,
                      why=Why.STOPPED if stopped else self.why)
        if not n_run:
            out.message = words.cv_message(False, len(self.folds), 0, None, False,
                                           first=words.first_words(t.task.first_model), reason=self.reason)
            return out
        rows = np.sort(np.concatenate(self.rows))
        upto = min(self.reached)
        j = self._best_check(rows, upto)
        out.check = self._check(rows, upto)
        t.candidates.update(self.recipe.name, recipe=self.recipe.to_dict(), status=Candidate.CHECKED,
                            val_loss=out.check["ft"]["loss"],
                            **{f"val_{t.task.score_key}": selection.score_of(out.check["ft"])})
        ahead = selection.better(out.check["ft"], out.check["probe"], cfg.select)
        note = words.STOPPED_BEFORE_FINAL if (ahead or not cfg.auto) and stopped else ""
        if (ahead or not cfg.auto) and not stopped:
            j, note = self._fit_the_time(j, rows)
            if j is not None and self._final(j, out):
                out.rows, out.probs = rows.tolist(), torch.tensor(self.oof[j][rows]).float()
                out.y = self.y[rows].tolist()
            elif j is not None:
                note = words.FINAL_STOPPED
        if not out.fine_tuned:
            t.keep_probe(first.probe)
        out.train_seconds = time.time() - self.started
        out.message = words.cv_message(out.fine_tuned, len(self.folds), n_run, out.check, self.decided_early, note,
                                       words.first_words(t.task.first_model), reason=self.reason)
        return out

    def steps_at(self, j: int) -> int:
        return (j + 1) * self.length.eval_every * self.length.steps_per_epoch

    def _fit_the_time(self, j: int, rows) -> tuple[int | None, str]:
        """The chosen length, or the longest that still fits the time left and still beats the first
        model (cross-fitted among the lengths that fit; None: none does)."""
        t = self.t
        left = t.dist.broadcast(t.budget.training_left())   # one clock decides for every process
        if self.steps_at(j) * (self.seconds_per_step or 0) <= left:
            return j, ""
        fits = [i for i in range(j + 1) if self.steps_at(i) * self.seconds_per_step <= left]
        if fits:
            c = self._check(rows, len(fits))
            if selection.better(c["ft"], c["probe"], t.config.select) or not t.config.auto:
                i = self._best_check(rows, len(fits))
                return i, words.final_shortened(self.steps_at(i), self.steps_at(j))
        return None, words.NO_TIME_FOR_FINAL

    def _final(self, j: int, out: Outcome) -> bool:
        """Fine-tune on all the examples for the chosen length; False when stopped before the end."""
        t, steps = self.t, self.steps_at(j)
        t.emit("phase", phase=f"training on all {len(self.y)} examples for {steps} steps")
        t.clock.plan(steps)
        pretrained = t.start_from(out.probe)
        length = refit_length(self.length, len(self.y), t.config.batch_size)   # the schedule the folds checked
        final = t.fitter(self.base, self.recipe, length, pretrained, curves="all",
                         deadline=t.budget.end)   # the length was checked to fit; scoring may wait a little
        final.activate()
        final.train(until_step=steps)
        final.deactivate()
        if final.done != Why.FINISHED:
            out.why = final.done
            return False
        out.kept, out.clf, out.recipe, out.why = Kept.FINE_TUNED, final.clf, self.recipe, Why.FINISHED
        out.best_epoch, out.epochs_run = (j + 1) * self.length.eval_every, final.epoch
        return True
