"""Which device trains, and how to describe it to a person."""
from __future__ import annotations

import contextlib
import os

import torch

from ftapp.train.config import PRECISIONS


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    device = device or pick_device()
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info()
        return f"GPU: {torch.cuda.get_device_name()} ({(total - free) / 2**30:.1f} of {total / 2**30:.0f} GB in use)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bfloat16 matrix maths run in hardware (measured 1.8x faster on the
    trainable blocks of MiniLM than fp32 on a 2-core AMD EPYC). Elsewhere bf16 would be emulated
    and slower, so fp32 stays."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """auto → bf16 on CUDA and on CPUs with native bf16, else fp32."""
    if precision != PRECISIONS.auto:
        return precision
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return PRECISIONS.bf16
    return PRECISIONS.fp32


def autocast(precision: str, device: torch.device):
    """Mixed precision: matrix products in bf16, weights and optimizer state stay fp32."""
    if precision == PRECISIONS.bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


class ThreadGovernor:
    """Trains with fewer CPU threads while other processes keep the cores busy.

    A torch operation waits for all its threads, and one that the OS has put aside stalls the
    rest: measured on this project's 2-core machine, a MiniLM step with 2 threads ran 12x slower
    while another process used both cores, and faster with 1 thread than with 2. Checked at each
    epoch, from the system's CPU use minus this process's own.
    """

    def __init__(self):
        import psutil

        self.psutil = psutil
        self.cores = os.cpu_count() or 1
        self.most = torch.get_num_threads()
        self.process = psutil.Process()
        psutil.cpu_percent(None)
        self.process.cpu_percent(None)

    def adjust(self) -> int:
        busy = self.psutil.cpu_percent(None) / 100 * self.cores        # cores in use, everyone included
        mine = self.process.cpu_percent(None) / 100                      # cores in use by this process
        others = max(0.0, busy - mine)
        threads = max(1, min(self.most, int(self.cores - others + 0.5)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads


_GOVERNOR: ThreadGovernor | None = None


def govern_threads(device: torch.device) -> None:
    """FTAPP_CPU_THREADS=N pins the thread count instead (a float sum's order depends on it: pinned,
    the same seed gives the same numbers to the last digit, run after run)."""
    global _GOVERNOR
    if device.type != "cpu":
        return
    pinned = os.environ.get("FTAPP_CPU_THREADS")
    if pinned and pinned.isdigit() and int(pinned) > 0:
        if torch.get_num_threads() != int(pinned):
            torch.set_num_threads(int(pinned))
        return
    if _GOVERNOR is None:
        _GOVERNOR = ThreadGovernor()
        return
    _GOVERNOR.adjust()
