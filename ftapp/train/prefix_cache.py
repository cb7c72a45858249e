"""Frozen-prefix cache: run every example through the frozen blocks once, then train on the result.

Frozen blocks run in eval mode with no gradient, so for a deterministic input pipeline
(augmentation off) their output is the same every epoch. Computing it once makes epochs 2+
cost only the N−k trainable blocks and the head — the same idea that makes Teachable Machine
fast, generalised from "head only" to any k.

Capture: a forward hook on the last module of block k−1 grabs its output (and, when only the
prefix is needed, aborts the rest of the forward); several boundaries and the head's input (the
linear probe's features) can be captured in the same pass. Replay: the stem and the first k blocks are swapped for `Bypass` modules, and the
cached states are fed in through the model's own input (inputs_embeds / pixel_values), so the
model's forward (attention masks, pooling, head) is unchanged. Sound models whose head reads every
layer (Whisper, wav2vec 2.0, HuBERT, WavLM) cache the frozen layers' time-averages beside the state where
training starts, and their encoder's forward is swapped to start there (`reentered`).
"""
from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass

import psutil
import torch

from ftapp.models.layout import WAVEFORM_OUTPUTS, Bypass, swap_module
from ftapp.models.preprocess import padded_width
from ftapp.server_load import wait_while_busy
from ftapp.train.batches import eval_batches
from ftapp.train.distributed import SINGLE


class _StopForward(Exception):
    pass


def cache_supported(clf, k: int, augment: bool) -> bool:
    return k >= 1 and not augment and (clf.layout.input_key is not None or summarised(clf, k) or reentered(clf, k))


def summarised(clf, k: int) -> bool:
    """Whisper with every block frozen: each layer's time-average is cached instead (Layout.summary)."""
    return clf.layout.summary and k == clf.n_blocks


def reentered(clf, k: int) -> bool:
    """Whisper, wav2vec 2.0, HuBERT or WavLM with its first k blocks frozen (Whisper: not all; that is
    `summarised`). The head reads a weighted sum of every layer's states, but only through a linear
    projection averaged over time, so of the frozen layers' states it needs just their time-averages;
    the cache holds those (k + 1 rows: the input of each frozen layer, then the state leaving the last
    one) followed by that last state in full, where the trainable layers start (`_from_layer`)."""
    return bool(clf.layout.reenter) and k >= 1 and not summarised(clf, k)


@dataclass
class FrozenPass:
    """One pass of the pre-trained model over a set of examples."""
    states: dict[int, object]            # boundary k -> the outputs of the first k blocks
    head_inputs: torch.Tensor | None     # [N, features]: what the head reads (the linear probe's input)
    as_tuple: int                        # how the bypassed blocks hand their output on: 0 a tensor, n a tuple of n


