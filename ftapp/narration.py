"""A run's events as lines a person reads: what `ftapp train` prints on stderr and what the app's
status box lists under the status line. One place, so both tell the same story.

`Narrator(kind, data)` returns the line for an event (None: nothing worth a line). Step lines are
rate-limited (one every few seconds); everything else is said once.
"""
from __future__ import annotations

import time

from ftapp.runs import Candidate, Status
from ftapp.train.config import PRECISIONS

QUIET_PHASES = ("preparing data", Status.FAILED)   # bad data then fails with exactly one line, the reason
STEP_EVERY_S = 5.0


class Narrator:
    def __init__(self, started: float | None = None, steps: bool = True):
        self.started = started if started is not None else time.time()
        self.steps = steps
        self._last_step = 0.0

    def stamp(self, text: str) -> str:
        return f"[{time.time() - self.started:6.1f}s] {text}"

    def __call__(self, kind: str, data: dict) -> str | None:
        if kind == "phase":
            return None if data["phase"] in QUIET_PHASES else self.stamp(data["phase"])
        if kind == "step" and self.steps and time.time() - self._last_step > STEP_EVERY_S:
            self._last_step = time.time()
            return self.stamp(f"  epoch {data['epoch']:.2f}  step {data['step']}  loss {data['loss']:.4f}")
        if kind == "epoch":
            part = f"part {data['part']}, " if data.get("part") not in (None, "all") else ""
            return self.stamp(f"  {part}epoch {data['epoch']}: train loss {data['train_loss']:.4f}  val loss "
                              f"{data['val_loss']:.4f}  {_scores(data)}"
                              + (f"  val macro-F1 {data['val_macro_f1']:.3f}" if "val_macro_f1" in data else ""))
        if kind == "candidate" and data.get("status") in Candidate.ENDED:
            acc = f"  {_scores(data)}" if any(data.get(f"val_{k}") is not None for k in SCORES) else ""
            return self.stamp(f"  {data['status']:>11}: {data['name']}{acc}")
        if kind == "info":
            return self._info(data)
        return None

    def _info(self, data: dict) -> str | None:
        if "data_summary" in data:
            lines = [data["data_summary"]] + [f"Warning: {w}" for w in data.get("split_warnings", [])]
            test = f", {data['n_test']} held out for the final test" if data.get("n_test") else ""
            return "\n".join(lines + [f"Training on {data['n_train']} examples, validating on {data['n_val']}{test}."])
        if "first_model" in data:
            return self.stamp(data["first_model"]["message"])
        if "plan" in data:
            p, folds = data["plan"], data.get("cross_validation_folds")
            return (f"           Plan: up to {p['epochs']} epochs ({p['total_steps']} steps)"
                    + (f" in each of {folds} cross-validation parts, then once on all the examples" if folds else "")
                    + "; early stopping usually ends it sooner.")
        if "precision" in data:
            return (f"           Precision: {'bf16 mixed' if data['precision'] == PRECISIONS.bf16 else 'fp32'}. "
                    + ("Frozen blocks are computed once." if data["used_cache"] else ""))
        if "freezing" in data:
            return f"           {data['freezing']}"
        if data.get("language_warning"):
            return f"Warning: {data['language_warning']}"
        if data.get("notice"):
            return f"           {data['notice']}"
        return None


SCORES = {"accuracy": "accuracy", "micro_f1": "micro-F1", "r2": "R²", "mae": "MAE"}   # as printed


def _scores(data: dict) -> str:
    """'val accuracy 0.912' (or 'val micro-F1 0.68' for several labels per example)."""
    return "  ".join(f"val {name} {data[f'val_{k}']:.3f}" for k, name in SCORES.items()
                     if data.get(f"val_{k}") is not None)
