"""Auto's search: successive halving (Jamieson & Talwalkar, 2016) over a few recipes on the cached
frozen prefix, and the table of everything a run compares.

Every candidate trains to the first share of the planned length (RUNGS), the better half to the
second, the winner on to the end (or its early stop). Measured on three English sets against
(1/4, 1/2): 1.3-2.0x a default run instead of 1.5-2.6x, test accuracy within 0.006 on average.
Candidates are ranked like checkpoints (selection.rank_key), on the validation half that chooses.
"""
from __future__ import annotations

import math

from ftapp.runs import Candidate
from ftapp.train import selection
from ftapp.train.loop import Fitter, Why

RUNGS = (1 / 8, 1 / 4)


class Candidates:
    """Each candidate's progress as 'candidate' events (the app shows them live) and as rows."""

    def __init__(self, emit):
        self.emit = emit
        self.rows: dict[str, dict] = {}

    def update(self, name: str, **data) -> None:
        row = self.rows.setdefault(name, {"name": name, "curve": []})
        row.update(data)
        self.emit("candidate", **row)

    def follow(self, fitter: Fitter) -> None:
        """The fitter's validations become its row's numbers and curve."""
        def on_epoch(f, **m):
            row = self.rows.get(f.recipe.name, {"curve": []})
            status = row.get("status") if row.get("status") == Candidate.CHOSEN else Candidate.TRAINING
            self.update(f.recipe.name, recipe=f.recipe.to_dict(), status=status, steps=m["step"],
                        **{k: v for k, v in m.items() if k.startswith("val_")},
                        curve=row["curve"] + [[m["step"], m["val_loss"], selection.score_of(m)]])
        fitter.add_callback("epoch", on_epoch)

    def table(self) -> list[dict]:
        return list(self.rows.values())


def rung_plan(length, n_candidates: int) -> tuple[list[int], int]:
    """The validations after which candidates are compared, and how many steps the whole search
    plans (every candidate to the first rung, half of them to the next, the winner to the end)."""
    total_evals = max(1, math.ceil(length.epochs / length.eval_every))
    rungs = sorted({max(1 + i, int(total_evals * share)) for i, share in enumerate(RUNGS)} - {total_evals})
    per_eval = length.eval_every * length.steps_per_epoch
    alive_at = [n_candidates] + [max(1, n_candidates // 2)] * (len(rungs) - 1) + [1]
    bounds = [0] + rungs + [total_evals]
    return rungs, sum(n * (b - a) * per_eval for n, a, b in zip(alive_at, bounds, bounds[1:]))


def successive_halving(fitters: list[Fitter], rungs: list[int], candidates: Candidates) -> Fitter:
    """Train every fitter to each rung in turn, keep the better half (the best one at the last rung).
    Returns the winner, inactive; the others' weights are freed."""
    alive = list(fitters)
    for i, rung in enumerate(rungs):
        for f in alive:
            f.activate()
            f.train(until_evals=rung)
            f.deactivate()
            if f.done in Why.CUT:
                break
        keep = max(1, len(alive) // 2) if i < len(rungs) - 1 else 1
        ranked = sorted(alive, key=lambda f: (f.done == Why.DIVERGED, f.rank_key))
        for f in ranked[keep:]:
            candidates.update(f.recipe.name, status=Candidate.DROPPED)
        alive = ranked[:keep]
        if any(f.done in Why.CUT for f in fitters):
            break
    winner = sorted(alive, key=lambda f: (f.done == Why.DIVERGED, f.rank_key))[0]
    candidates.update(winner.recipe.name, status=Candidate.CHOSEN)
    for f in fitters:
        if f is not winner:
            f.release()
    return winner
