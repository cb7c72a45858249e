"""How much does training slow the web server on this machine, whatever the scheduler does?

The load test (benchmarks/load_test.py) measures the app's poll latency while runs train in
worker processes at SCHED_IDLE. This script separates what scheduling can fix from what it cannot:
a fixed piece of server-like work (pure Python and small numpy calls, one thread) is timed on CPU 0

    idle          nothing else running
    other core    torch training-like matrix work pinned to CPU 1, normal priority: what the two
                  cores share (caches, memory bandwidth, the host's hyperthreads, clock) — no
                  scheduler setting helps
    same core     the same matrix work pinned to CPU 0 at SCHED_IDLE: what the scheduler leaves

    python benchmarks/cpu_interference.py [--rounds 200]

It prints the median and 95th percentile of each condition and their ratios to idle. Linux only
(sched_setaffinity, SCHED_IDLE).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time


def server_like_work() -> float:
    """About 10-20 ms of what a poll does: dicts, JSON, strings, small arrays."""
    import numpy as np

    start = time.perf_counter()
    rows = [{"step": i, "loss": 1.0 / (i + 1), "lr": 1e-4} for i in range(3000)]
    text = json.dumps(rows)
    back = json.loads(text)
    x = np.array([r["loss"] for r in back])
    _ = (np.convolve(x, np.ones(10) / 10, mode="same").sum(), " ".join(f"{v:.4f}" for v in x[:2000]))
    return time.perf_counter() - start


def busy(cpu: int, idle_priority: bool, ready, stop) -> None:
    os.sched_setaffinity(0, {cpu})
    if idle_priority:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(384, 384), torch.randn(384, 1536)
    (a @ b).relu_()
    ready.set()
    while not stop.is_set():
        (a @ b).relu_()


def measure(rounds: int) -> list[float]:
    for _ in range(20):        # warm up: imports, caches
        server_like_work()
    return [server_like_work() for _ in range(rounds)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=200)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two CPUs")
    os.sched_setaffinity(0, {0})
    results = {}
    for name, cpu, idle in (("idle", None, False), ("other core", 1, False), ("same core, SCHED_IDLE", 0, True)):
        ctx = mp.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        proc = None
        if cpu is not None:
            proc = ctx.Process(target=busy, args=(cpu, idle, ready, stop))
            proc.start()
            if not ready.wait(120):   # it imports torch first
                raise SystemExit("the busy process did not start")
        times = measure(args.rounds)
        if proc is not None:
            stop.set()
            proc.join()
        times.sort()
        results[name] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    base = results["idle"]
    print("| condition | median ms | p95 ms | median / idle | p95 / idle |\n|---|---|---|---|---|")
    for name, (med, p95) in results.items():
        print(f"| {name} | {1000 * med:.1f} | {1000 * p95:.1f} | {med / base[0]:.2f} | {p95 / base[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