@torch.no_grad()
def compute_states(clf, encoded: list, boundaries, batch_size: int, device, on_batch=None,
                   autocast=contextlib.nullcontext(), head_inputs: bool = False, dist=SINGLE) -> FrozenPass:
    """Outputs of the first k blocks for every encoded example and every k in `boundaries`, and
    optionally the head's input features — all in one forward pass of the model as it is.

    Text states: a list of [length, hidden] tensors (padding dropped, re-padded per batch later).
    Image states: one [N, ...] tensor, memory-mapped to a temporary file when larger than the budget.
    Without head_inputs the forward stops at the last boundary. With several processes (`dist`)
    each computes its share of the examples and every process gets all of them.
    """
    model = clf.model
    boundaries = sorted(set(boundaries))
    captured: dict = {}
    handles = []
    summary = [k for k in boundaries if summarised(clf, k)]
    if summary:   # the encoder's output: every layer's states (and the last, normalised), averaged over time
        handles.append(model.get_submodule("encoder").register_forward_hook(
            lambda _m, _i, out: captured.__setitem__(summary[0], _time_means(out))))
    inputs: dict = {}   # a reentered model: each frozen layer's input, averaged over time
    for k in (b for b in boundaries if b not in summary):
        # a reentered model's blocks are its layers (the first module; a final layer norm may follow)
        module = model.get_submodule(clf.layout.blocks[k - 1][0 if reentered(clf, k) else -1])
        last = k == boundaries[-1] and not head_inputs and not summary
        if reentered(clf, k):
            for i in range(k):
                handles.append(model.get_submodule(clf.layout.blocks[i][0]).register_forward_pre_hook(
                    lambda _m, args, i=i: inputs.__setitem__(i, args[0].mean(1))))

        def grab(_module, _inputs, output, k=k, last=last):
            if reentered(clf, k):   # [B, k + 1 + frames, D]: the time-averages, then the state in full
                h = output[0] if isinstance(output, tuple) else output
                output = torch.cat([torch.stack([inputs[i] for i in range(k)] + [h.mean(1)], 1), h], 1)
            captured[k] = output
            if last:
                raise _StopForward
        handles.append(module.register_forward_hook(grab))
    if head_inputs:
        handles.append(clf.head.register_forward_pre_hook(lambda _m, args: captured.__setitem__("head", args[0])))
    model.eval()
    text = clf.modality == "text"
    # Texts go through sorted by length so batches carry little padding; results go back in order.
    mine = dist.shard(range(len(encoded)))
    order = [[mine[j] for j in b] for b in eval_batches(len(mine), batch_size,
                                                        [len(encoded[i]) for i in mine] if text else None)]
    states: dict = {k: [None] * len(encoded) if text else None for k in boundaries}
    features, as_tuple, done = None, 0, 0
    try:
        for idx in order:
            wait_while_busy()
            chunk = [encoded[i] for i in idx]
            batch = {key: v.to(device) for key, v in clf.preprocess.collate(chunk).items()}
            try:
                with autocast:
                    model(**batch)
            except _StopForward:
                pass
            for k in boundaries:
                out = captured.pop(k)
                as_tuple = len(out) if isinstance(out, tuple) else 0
                h = (out[0] if as_tuple else out).float().cpu()
                if text:
                    for row, (i, seq) in enumerate(zip(idx, chunk)):
                        states[k][i] = h[row, : len(seq)].clone()
                else:
                    if states[k] is None:
                        states[k] = _allocate((len(encoded), *h.shape[1:]))
                    states[k][torch.as_tensor(idx)] = h
            if head_inputs:
                f = captured.pop("head").float().cpu()
                if features is None:
                    features = torch.empty(len(encoded), f.shape[-1])
                features[torch.as_tensor(idx)] = f
            done += len(idx)
            if on_batch:
                on_batch(done * dist.world, len(encoded))
    finally:
        for h in handles:
            h.remove()
    if dist.active:
        states, features, as_tuple = _gathered(dist, mine, states, features, as_tuple, boundaries, len(encoded), text)
    return FrozenPass(states, features, as_tuple)


def _gathered(dist, mine, states, features, as_tuple, boundaries, n: int, text: bool):
    """Every process's share of a frozen pass, put together on every process."""
    rows = {i: ([states[k][i] for k in boundaries], None if features is None else features[i]) for i in mine}
    rows[-1 - dist.rank] = as_tuple            # how the blocks hand on their output: known where examples went
    merged = dist.gather_rows(rows)
    as_tuple = max(v for key, v in merged.items() if key < 0)
    for i in range(n):
        per_k, f = merged[i]
        for k, h in zip(boundaries, per_k):
            if text:
                states[k][i] = h
            else:
                if states[k] is None:
                    states[k] = _allocate((n, *h.shape))
                states[k][i] = h
        if f is not None:
            if features is None:
                features = torch.empty(n, f.shape[-1])
            features[i] = f
    return states, features, as_tuple


def _time_means(encoded) -> torch.Tensor:
    """[B, layers + 2, D]: each hidden state's mean over time, then the final (normalised) state's."""
    hidden = encoded.hidden_states or (encoded.last_hidden_state,)
    return torch.stack([h.mean(1) for h in (*hidden, encoded.last_hidden_state)], dim=1)


