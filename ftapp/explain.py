"""Why did it say that? Attributions with captum, for any model ftapp trains:

- text: feature ablation over the words — each word's pieces are masked out together (as
  padding the model ignores) and the drop in the predicted class's probability (with several
  labels per example: that label's own probability) is its weight;
  one batched forward pass per 32 words, well under a second for the bundled model on CPU;
- pictures: occlusion — a grey square slides over the picture and the drop in the predicted
  class's probability becomes a heatmap, drawn over the picture (a PNG);
- recordings: occlusion over time — a stretch of the model's input spectrogram is replaced by
  silence, slid along the recording, and the drop becomes red over a picture of the spectrogram.

Both work on every architecture (no gradients through model internals, no per-family layer
choice), which is why they were picked over integrated gradients or Grad-CAM.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ftapp.data.report import VALUE
from ftapp.tasks import NUMBER, ONE, TASKS


def _probs(clf, logits) -> torch.Tensor:
    """Class probabilities; several labels per example: each label's own (a sigmoid)."""
    return TASKS[clf.task].probs(logits)


def _prob_of(clf, target: int):
    def forward(**batch):
        with torch.no_grad():
            return _probs(clf, clf.forward(batch))[:, target]
    return forward


def explain_text(clf, text: str, target: str | None = None) -> dict:
    """{"label": the class explained, "words": [[word, weight], ...]} — weight > 0: the word pushed
    towards the class (its probability falls by that much without it)."""
    from captum.attr import FeatureAblation

    clf.model.eval()
    tok = clf.preprocess.tokenizer
    enc = tok(text, truncation=True, max_length=clf.preprocess.max_length, return_offsets_mapping=True)
    ids = torch.tensor([enc["input_ids"]])
    mask = torch.ones_like(ids)
    probs = _prob_of_all(clf, ids, mask)
    t = clf.labels.index(target) if target in clf.labels else int(probs.argmax())
    words = enc.word_ids() if hasattr(enc, "word_ids") else [None] * ids.shape[1]
    # one feature per word (its pieces together); special tokens stay in (feature -1 is never ablated)
    groups = torch.tensor([[w if w is not None else -1 for w in words]])
    n_words = int(groups.max()) + 1 if (groups >= 0).any() else 0
    if n_words == 0:
        return {"label": clf.labels[t], "words": []}
    feature_mask = torch.where(groups >= 0, groups, torch.full_like(groups, n_words))

    def forward(input_mask):   # the attention mask is what gets ablated: a masked word is not read
        return _prob_of(clf, t)(input_ids=ids.expand(len(input_mask), -1).to(clf.device),
                                attention_mask=input_mask.to(clf.device))
    weights = FeatureAblation(forward).attribute(mask, baselines=0, feature_mask=feature_mask,
                                                 perturbations_per_eval=32)[0]
    offsets = enc["offset_mapping"]
    out = []
    for w in range(n_words):
        positions = [i for i, g in enumerate(words) if g == w]
        start, end = offsets[positions[0]][0], offsets[positions[-1]][1]
        out.append([text[start:end], round(float(weights[positions[0]]), 4)])
    return {"label": clf.labels[t], "words": out}


def _prob_of_all(clf, ids, mask) -> torch.Tensor:
    with torch.no_grad():
        return _probs(clf, clf.forward({"input_ids": ids.to(clf.device), "attention_mask": mask.to(clf.device)}))[0]


