"""Recordings longer than the model's window: cut to the first window, or split into windows whose
answers are averaged? (issue 26: "measure which").

On drums5 (`make_audio_sets.py`), the bundled Whisper's first model (frozen features + logistic
regression, as every run starts) is fitted on the training clips, each read as ftapp reads it (its
first 5 s). The test clips, from kits never heard in training, are then made long as recordings in
the field are: each placed in LONG seconds of quiet noise at a random moment ("one event"), or
repeated three times at random moments ("repeated"). Each long recording is answered by
- cut: its first window only (what ftapp does);
- mean of probabilities over all its windows;
- mean of logits over its windows (for the bundled model with every block frozen the same as
  averaging its windows' features);
- the surest window: the window whose top probability is highest.
The short clips themselves are scored too, as the reference.

    python benchmarks/audio_windows_study.py --data DIR/drums5
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

LONG = 20.0        # seconds of each long recording
QUIET = 0.003      # the noise bed's standard deviation (about -50 dB of full scale)


def windows(x: np.ndarray, n: int) -> list[np.ndarray]:
    return [x[i:i + n] for i in range(0, len(x), n) if len(x[i:i + n]) > n // 10]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", type=float, default=QUIET, help="the noise bed's standard deviation (0: silence)")
    args = ap.parse_args()

    from ftapp.data.audio import read_audio
    from ftapp.models import load_pretrained
    from ftapp.models.catalog import BUNDLED_AUDIO
    from ftapp.train.prefix_cache import compute_states
    from ftapp.train.probe import fit_probe

    def rows(part):
        return [(c.name, str(f)) for c in sorted((args.data / part).iterdir()) for f in sorted(c.iterdir())]

    train, test = rows("train"), rows("test")
    classes = sorted({c for c, _ in train})
    clf = load_pretrained(BUNDLED_AUDIO, classes, modality="audio")
    rate, seconds = clf.preprocess.spec.sampling_rate, clf.preprocess.spec.seconds
    n = int(rate * seconds)

    def features(items) -> torch.Tensor:
        enc = clf.preprocess.encode(items)
        return compute_states(clf, enc, [], 32, torch.device("cpu"), head_inputs=True).head_inputs

    started = time.time()
    probe = fit_probe(features([p for _, p in train]), [classes.index(c) for c, _ in train], len(classes),
                      modality="audio", oof=False)
    y = np.array([classes.index(c) for c, _ in test])
    rng = np.random.default_rng(args.seed)
    clips = [read_audio(p, rate) for _, p in test]
    short = probe.logits(features([(rate, x) for x in clips])).argmax(-1).numpy()
    print(f"drums5: {len(train)} training clips, {len(test)} test clips; the short test clips as they are: "
          f"{(short == y).mean():.3f}")
    for name, times in (("one event", 1), ("repeated", 3)):
        longs = []
        for x in clips:
            bed = rng.normal(0, args.quiet, int(LONG * rate)).astype(np.float32)
            for _ in range(times):
                at = int(rng.uniform(0, LONG - len(x) / rate) * rate)
                bed[at:at + len(x)] += x
            longs.append(bed)
        parts = [windows(x, n) for x in longs]
        flat = [(rate, w) for p in parts for w in p]
        logits = probe.logits(features(flat))
        probs = torch.softmax(logits, -1)
        answers = {"cut (first window)": [], "mean of probabilities": [], "mean of logits": [], "surest window": []}
        i = 0
        for p in parts:
            lg, pr = logits[i:i + len(p)], probs[i:i + len(p)]
            i += len(p)
            answers["cut (first window)"].append(int(pr[0].argmax()))
            answers["mean of probabilities"].append(int(pr.mean(0).argmax()))
            answers["mean of logits"].append(int(lg.mean(0).argmax()))
            answers["surest window"].append(int(pr[pr.max(-1).values.argmax()].argmax()))
        print(f"{name} in {LONG:g} s ({len(parts[0])} windows of {seconds:g} s): " +
              "; ".join(f"{k} {(np.array(v) == y).mean():.3f}" for k, v in answers.items()))
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
