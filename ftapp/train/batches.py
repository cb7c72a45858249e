"""Batch order: seeded shuffles; texts grouped by length so padding stays small; no tiny last batch."""
from __future__ import annotations

import random


def epoch_batches(n: int, batch_size: int, rng: random.Random, lengths: list[int] | None = None) -> list[list[int]]:
    """One epoch's batches. A last batch under half the batch size joins the one before it, so no
    step runs on a handful of examples (its gradient would count as much as a full batch's)."""
    order = list(range(n))
    rng.shuffle(order)
    if lengths is not None:
        # Sort within windows of 50 batches: batches hold similar lengths, epochs still vary.
        window = batch_size * 50
        order = [i for s in range(0, n, window) for i in sorted(order[s: s + window], key=lengths.__getitem__)]
    batches = [order[s: s + batch_size] for s in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size / 2:
        batches[-2].extend(batches.pop())
    rng.shuffle(batches)
    return batches


def eval_batches(n: int, batch_size: int, lengths: list[int] | None = None) -> list[list[int]]:
    order = sorted(range(n), key=lengths.__getitem__) if lengths is not None else list(range(n))
    return [order[s: s + batch_size] for s in range(0, n, batch_size)]