def explain_image(clf, image, target: str | None = None, out_dir: str | Path | None = None) -> dict:
    """{"label": the class explained, "heatmap": path of a PNG: the picture with the regions that
    drove the prediction in red}."""
    from captum.attr import Occlusion
    from PIL import Image

    clf.model.eval()
    tensor = clf.preprocess.encode([image])[0]
    x = clf.preprocess.collate([tensor])["pixel_values"].to(clf.device)
    with torch.no_grad():
        probs = _probs(clf, clf.forward({"pixel_values": x}))[0]
    t = clf.labels.index(target) if target in clf.labels else int(probs.argmax())
    size = x.shape[-1]
    window = max(8, size // 7)
    stride = max(4, window // 2)

    def forward(pixel_values):
        return _prob_of(clf, t)(pixel_values=pixel_values)
    attr = Occlusion(forward).attribute(x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
                                        baselines=0.0, perturbations_per_eval=32)
    picture = Image.fromarray(tensor.permute(1, 2, 0).numpy()).convert("RGB")
    out = _red_over(picture, attr[0].sum(0), (max(224, size), max(224, size)), out_dir)
    return {"label": clf.labels[t], "heatmap": out}


def _red_over(picture, drops: torch.Tensor, size: tuple[int, int], out_dir) -> str:
    """The picture with red where the prediction dropped most when that part was hidden (the largest
    drop fully red at 160/255 opacity; rises count as nothing), resized and saved as a PNG; its path."""
    from PIL import Image

    heat = drops.clamp_min(0).cpu().numpy()
    heat = heat / heat.max() if heat.max() > 0 else heat
    alpha = Image.fromarray((heat * 160).astype(np.uint8), mode="L").resize(picture.size)
    picture.paste(Image.new("RGB", picture.size, (255, 0, 0)), (0, 0), alpha)
    out = Path(out_dir or tempfile.mkdtemp(prefix="ftapp-explain-")) / "heatmap.png"
    picture.resize(size).save(out)
    return str(out)


STRETCHES = 25   # a recording's window is cut into this many stretches, each silenced in turn (half overlapping)


def explain_audio(clf, recording, target: str | None = None, out_dir: str | Path | None = None) -> dict:
    """{"label", "heatmap": a PNG of the spectrogram (low pitches at the bottom, time to the right)
    with the stretches that drove the prediction in red, "caption"}."""
    from captum.attr import Occlusion
    from PIL import Image

    from ftapp.errors import UserFacingError

    clf.model.eval()
    key = clf.preprocess.key
    x = clf.preprocess.collate(clf.preprocess.encode([recording]))[key].to(clf.device)
    if x.ndim != 3:   # a waveform model's input (wav2vec 2.0): no spectrogram to draw
        raise UserFacingError("\"Why?\" for recordings needs a spectrogram model such as the bundled Whisper.")
    with torch.no_grad():
        probs = _probs(clf, clf.forward({key: x}))[0]
    t = clf.labels.index(target) if target in clf.labels else int(probs.argmax())
    bands, frames = x.shape[1:]
    window = max(2, frames // STRETCHES)

    def forward(features):   # log-odds: a confident model's probability stays 1.0 whatever is silenced
        with torch.no_grad():
            logits = clf.forward({key: features}).float()
        if clf.task != ONE:   # several labels: a label's logit is its log-odds; a number: the number itself
            return logits[:, t]
        others = logits.clone()
        others[:, t] = -torch.inf
        return logits[:, t] - torch.logsumexp(others, -1)
    attr = Occlusion(forward).attribute(x, sliding_window_shapes=(bands, window), strides=(bands, max(1, window // 2)),
                                        baselines=float(x.min()), perturbations_per_eval=16)
    spec = x[0].float().cpu().numpy()[::-1]                      # low pitches at the bottom
    grey = ((spec - spec.min()) / (np.ptp(spec) or 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(grey, mode="L").convert("RGB")
    out = _red_over(picture, attr[0].sum(0).expand(bands, -1), (600, 200), out_dir)   # one drop per moment
    seconds = clf.preprocess.spec.seconds
    return {"label": clf.labels[t], "heatmap": out,
            "caption": f"Why '{clf.labels[t]}': when in the recording (its first {seconds:g} s, left to right) the "
                       "sound drove the prediction (red), over its spectrogram (low pitches at the bottom)"}


def explain(clf, item, target: str | None = None, out_dir=None) -> dict:
    """The explanation of `item` in its modality's form; a number per example adds "number" (the
    prediction): what raised it shows as "for", what lowered it as "against"."""
    if clf.modality == "text":
        out = explain_text(clf, item, target)
    elif clf.modality == "audio":
        out = explain_audio(clf, item, target, out_dir)
    else:
        out = explain_image(clf, item, target, out_dir)
    if clf.task == NUMBER:
        out["number"] = float(clf.predict([item])[0][VALUE])
        if "heatmap" in out:
            what = "picture" if clf.modality == "image" else "recording"
            out["caption"] = f"Why {out['number']:.4g}: where the {what} pushed the number up (red)"
    return out
