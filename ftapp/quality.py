"""Checking labelled data: likely label errors, near-duplicates with different labels, outliers.

All three read the pre-trained model's features of every example (what the frozen-prefix pass
computes anyway):
- label errors: out-of-fold class probabilities of the linear probe (a grouped, stratified
  k-fold on the features: seconds on CPU), ranked by cleanlab (`find_label_issues`, self-confidence);
  each with the suggested label and how likely the given one is wrong;
- near-duplicates: pairs of examples whose features point the same way (cosine ≥ NEAR) but whose
  labels differ — one of the two labels is usually wrong;
- outliers: cleanlab's `OutOfDistribution` score on the features, the least typical 1 %.

`ftapp train` writes the result as label_issues.csv into the run folder; `ftapp check` prints it.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import torch

from ftapp.errors import UserFacingError

NEAR = 0.985            # cosine of features above which two texts/pictures are "nearly the same"
MAX_PAIRWISE = 20_000   # near-duplicates are looked for up to this many examples (n² comparisons)
COLLAPSED = 0.9         # mean cosine between examples above which the features cannot tell them apart
MAX_PAIRS = 200         # near-duplicate rows listed at most
COLUMNS = ["row", "issue", "given", "suggested", "score", "detail", "example"]


def find_issues(features: torch.Tensor, labels: list[str], classes: list[str], origins: list[str],
                items: list[str], *, groups=None, seed: int = 0, oof_probs: np.ndarray | None = None,
                modality: str = "") -> list[dict]:
    """One dict per issue (COLUMNS), the most likely first within each kind. `oof_probs`: the
    first model's out-of-fold probabilities when training already computed them."""
    from ftapp.train.probe import fit_probe

    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    x = features.float()
    rows: list[dict] = []

    def row(i, issue, suggested, score, detail=""):
        text = " ".join(str(items[i]).split())
        return {"row": origins[i], "issue": issue, "given": labels[i], "suggested": suggested,
                "score": round(float(score), 4), "detail": detail, "example": text[:200]}

    probs = oof_probs if oof_probs is not None else fit_probe(x, y.tolist(), len(classes), groups=groups, seed=seed,
                                                             oof=True, modality=modality).oof_probs
    if probs is not None:
        from cleanlab.filter import find_label_issues

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # n_jobs=1: its default forks worker processes, which can deadlock in a process with threads (torch)
            ranked = find_label_issues(labels=y, pred_probs=probs, return_indices_ranked_by="self_confidence",
                                       n_jobs=1)
        for i in ranked:
            rows.append(row(i, "label", classes[int(probs[i].argmax())], 1 - probs[i, y[i]],
                            f"the model finds '{classes[int(probs[i].argmax())]}' {probs[i].max():.0%} likely"))

    z = torch.nn.functional.normalize(x, dim=1)
    # features that all point one way (a model that tells these examples apart poorly) would make
    # every pair a "near-duplicate": then the check says nothing about duplicates
    spread = float((z @ z[:256].T).mean()) < COLLAPSED
    if spread and len(z) <= MAX_PAIRWISE:
        pairs = []
        for start in range(0, len(z), 1024):
            sims = z[start:start + 1024] @ z.T
            for a, b in (sims >= NEAR).nonzero().tolist():
                i = start + a
                if i < b and y[i] != y[b]:
                    pairs.append((float(sims[a, b]), i, b))
        for sim, i, b in sorted(pairs, reverse=True)[:MAX_PAIRS]:
            rows.append(row(b, "near-duplicate", labels[i], sim, f"nearly the same as {origins[i]}, labelled '{labels[i]}'"))

    if len(z) >= 50:
        from cleanlab.outlier import OutOfDistribution

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            typical = OutOfDistribution().fit_score(features=z.numpy(), verbose=False)
        for i in np.argsort(typical)[:max(1, min(20, len(z) // 100))]:
            rows.append(row(int(i), "outlier", None, 1 - typical[i], "unlike the other examples"))
    return rows


def check_dataset(ds, model: str | None = None, allow_local_paths: bool = True) -> list[dict]:
    """The check on a loaded Dataset before any training ("Check my data", `ftapp check`): the
    pre-trained model's features (the bundled one for the modality unless `model`), then find_issues."""
    import os

    from ftapp.data import duplicate_groups
    from ftapp.models import load_pretrained
    from ftapp.models.catalog import default_model
    from ftapp.train.config import EVAL_BATCH
    from ftapp.train.device import pick_device
    from ftapp.train.prefix_cache import compute_states

    if ds.separator:
        raise UserFacingError("The label check reads one class per example (cleanlab's label issues); with several "
                              "labels per example it does not run yet (choosing one class per example checks each "
                              "combination as a class).")
    device = pick_device()
    clf = load_pretrained(model or default_model(ds.modality), ds.classes, modality=ds.modality,
                          allow_local_paths=allow_local_paths)
    clf.model.to(device)
    features = compute_states(clf, clf.preprocess.encode(ds.items), [], EVAL_BATCH, device, head_inputs=True).head_inputs
    shown = ds.items if ds.modality == "text" else [os.path.basename(p) for p in ds.items]
    return find_issues(features.cpu(), ds.labels, ds.classes, ds.origins, shown, groups=duplicate_groups(ds))


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def write_cleaned(items: list[str], labels: list[str], origins: list[str], issues: list[dict], path: Path,
                  first: str = "text") -> Path:
    """The data with every suggested label applied (label errors only), as a table step 1 reads
    again (`first`: "text", or "file" for pictures): "Download the data with the suggested labels"."""
    fix = {r["row"]: r["suggested"] for r in issues if r["issue"] == "label" and r["suggested"]}
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([first, "label", "label before", "row"])
        writer.writerows([it, fix.get(o, lab), lab if o in fix else "", o] for it, lab, o in zip(items, labels, origins))
    return path
