"""Several processes training one run (torch.distributed, data parallel): under `torchrun
--nproc_per_node N -m ftapp.cli train …` (or `accelerate launch`, which sets the same variables)
each process takes its share of every batch, the gradients are averaged, every validation example
is scored exactly once, and only rank 0 writes the run folder and the model.

Decisions (early stopping, Auto's choice, the cross-validation's verdict, the first model against
fine-tuning) are computed from the same gathered numbers on every rank, so every rank takes the same
branch; what could differ between ranks — a stop request, the clock against the deadline — is
agreed on (any rank's "stop" stops all). Collectives time out (TIMEOUT_S) instead of hanging when a
process dies; torchrun then ends the others.

With one process (no torchrun) every method is a no-op: the engine has one code path.
"""
from __future__ import annotations

import datetime
import os

import torch

TIMEOUT_S = float(os.environ.get("FTAPP_DIST_TIMEOUT_S", 600))


class Distributed:
    def __init__(self, env: dict | None = None):
        env = os.environ if env is None else env
        self.world = int(env.get("WORLD_SIZE", 1))
        self.rank = int(env.get("RANK", 0))
        self.local_rank = int(env.get("LOCAL_RANK", 0))
        self.active = self.world > 1
        self.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> torch.device:
        """Join the process group (NCCL on CUDA, gloo on CPU); the device this rank trains on."""
        if not self.active:
            return device
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            device = torch.device("cuda", self.local_rank)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    timeout=datetime.timedelta(seconds=TIMEOUT_S))
        self.device = device
        return device

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    # ---- sharing the work ------------------------------------------------------------------
    def shard(self, indices):
        """This rank's share of a list of example indices (every rank a different, interleaved slice)."""
        return list(indices)[self.rank::self.world] if self.active else list(indices)

    def average_gradients(self, parameters) -> None:
        """Each rank computed the gradient of (its examples' summed loss / the whole batch's size):
        summing them gives every rank the whole batch's mean gradient."""
        if not self.active:
            return
        import torch.distributed as dist

        parameters = list(parameters)
        for p in parameters:          # a rank whose share of the batch was empty still takes part
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in parameters]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()

    def gather_rows(self, rows: dict[int, object]) -> dict[int, object]:
        """{example index: value} from every rank, merged (the frozen pass, validation scores)."""
        if not self.active:
            return rows
        import torch.distributed as dist

        parts = [None] * self.world
        dist.all_gather_object(parts, {i: _compact(v) for i, v in rows.items()})
        merged = {}
        for part in parts:
            merged.update(part)
        return merged

    def same_as_main(self, tensors) -> None:
        """Rank 0's values in these tensors on every rank, in place: the weights a recipe starts from
        (a LoRA adapter's random start) and BatchNorm statistics, which each rank updates from its own
        share (DDP's broadcast_buffers does the same)."""
        if not self.active:
            return
        import torch.distributed as dist

        for t in tensors:
            dist.broadcast(t.data, src=0)

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag True on every rank when it is True on any (a stop request, the deadline)."""
        if not self.active:
            return list(flags)
        import torch.distributed as dist

        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device)   # NCCL: CUDA tensors only
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def total(self, value: float) -> float:
        """The sum of a number over the ranks (each rank's share of a batch's loss)."""
        if not self.active:
            return value
        import torch.distributed as dist

        t = torch.tensor([float(value)], device=self.device, dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def broadcast(self, obj):
        """Rank 0's object on every rank (a checkpoint's state when resuming)."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _compact(value):
    """A copy that owns just its data: a row of a tensor is a view, and pickling a view writes the
    whole tensor it belongs to (rows of a large frozen pass would cost its size squared)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_compact(v) for v in value)
    return value


SINGLE = Distributed({})
