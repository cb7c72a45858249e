"""How well the data check finds labels that were made wrong on purpose (ftapp/quality.py).

Reads a text table with the data step (one label, or several separated by ";"), computes the
bundled model's features once, then for each seed makes a known share of the rows wrong and asks
`find_issues` for the likely label errors:
- one label per example: the label replaced by another class at random;
- several labels per example: half of the spoiled rows get a label they did not have (a random
  one), half lose one of their labels (rows with two or more).
Prints, per seed, the share of spoiled rows among the first 2 × (number spoiled) label issues
(recall at twice the noise), how many rows were flagged in all, and the seconds the check took
beyond the features.

    python benchmarks/label_check_study.py --data assets/examples/support_tickets.csv
    python benchmarks/label_check_study.py --data DIR/debtags_multilabel/train.csv
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time

import numpy as np


def spoil(ds, share: float, rng: random.Random) -> tuple[list[str], set[int]]:
    labels, classes = list(ds.labels), ds.classes
    rows = rng.sample(range(len(ds)), round(share * len(ds)))
    spoiled = set()
    for k, i in enumerate(rows):
        parts = ds.split_label(labels[i])
        if not ds.separator:
            labels[i] = rng.choice([c for c in classes if c != labels[i]])
        elif k % 2 == 0:
            parts.append(rng.choice([c for c in classes if c not in parts]))
            labels[i] = ds.separator.join(parts)
        elif len(parts) >= 2:
            parts.remove(rng.choice(parts))
            labels[i] = ds.separator.join(parts)
        else:
            continue
        spoiled.add(i)
    return labels, spoiled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--share", type=float, default=0.05, help="share of rows made wrong")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    import torch

    from ftapp.data import Dataset, duplicate_groups, load_dataset
    from ftapp.models import BUNDLED_TEXT, load_pretrained
    from ftapp.quality import find_issues
    from ftapp.train.prefix_cache import compute_states

    with tempfile.TemporaryDirectory() as work:
        ds, report = load_dataset(args.data, workdir=work)
    clf = load_pretrained(BUNDLED_TEXT, ds.classes, modality="text")
    started = time.time()
    x = compute_states(clf, clf.preprocess.encode(ds.items), [], 64, torch.device("cpu"), head_inputs=True).head_inputs
    kind = f"several labels (separator '{ds.separator}')" if ds.separator else "one label"
    print(f"{args.data}: {len(ds)} rows, {len(ds.classes)} classes, {kind}; features in {time.time() - started:.1f} s")
    for seed in args.seeds:
        labels, spoiled = spoil(ds, args.share, random.Random(seed))
        noisy = Dataset(ds.modality, ds.items, labels, [f"row {i}" for i in range(len(ds))], separator=ds.separator)
        started = time.time()
        found = [r for r in find_issues(x, noisy, classes=ds.classes, groups=duplicate_groups(noisy), seed=seed)
                 if r["issue"] == "label"]
        seconds = time.time() - started
        top = {int(r["row"].split()[1]) for r in found[:2 * len(spoiled)]}
        print(f"seed {seed}: {len(spoiled)} rows spoiled; {len(top & spoiled) / max(1, len(spoiled)):.0%} of them "
              f"among the first {2 * len(spoiled)} label issues; {len(found)} rows flagged in all "
              f"({np.mean([int(r['row'].split()[1]) in spoiled for r in found]) if found else 0:.0%} of them spoiled); "
              f"{seconds:.1f} s")


if __name__ == "__main__":
    main()