def _allocate(shape) -> torch.Tensor:
    """In memory when it fits comfortably (a quarter of free RAM, at most 2 GB); else on disk."""
    numel = 1
    for s in shape:
        numel *= s
    budget = min(2 * 2**30, psutil.virtual_memory().available // 4)
    if numel * 4 <= budget:
        return torch.empty(shape, dtype=torch.float32)
    fd, path = tempfile.mkstemp(prefix="ftapp-prefix-", suffix=".bin")
    os.close(fd)
    storage = torch.from_file(path, shared=True, size=numel, dtype=torch.float32)
    os.unlink(path)  # the mapping keeps the data alive; the file vanishes with the process
    return storage.view(shape)


@contextlib.contextmanager
def bypass_prefix(clf, k: int, as_tuple: int):
    """Within the block, the model starts at block k: stem and first k blocks hand their input on
    (a summarised model skips its encoder by itself: nothing to swap; a reentered model runs from
    layer k on its cached input: its forward is swapped, its modules stay)."""
    if reentered(clf, k):
        module = clf.model.get_submodule(clf.layout.reenter)
        module.forward = functools.partial(_from_layer, module, k)   # an instance attribute, removed after
        try:
            yield
        finally:
            del module.forward
        return
    paths = [] if summarised(clf, k) else clf.layout.prefix_paths(k)
    originals = {}
    try:
        for i, path in enumerate(paths):
            module = clf.model.get_submodule(path)
            # The stem hands back a tensor; the layers return whatever their kind returns.
            originals[path] = swap_module(clf.model, path, Bypass(module, as_tuple if i >= len(clf.layout.stem) else 0))
        clf.bypassed = originals
        yield
    finally:
        clf.bypassed = {}
        for path, module in originals.items():
            swap_module(clf.model, path, module)


def _from_layer(module, k: int, features, *_args, **_kwargs):
    """The encoder (Whisper) or base model (wav2vec 2.0, HuBERT, WavLM) from layer k on, over a cached input
    (`reentered`): the trainable layers run on the full state, and the head gets every hidden state
    as its time-average — what it computes from the full states, since it is linear up to its
    average over time (tested: logits and gradients). The frozen part's own training-time noise
    (wav2vec 2.0's masking of time steps) is left out, as a frozen block's dropout is."""
    from transformers import modeling_outputs

    encoder = getattr(module, "encoder", module)
    means, h = features[:, :k + 1], features[:, k + 1:]
    hidden = [means[:, i:i + 1] for i in range(k + 1)]
    bias = _wavlm_position_bias(encoder, h) if getattr(module.config, "model_type", "") == "wavlm" else None
    for i, layer in enumerate(encoder.layers[k:], start=k):
        out = layer(h, None) if bias is None else layer(h, None, position_bias=bias, index=i)
        h = out[0] if isinstance(out, tuple) else out
        hidden.append(h.mean(1, keepdim=True))
    if encoder is module:   # Whisper: the last hidden state is the normalised one
        hidden[-1] = module.layer_norm(h).mean(1, keepdim=True)
        return modeling_outputs.BaseModelOutput(last_hidden_state=hidden[-1], hidden_states=tuple(hidden))
    last = (encoder.layer_norm(h) if module.config.do_stable_layer_norm else h).mean(1, keepdim=True)
    if WAVEFORM_OUTPUTS[module.config.model_type] == "BaseModelOutput":
        return modeling_outputs.BaseModelOutput(last_hidden_state=last, hidden_states=tuple(hidden))
    # wav2vec 2.0's output has extract_features before the hidden states, and its head reads them by position
    return modeling_outputs.Wav2Vec2BaseModelOutput(last_hidden_state=last, extract_features=last,
                                                    hidden_states=tuple(hidden))


def _wavlm_position_bias(encoder, h: torch.Tensor) -> torch.Tensor:
    """What WavLM's first layer hands on to the others: a relative position bias that depends on the
    length only (each layer gates it by its own input), from the first layer's frozen table."""
    attention, (batch, frames) = encoder.layers[0].attention, h.shape[:2]
    bias = attention.compute_bias(frames, frames)
    return bias.unsqueeze(0).repeat(batch, 1, 1, 1).view(batch * attention.num_heads, frames, frames)


@contextlib.contextmanager
def whole_model(clf):
    """Temporarily put the bypassed modules back (to save a checkpoint mid-training)."""
    bypasses = {path: swap_module(clf.model, path, module) for path, module in getattr(clf, "bypassed", {}).items()}
    try:
        yield
    finally:
        for path, bypass in bypasses.items():
            swap_module(clf.model, path, bypass)


def cached_batch(clf, states, indices, device, k: int | None = None) -> dict:
    """A model input built from the states cached at boundary k for the given example indices."""
    key = clf.layout.input_key
    if clf.modality == "text":
        rows = [states[i] for i in indices]
        width = padded_width(max(r.shape[0] for r in rows))
        h = torch.zeros(len(rows), width, rows[0].shape[-1])
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for j, r in enumerate(rows):
            h[j, : r.shape[0]] = r
            mask[j, : r.shape[0]] = 1
        return {key: h.to(device, non_blocking=True), "attention_mask": mask.to(device, non_blocking=True)}
    idx = torch.as_tensor(indices)
    if key is None and k is not None and reentered(clf, k):   # read by _from_layer
        return {clf.preprocess.key: states[idx].to(device, non_blocking=True)}
    if key is None:   # summarised (Whisper, every block frozen): each layer's time-average as a 1-frame state
        h = states[idx].to(device, non_blocking=True)[:, :, None, :]
        hidden = tuple(h[:, i] for i in range(h.shape[1] - 1))
        return {"encoder_outputs": (h[:, -1], hidden)}
    return {key: states[idx].to(device, non_blocking=True)}
