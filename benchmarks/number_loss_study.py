"""Huber or squared error for a number per example? The same runs with each loss, on real sets.

    python benchmarks/number_loss_study.py --evalsets /work/evalsets --seeds 0 1 2

Each run is `ftapp train --task regression` with defaults, in its own process; for "mse" that
process swaps `ftapp.tasks.Number.loss` for mean squared error before training (a measurement
harness only: the app has one loss). Prints test R² and Spearman on each set's own test file.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = {   # set -> (train, test, model)
    "debian_size": ("debian_size/train.csv", "debian_size/test.csv", "all-MiniLM-L6-v2 (bundled)"),
    "font_weights": ("font_weights/train.csv", "font_weights/test.csv", "EfficientNet-Lite0 (bundled)"),
}
RUN = """
import sys
import torch.nn.functional as F
import ftapp.tasks as tasks
if {mse}:
    tasks.Number.loss = staticmethod(lambda logits, y, class_weights=None, reduction="mean":
                                     F.mse_loss(logits.float()[:, 0], y.float(), reduction=reduction))
from ftapp.cli import main
sys.exit(main({argv!r}))
"""


def run(loss: str, train: Path, test: Path, model: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ftapp-loss-") as out:
        argv = ["train", "--data", str(train), "--test-data", str(test), "--model", model, "--task", "regression",
                "--seed", str(seed), "--out", out]
        done = subprocess.run([sys.executable, "-c", RUN.format(mse=loss == "mse", argv=argv)], capture_output=True,
                              text=True)
        if done.returncode:
            return {"error": done.stderr.strip().splitlines()[-1:]}
        m = json.loads((Path(out) / "metrics.json").read_text())
        return {"r2": round(m["file_test_r2"], 4), "spearman": round(m["file_test_spearman"], 4), "chosen": m["chosen"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evalsets", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", action="append")
    args = p.parse_args()
    for name, (train, test, model) in SETS.items():
        if args.only and name not in args.only:
            continue
        for loss in ("huber", "mse"):
            for seed in args.seeds:
                r = run(loss, args.evalsets / train, args.evalsets / test, model, seed)
                print(json.dumps({"set": name, "loss": loss, "seed": seed, **r}), flush=True)


if __name__ == "__main__":
    main()
