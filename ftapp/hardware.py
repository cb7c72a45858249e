"""What this machine has, without importing torch (the app asks at start-up, before any model)."""
from __future__ import annotations

import os
from pathlib import Path


def gpu_ids() -> list[str]:
    """The NVIDIA GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (else the driver's
    list, numbered): a child given slot i must be given the i-th of these, not GPU i."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",")]
        return ids[:ids.index("-1")] if "-1" in ids else [d for d in ids if d]
    try:
        return [str(i) for i in range(len(list(Path("/proc/driver/nvidia/gpus").iterdir())))]
    except OSError:
        return []


def gpu_count() -> int:
    return len(gpu_ids())


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
