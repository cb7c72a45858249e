"""Does the learning-rate finder suggest a rate for the setup actually trained? Train at its
suggestion and at a 3-point grid around the default, everything else as the defaults, Auto off (so
the rate is what was asked), and compare test accuracy on the set's own test file.

    python benchmarks/lr_finder_check.py --evalsets /work/evalsets [--json-out lr.json]

Target (issue 23): the suggestion within 0.01 of the best grid point on two sets.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TEXT_MODEL, IMAGE_MODEL = "all-MiniLM-L6-v2 (bundled)", "EfficientNet-Lite0 (bundled)"
SETS = {"debian6": ("debian6/train.csv", "debian6/test.csv", TEXT_MODEL, (3e-5, 1e-4, 3e-4)),
        "photos5": ("photos5/train.zip", "photos5/test.zip", IMAGE_MODEL, (3e-4, 1e-3, 3e-3))}


def suggestion(data: Path, model: str) -> float:
    from ftapp.train.config import TrainConfig
    from ftapp.train.lr_find import suggest_lr

    return suggest_lr(TrainConfig(model=model, data=str(data)))["lr"]


def test_accuracy(data: Path, test: Path, model: str, lr: float) -> float:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["ftapp", "train", "--data", str(data), "--test-data", str(test), "--model", model,
                        "--out", out, "--no-auto", "--lr", str(lr)], check=True, capture_output=True)
        return json.loads((Path(out) / "metrics.json").read_text())["file_test_accuracy"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--evalsets", type=Path, required=True)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    rows = []
    for name, (train, test, model, grid) in SETS.items():
        data, test = args.evalsets / train, args.evalsets / test
        lr = suggestion(data, model)
        scored = {g: test_accuracy(data, test, model, g) for g in grid}
        at_suggestion = test_accuracy(data, test, model, lr)
        best = max(scored.values())
        rows.append({"set": name, "suggested_lr": lr, "test_at_suggestion": round(at_suggestion, 4),
                     "grid": {f"{g:g}": round(a, 4) for g, a in scored.items()}, "best_of_grid": round(best, 4),
                     "within_0.01": at_suggestion >= best - 0.01})
        print(json.dumps(rows[-1]), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
