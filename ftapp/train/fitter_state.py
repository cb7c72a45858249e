"""A Fitter's resumable state: everything needed to go on exactly where it was (the same batches,
rates, random numbers and early-stopping count), as the checkpoint stores it (ftapp.train.checkpoint)."""
from __future__ import annotations

import torch


def trainable_state(model) -> dict:
    """A copy of what training can change: trainable parameters and buffers (BatchNorm
    statistics). Frozen weights never change, so they are not copied."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    names |= {n for n, _ in model.named_buffers()}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


class FitterState:
    """state_dict() / load_state_dict() of ftapp.train.loop.Fitter (a mixin: the attributes are the Fitter's)."""

    def state_dict(self) -> dict:
        """The fitter's state at a step boundary (active on the model). The best weights are stored
        only when they are not the current ones: one copy where one would do."""
        weights = trainable_state(self.clf.model)
        best_is_current = bool(self.history.evals) and self.best is self.history.evals[-1] and not self._losses
        return {"recipe": self.recipe.to_dict(), "step": self.step, "epoch": self.epoch,
                "batches": [list(b) for b in self._batches], "losses": list(self._losses),
                "rng": self.rng.getstate(), "torch_rng": torch.get_rng_state(), "best": self.best,
                "reference": self.reference, "bad_evals": self.bad_evals, "tail": self.tail,
                "history": {"steps": self.history.steps, "evals": self.history.evals},
                "weights": weights, "best_state": None if best_is_current else self.best_state,
                "opt": self._opt.state_dict(), "sched": self._sched.state_dict(),
                "train_seconds": self.train_seconds}

    def load_state_dict(self, state: dict) -> None:
        """Go on from `state` (after activate()): the same batches, rates and early-stopping count."""
        self.clf.model.load_state_dict(state["weights"], strict=False)
        self._opt.load_state_dict(state["opt"])
        self._sched.load_state_dict(state["sched"])
        self.step, self.epoch = state["step"], state["epoch"]
        self._batches, self._losses = [list(b) for b in state["batches"]], list(state["losses"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.best, self.bad_evals = state["best"], state["bad_evals"]
        self.tail = tuple(state["tail"]) if state.get("tail") else None
        self.reference = state.get("reference", self.best)
        self.history.steps, self.history.evals = list(state["history"]["steps"]), list(state["history"]["evals"])
        self.best_state = state["best_state"] if state["best_state"] is not None else state["weights"]
        self.train_seconds = state["train_seconds"]
