"""Which device trains, and how to describe it to a person."""
from __future__ import annotations

import os

import torch


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


def release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
