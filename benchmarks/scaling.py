"""Scaling: the same run on 1 and on N processes (torch.distributed, data parallel) — on this CPU
with gloo, or on N GPUs with NCCL when they are there.

    python benchmarks/scaling.py [--processes 2] [--json-out scaling.json]

`ftapp train` on the 734 product descriptions with the bundled MiniLM, 4 of 6 blocks frozen, 3
epochs, Auto off (fixed work: the same steps on every process count), whole processes timed; the
speed-up is the 1-process wall time over the N-process one, the test accuracies side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARGS = ["--data", str(HERE / "data/descriptions_train.csv"), "--test-data", str(HERE / "data/descriptions_test.csv"),
        "--model", "all-MiniLM-L6-v2 (bundled)", "--no-auto", "--frozen-layers", "4", "--epochs", "3",
        "--min-steps", "1", "--patience", "0"]


def timed(n: int, gpus: bool) -> dict:
    with tempfile.TemporaryDirectory() as out:
        flag = ["--gpus" if gpus else "--processes", str(n)]
        started = time.time()
        subprocess.run([sys.executable, "-m", "ftapp.cli", "train", *ARGS, "--out", out, *flag], check=True,
                       capture_output=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        wall = time.time() - started
        m = json.loads((Path(out) / "metrics.json").read_text())
    return {"processes": n, "wall_s": round(wall, 1), "train_loop_s": m["train_seconds"],
            "test_accuracy": m["file_test_accuracy"], "world_size": m["world_size"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    from ftapp.hardware import cpu_cores, gpu_count

    gpus = gpu_count() >= args.processes
    rows = [timed(1, gpus), timed(args.processes, gpus)]
    speedup = rows[0]["wall_s"] / rows[1]["wall_s"]
    out = {"device": f"{gpu_count()} GPUs" if gpus else f"CPU, {cpu_cores()} cores", "runs": rows,
           "speedup_wall": round(speedup, 2),
           "speedup_train_loop": round(rows[0]["train_loop_s"] / rows[1]["train_loop_s"], 2)}
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
