"""Checking labelled data: likely label errors, near-duplicates with different labels, outliers.

All three read the pre-trained model's features of every example (what the frozen-prefix pass
computes anyway):
- label errors: out-of-fold class probabilities of the linear probe (a grouped, stratified
  k-fold on the features: seconds on CPU), ranked by cleanlab (`find_label_issues`, self-confidence);
  each with the suggested label and how likely the given one is wrong. With several labels per
  example: the one-vs-rest probe's out-of-fold probabilities and cleanlab's multi-label ranking.
  A number per example has no likely label to suggest: its check is the other two;
- near-duplicates: pairs of examples whose features point the same way (cosine ≥ NEAR) but whose
  labels differ (numbers: by more than a standard deviation) — one of the two is usually wrong;
- outliers: cleanlab's `OutOfDistribution` score on the features, the least typical 1 %.

`ftapp train` writes the result as label_issues.csv into the run folder; `ftapp check` prints it.
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import torch


NEAR = 0.985            # cosine of features above which two texts/pictures are "nearly the same"
MAX_PAIRWISE = 20_000   # near-duplicates are looked for up to this many examples (n² comparisons)
COLLAPSED = 0.9         # mean cosine between examples above which the features cannot tell them apart
MAX_PAIRS = 200         # near-duplicate rows listed at most
COLUMNS = ["row", "issue", "given", "suggested", "score", "detail", "example"]


def shown_items(ds) -> list[str]:
    """How the check's rows show the examples: the texts, or the files' names."""
    return ds.items if ds.modality == "text" else [os.path.basename(p) for p in ds.items]


def find_issues(features: torch.Tensor, ds, *, classes: list[str] | None = None, groups=None, seed: int = 0,
                oof_probs: np.ndarray | None = None) -> list[dict]:
    """One dict per issue (COLUMNS), the most likely first within each kind, for the examples of the
    Dataset `ds` in its task: likely label errors (one label, or several per example: cleanlab's
    multi-label ranking), near-duplicates whose labels differ (numbers: by more than one standard
    deviation), outliers. A number has no "likely label" to suggest, so its check is the other two.
    `classes`: the model's (default: those of `ds`); `oof_probs`: the first model's out-of-fold
    probabilities when training already computed them."""
    from ftapp import tasks

    classes = classes or ds.classes
    y = np.asarray(tasks.targets(ds, classes))
    task = tasks.of(y)
    x = features.float()
    shown = shown_items(ds)
    rows: list[dict] = []

    def row(i, issue, suggested, score, detail=""):
        text = " ".join(str(shown[i]).split())
        return {"row": ds.origins[i], "issue": issue, "given": ds.labels[i], "suggested": suggested,
                "score": round(float(score), 4), "detail": detail, "example": text[:200]}

    if task.kind == tasks.ONE:
        rows += _label_errors(x, y, classes, groups, seed, oof_probs, ds.modality, row)
    elif task.kind == tasks.SEVERAL:
        rows += _several_label_errors(x, y, classes, ds.separator, groups, seed, ds.modality, row)

    z = torch.nn.functional.normalize(x, dim=1)
    # features that all point one way (a model that tells these examples apart poorly) would make
    # every pair a "near-duplicate": then the check says nothing about duplicates
    spread = float((z @ z[:256].T).mean()) < COLLAPSED
    if spread and len(z) <= MAX_PAIRWISE:
        if task.kind == tasks.NUMBER:
            differ = lambda i, b: abs(y[i] - y[b]) > (y.std() or 1.0)   # noqa: E731
        else:
            differ = lambda i, b: ds.labels[i] != ds.labels[b]          # noqa: E731
        pairs = []
        for start in range(0, len(z), 1024):
            sims = z[start:start + 1024] @ z.T
            for a, b in (sims >= NEAR).nonzero().tolist():
                i = start + a
                if i < b and differ(i, b):
                    pairs.append((float(sims[a, b]), i, b))
        for sim, i, b in sorted(pairs, reverse=True)[:MAX_PAIRS]:
            rows.append(row(b, "near-duplicate", ds.labels[i], sim,
                            f"nearly the same as {ds.origins[i]}, labelled '{ds.labels[i]}'"))

    if len(z) >= 50:
        from cleanlab.outlier import OutOfDistribution

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            typical = OutOfDistribution().fit_score(features=z.numpy(), verbose=False)
        for i in np.argsort(typical)[:max(1, min(20, len(z) // 100))]:
            rows.append(row(int(i), "outlier", None, 1 - typical[i], "unlike the other examples"))
    return rows


def _label_errors(x, y, classes, groups, seed, oof_probs, modality, row) -> list[dict]:
    """One label per example: cleanlab's ranking of out-of-fold probe probabilities."""
    from ftapp.train.probe import fit_probe

    probs = oof_probs if oof_probs is not None else fit_probe(x, y.tolist(), len(classes), groups=groups, seed=seed,
                                                             oof=True, modality=modality).oof_probs
    if probs is None:
        return []
    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # n_jobs=1: its default forks worker processes, which can deadlock in a process with threads (torch)
        ranked = find_label_issues(labels=y, pred_probs=probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    return [row(i, "label", classes[int(probs[i].argmax())], 1 - probs[i, y[i]],
                f"the model finds '{classes[int(probs[i].argmax())]}' {probs[i].max():.0%} likely") for i in ranked]


def _several_label_errors(x, y, classes, separator, groups, seed, modality, row) -> list[dict]:
    """Several labels per example: out-of-fold probabilities of the one-vs-rest probe, ranked by
    cleanlab's multi-label check; the suggestion is every label above its threshold (chosen on the
    same out-of-fold probabilities, as training chooses them on validation)."""
    from cleanlab.filter import find_label_issues

    from ftapp import tasks
    from ftapp.train.probe import fit_probe, folds_for

    folds = folds_for(y, groups, seed)
    if folds is None:
        return []
    probs = np.zeros(y.shape)
    for tr, te in folds:
        probe = fit_probe(x[tr], y[tr].tolist(), len(classes), seed=seed, oof=False, modality=modality)
        probs[te] = tasks.SeveralLabels.probs(probe.logits(x[te])).numpy()
    cuts = np.asarray(tasks.thresholds(probs, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = find_label_issues(labels=[np.flatnonzero(r).tolist() for r in y], pred_probs=probs, multi_label=True,
                                   return_indices_ranked_by="self_confidence", n_jobs=1)
    out = []
    for i in ranked:
        suggested = np.flatnonzero(probs[i] >= cuts)
        wrong = np.abs(probs[i] - y[i]).argmax()          # the label the model disagrees with most
        verdict = "likely" if probs[i, wrong] >= cuts[wrong] else "unlikely"
        out.append(row(i, "label", separator.join(classes[j] for j in suggested), np.abs(probs[i] - y[i]).max(),
                       f"the model finds '{classes[wrong]}' {verdict} ({probs[i, wrong]:.0%})"))
    return out


def check_dataset(ds, model: str | None = None, allow_local_paths: bool = True) -> list[dict]:
    """The check on a loaded Dataset before any training ("Check my data", `ftapp check`): the
    pre-trained model's features (the bundled one for the modality unless `model`), then find_issues."""
    from ftapp.data import duplicate_groups
    from ftapp.models import load_pretrained
    from ftapp.models.catalog import default_model
    from ftapp.train.config import EVAL_BATCH
    from ftapp.train.device import pick_device
    from ftapp.train.prefix_cache import compute_states

    device = pick_device()
    clf = load_pretrained(model or default_model(ds.modality), ds.classes, modality=ds.modality,
                          allow_local_paths=allow_local_paths)
    clf.model.to(device)
    features = compute_states(clf, clf.preprocess.encode(ds.items), [], EVAL_BATCH, device, head_inputs=True).head_inputs
    return find_issues(features.cpu(), ds, groups=duplicate_groups(ds))


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
