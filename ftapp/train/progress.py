"""One progress bar and one time budget over a run's phases.

The bar: preparing and the frozen pass fill the first tenth, training (every step of every
candidate, fold and final run, as planned) the next eight tenths, scoring and saving the rest; it
never moves back and reaches 1 when the run ends. When training ends early (early stopping, a
decision made after the first fold) the bar jumps to where scoring starts.

The estimate of time left is the planned steps still to come at the measured pace, plus the
expected scoring time, never past the budget; within one phase it only falls, so it grows only when
the phase changes (and the phase, shown beside it, says why).

The budget: training ends `reserve` before the end so scoring and saving fit inside it.
"""
from __future__ import annotations

import time

from ftapp.server_load import wait_while_busy
from ftapp.train.config import EVAL_RESERVE

TRAINING_SPAN = (0.1, 0.9)


class Budget:
    def __init__(self, minutes: float, started: float | None = None, reserve_share: float = EVAL_RESERVE):
        self.started = started if started is not None else time.time()
        self.end = self.started + 60 * minutes
        self.reserve = max(5.0, reserve_share * 60 * minutes)

    @property
    def training_deadline(self) -> float:
        return self.end - self.reserve

    def left(self) -> float:
        return max(0.0, self.end - time.time())

    def training_left(self) -> float:
        return max(0.0, self.training_deadline - time.time())


class Clock:
    """Turns steps and phases into `progress` events (progress 0–1, eta_seconds)."""

    def __init__(self, emit, budget: Budget | None = None):
        self.emit, self.budget = emit, budget
        self.progress = 0.0
        self._eta: float | None = None
        self._eta_at = time.time()
        self._planned, self._done = 1, 0
        self._pace_started, self._pace_steps = None, 0
        self.scoring_seconds = 5.0        # what scoring and saving are expected to take (set from measurements)

    def _say(self, progress: float, eta: float | None, new_phase: bool = False) -> None:
        self.progress = max(self.progress, min(1.0, progress))
        if eta is not None and self.budget is not None:
            eta = min(eta, self.budget.left())
        if eta is not None and self._eta is not None and not new_phase:
            eta = min(eta, max(0.0, self._eta - (time.time() - self._eta_at)))   # never grows within a phase
        self._eta, self._eta_at = eta, time.time()
        self.emit("progress", progress=round(self.progress, 4), eta_seconds=None if eta is None else round(eta, 1))

    def preparing(self, share: float) -> None:
        """0–1 through the preparation (loading, the frozen pass)."""
        self._say(TRAINING_SPAN[0] * share, None)

    def plan(self, steps: int) -> None:
        """The training steps still to come from here (a new phase: the estimate may change)."""
        self._planned, self._done = max(1, steps), 0
        self._pace_started, self._pace_steps = time.time(), 0
        self._base = self.progress
        self._say(self.progress, self._estimate(), new_phase=True)

    def tick(self) -> None:
        waited = wait_while_busy()
        if self._pace_started is None:   # steps outside a planned phase (the learning-rate finder)
            return
        self._pace_started += waited     # the estimate follows the training's own pace, not the server's visitors
        self._done += 1
        self._pace_steps += 1
        low, high = getattr(self, "_base", TRAINING_SPAN[0]), TRAINING_SPAN[1]
        self._say(low + (high - low) * min(1.0, self._done / self._planned), self._estimate())

    def _estimate(self) -> float | None:
        if not self._pace_steps or self._pace_started is None:
            return None
        per_step = (time.time() - self._pace_started) / self._pace_steps
        return per_step * max(0, self._planned - self._done) + self.scoring_seconds

    def scoring(self, share: float) -> None:
        """0–1 through scoring and saving, after training (early or not)."""
        low = TRAINING_SPAN[1]
        self._say(low + (1 - low) * share, self.scoring_seconds * (1 - share), new_phase=share == 0)

    def finish(self) -> None:
        self._say(1.0, 0.0, new_phase=True)
