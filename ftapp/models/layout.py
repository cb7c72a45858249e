"""Every supported model seen the same way:  stem → N ordered blocks → head.

This is fastai's "splitter" idea: once a model is an ordered list of blocks, "freeze the first
k blocks", "put LoRA adapters on the trainable blocks" and "compute the frozen prefix once"
are each a few lines that work for every family. The stem (embeddings / first convolution)
counts as part of block 0, so k = 1 freezes it together with the first layer and k = N leaves
only the head trainable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Layout:
    family: str                   # "hf-text", "hf-image", "timm-efficientnet", "generic"
    stem: list[str]               # module paths that run before block 0's layers
    blocks: list[list[str]]       # module paths of each block, in forward order
    input_key: str | None         # model kwarg through which cached states re-enter; None = no cache
    block_names: list[str] = field(default_factory=list)
    # Whisper's classifier reads its encoder's states only through a linear projection averaged over
    # time, so with every block frozen each layer's time-average is all it needs: cached once, they
    # re-enter as `encoder_outputs` (prefix_cache.SUMMARY) and the encoder never runs again.
    summary: bool = False
    # Heads that read every layer's states that way (Whisper, wav2vec 2.0, HuBERT): the module whose
    # forward is swapped to run from block k over the frozen layers' cached time-averages
    # (prefix_cache.reentered); "" where that cannot be done.
    reenter: str = ""

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def prefix_paths(self, k: int) -> list[str]:
        """Module paths of the first k blocks (the stem included when k >= 1)."""
        if k <= 0:
            return []
        return self.stem + [p for block in self.blocks[:k] for p in block]


def _get(model: nn.Module, path: str) -> nn.Module | None:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def _first(model: nn.Module, base: str, candidates: list[str]) -> str | None:
    for c in candidates:
        path = f"{base}.{c}" if base else c
        if _get(model, path) is not None:
            return path
    return None


def find_layout(model: nn.Module, modality: str) -> Layout:
    """Work out the block structure of a classifier; fall back to the largest layer list."""
    if getattr(model, "ftapp_family", None) == "timm":
        return _timm_layout(model)
    if getattr(model, "ftapp_family", None) == "timm-efficientnet":
        blocks = [[f"model.blocks.{i}"] for i in range(len(model.model.blocks))]
        blocks.append(["model.conv_head", "model.bn2"])
        names = [f"stage {i + 1}" for i in range(len(blocks) - 1)] + ["final 1x1 conv"]
        return Layout("timm-efficientnet", ["model.conv_stem", "model.bn1"], blocks, "pixel_values", names)

    if modality == "audio" and (layout := _audio_layout(model)) is not None:
        return layout
    base = getattr(model, "base_model_prefix", "")
    if base and _get(model, base) is not None:
        stem = _first(model, base, ["embeddings", "embedder"])
        layers = _first(model, base, ["encoder.layer", "encoder.stages", "transformer.layer", "encoder.layers", "layers"])
        if stem and layers:
            n = len(model.get_submodule(layers))
            kind = "layer" if "stage" not in layers else "stage"
            return Layout(f"hf-{modality}", [stem], [[f"{layers}.{i}"] for i in range(n)],
                          {"text": "inputs_embeds", "audio": "input_values"}.get(modality, "pixel_values"),
                          [f"{kind} {i + 1}" for i in range(n)])
    return _generic_layout(model)


def _audio_layout(model: nn.Module) -> Layout | None:
    """Whisper (its encoder's convolutions and positions, then its layers) and the wav2vec 2.0
    family (the waveform's convolutions and projection, then the transformer's layers). The head
    may read every layer (a weighted sum), so cached states cannot simply re-enter after block k;
    but it reads them only through a linear projection averaged over time, so the cache holds the
    frozen layers' time-averages and the model's forward is swapped to start at layer k (`reenter`,
    ftapp/train/prefix_cache.py)."""
    base = getattr(model, "base_model_prefix", "")
    config = getattr(model, "config", None)
    if all(_get(model, p) is not None for p in ("encoder.conv1", "encoder.conv2", "encoder.embed_positions",
                                                "encoder.layers")):   # Whisper
        n = len(model.get_submodule("encoder.layers"))
        whisper = hasattr(model, "projector")
        blocks = [[f"encoder.layers.{i}"] for i in range(n)]
        blocks[-1].append("encoder.layer_norm")   # the encoder's final layer norm tops its last layer
        return Layout("hf-audio", ["encoder.conv1", "encoder.conv2", "encoder.embed_positions"], blocks, None,
                      [f"layer {i + 1}" for i in range(n)], summary=whisper, reenter="encoder" if whisper else "")
    stem, layers = [f"{base}.feature_extractor", f"{base}.feature_projection"], f"{base}.encoder.layers"
    if not all(_get(model, p) is not None for p in stem + [layers]):
        return None
    n = len(model.get_submodule(layers))
    blocks = [[f"{layers}.{i}"] for i in range(n)]
    # the positions (a convolution) and, unless "stable", the layer norm run before the first layer;
    # "stable" models norm after the last one instead
    stem.append(f"{base}.encoder.pos_conv_embed")
    stable = bool(getattr(config, "do_stable_layer_norm", False))
    (blocks[-1] if stable else stem).append(f"{base}.encoder.layer_norm")
    # an adapter after the layers would change the last state: not re-entered
    reenter = base if (getattr(config, "model_type", "") in WAVEFORM_OUTPUTS and not getattr(config, "add_adapter", False)
                       and hasattr(model, "projector")) else ""
    return Layout("hf-audio", stem, blocks, None, [f"layer {i + 1}" for i in range(n)], reenter=reenter)


# what the base model returns (the head reads the hidden states by position)
WAVEFORM_OUTPUTS = {"wav2vec2": "Wav2Vec2BaseModelOutput", "hubert": "BaseModelOutput", "wavlm": "Wav2Vec2BaseModelOutput"}



def _timm_layout(model: nn.Module) -> Layout:
    """timm's own layer groups (`group_matcher`): the first is the stem, the last holds the head."""
    from timm.models import group_modules

    net = model.model
    groups = list(group_modules(net, net.group_matcher(coarse=True)).values())
    head = net.get_classifier()
    head_names = {n for n, m in net.named_modules() if m is head}
    if groups and head_names & set(groups[-1]):
        groups = groups[:-1]
    stem, blocks = [f"model.{n}" for n in groups[0]], [[f"model.{n}" for n in g] for g in groups[1:]]
    return Layout("timm", stem, blocks, None, [f"block {i + 1}" for i in range(len(blocks))])


def _generic_layout(model: nn.Module) -> Layout:
    """Unknown family: the biggest ModuleList/Sequential is the block list; no prefix cache."""
    best, best_size = None, 0
    for path, module in model.named_modules():
        if isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) >= 2:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = path, size
    if best is None:
        return Layout("generic", [], [], None)
    n = len(model.get_submodule(best))
    # Parameters registered before the block list (embeddings, stem) join block 0.
    first_block_param = next(iter(model.get_submodule(f"{best}.0").parameters()), None)
    stem = []
    for path, child in model.named_children():
        if any(p is first_block_param for p in child.parameters()):
            break
        if any(True for _ in child.parameters()):
            stem.append(path)
    return Layout("generic", stem, [[f"{best}.{i}"] for i in range(n)], None,
                  [f"block {i + 1}" for i in range(n)])


class Bypass(nn.Module):
    """Stands in for a frozen module whose output is already cached: hands its input through.

    The model's own forward still runs (masks, pooling, head), but embeddings and frozen
    blocks cost nothing. Attribute reads fall through to the original module, because some
    forwards inspect it (ViT reads the patch projection's dtype).
    """

    def __init__(self, original: nn.Module, as_tuple: int):
        super().__init__()
        object.__setattr__(self, "_original", original)  # not registered: no params, no state_dict
        self.as_tuple = as_tuple

    def forward(self, *args, **kwargs):
        x = next(a for a in (*args, *kwargs.values()) if torch.is_tensor(a) and a.is_floating_point())
        # a layer that returns a tuple (hidden states, attention weights …) gets one of the same length
        return (x,) + (None,) * (self.as_tuple - 1) if self.as_tuple else x

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


def swap_module(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = parent.get_submodule(name)
    if isinstance(parent, (nn.ModuleList, nn.Sequential)):
        parent[int(name)] = new
    else:
        setattr(parent, name, new)
    return old
