"""The examples of one run, ready for any recipe: encoded once, the frozen prefix computed once per
boundary, and the pre-trained model's head inputs (the first model's features)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ftapp import tasks
from ftapp.train import prefix_cache


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor on the training device; pictures channels-last on CUDA (as the model is)."""
    t = t.to(device, non_blocking=True)
    return t.contiguous(memory_format=torch.channels_last) if device.type == "cuda" and t.dim() == 4 else t


def _cut(values, idx):
    if values is None:
        return None
    if torch.is_tensor(values):
        return values[torch.as_tensor(idx, dtype=torch.long)]
    return [values[i] for i in idx]


class Prepared:
    """`x[split]` encoded examples, `y[split]` class indices, `states[k][split]` the cached outputs of
    the first k blocks, `head_inputs[split]` the pre-trained features, for split "train" and "val"."""

    def __init__(self, clf, train_x, train_y, val_x, val_y, device, frozen_pass=None, val_pass=None):
        self.clf, self.device = clf, device
        self.x = {"train": train_x, "val": val_x}
        # class indices and 0/1 label rows as integers, numbers (standardised) as floats
        dtype = torch.float if tasks.of(train_y) is tasks.Number else torch.long
        self.y = {"train": torch.tensor(train_y, dtype=dtype), "val": torch.tensor(val_y, dtype=dtype)}
        if not len(val_y) and self.y["train"].dim() == 2:   # several labels per example: no examples is [0, labels]
            self.y["val"] = self.y["val"].reshape(0, self.y["train"].shape[1])
        text = clf.modality == "text"
        self.lengths = {s: [len(v) for v in self.x[s]] if text else None for s in self.x}
        self.states: dict[int, dict] = {}
        self.as_tuple = frozen_pass.as_tuple if frozen_pass is not None else 0
        for k, st in (frozen_pass.states.items() if frozen_pass is not None else ()):
            self.states[k] = {"train": st, "val": val_pass.states[k] if val_pass else None}
        self.head_inputs = {"train": frozen_pass.head_inputs if frozen_pass else None,
                            "val": val_pass.head_inputs if val_pass else None}

    def n(self, split: str) -> int:
        return len(self.x[split])

    def subset(self, train_idx: list[int], val_idx: list[int]) -> "Prepared":
        """A fold of a Prepared that holds every example as "train": the same cached states, re-cut."""
        out = object.__new__(Prepared)
        out.clf, out.device, out.as_tuple = self.clf, self.device, self.as_tuple
        cuts = (("train", train_idx), ("val", val_idx))
        out.x = {s: _cut(self.x["train"], i) for s, i in cuts}
        out.y = {s: self.y["train"][torch.as_tensor(i, dtype=torch.long)] for s, i in cuts}
        out.lengths = {s: _cut(self.lengths["train"], i) for s, i in cuts}
        out.states = {k: {s: _cut(st["train"], i) for s, i in cuts} for k, st in self.states.items()}
        out.head_inputs = {s: _cut(self.head_inputs["train"], i) for s, i in cuts}
        return out

    def batch(self, split: str, idx: list[int], k: int | None, augment: bool = False) -> dict:
        """A model input: from the cache at boundary k when k is given, else from the examples."""
        if k is not None:
            return prefix_cache.cached_batch(self.clf, self.states[k][split], idx, self.device, k)
        batch = self.clf.preprocess.collate([self.x[split][i] for i in idx], augment=augment)
        return {key: to_device(v, self.device) for key, v in batch.items()}


@dataclass
class Encoded:
    """The run's examples as the model reads them (encoded once)."""
    train_x: list
    train_y: list[int]
    val_x: list
    val_y: list[int]
    test_x: list | None = None
    test_y: list[int] | None = None
    test_features: torch.Tensor | None = None    # the pre-trained features of the test slice (the first model's input)
