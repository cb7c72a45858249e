"""The models ftapp offers: two bundled offline defaults, then a curated list of Hub ids.

Any other Hub id or local folder that transformers' Auto* classes load works too;
the catalog only decides what the app lists first and how it describes them.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

BUNDLED_TEXT = "all-MiniLM-L6-v2 (bundled)"
BUNDLED_IMAGE = "EfficientNet-Lite0 (bundled)"
BUNDLED_AUDIO = "Whisper tiny.en encoder (bundled)"


@dataclass(frozen=True)
class ModelSpec:
    name: str          # what the user picks; a Hub id for Hub models
    modality: str      # "image" | "text" | "audio"
    offline: bool      # True when it ships with the app (works with no network)
    description: str   # one line: what it is, size, languages, speed on a laptop CPU
    languages: str = "en"   # text models: "en" | "multilingual"

    def to_dict(self) -> dict:
        return asdict(self)


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(BUNDLED_TEXT, "text", True,
              "Small English sentence encoder (22M parameters, 6 blocks). Fast on CPU; good for short texts."),
    ModelSpec(BUNDLED_IMAGE, "image", True,
              "Mobile image classifier pre-trained on ImageNet (4.7M parameters, 8 blocks). Fast on CPU."),
    ModelSpec(BUNDLED_AUDIO, "audio", True,
              "OpenAI Whisper tiny.en's audio encoder (8M parameters, 4 blocks), hears 5 s per clip. Speech and "
              "other sounds; fast on CPU."),
    # multilingual text
    ModelSpec("intfloat/multilingual-e5-small", "text", False,
              "Multilingual sentence encoder, about 100 languages (118M, 12 blocks). Fine on CPU for a few "
              "thousand texts; the first choice for non-English text.", "multilingual"),
    ModelSpec("intfloat/multilingual-e5-base", "text", False,
              "Multilingual sentence encoder, about 100 languages (278M, 12 blocks). More accurate; wants a GPU.",
              "multilingual"),
    ModelSpec("FacebookAI/xlm-roberta-base", "text", False,
              "XLM-RoBERTa base, 100 languages (278M, 12 blocks). Strong when fully fine-tuned; wants a GPU.",
              "multilingual"),
    # English text
    ModelSpec("BAAI/bge-small-en-v1.5", "text", False,
              "English sentence encoder (33M, 12 blocks). A little slower than MiniLM, often more accurate; "
              "fine on CPU."),
    ModelSpec("microsoft/deberta-v3-small", "text", False,
              "English DeBERTa-v3 small (141M incl. a large vocabulary, 6 blocks). Accurate when fine-tuned; "
              "slow on CPU."),
    ModelSpec("microsoft/deberta-v3-base", "text", False,
              "English DeBERTa-v3 base (184M, 12 blocks). Among the most accurate base models; wants a GPU."),
    ModelSpec("answerdotai/ModernBERT-base", "text", False,
              "English ModernBERT base (149M, 22 blocks), long texts up to 8,192 tokens. Wants a GPU."),
    ModelSpec("distilbert-base-uncased", "text", False,
              "English DistilBERT (66M, 6 blocks). About 3x slower than MiniLM; stronger on longer texts."),
    # images
    ModelSpec("facebook/dinov2-small", "image", False,
              "DINOv2 small, self-supervised features (22M, 12 blocks). Excellent frozen features; fine on CPU "
              "with most blocks frozen."),
    ModelSpec("facebook/dinov2-base", "image", False,
              "DINOv2 base (86M, 12 blocks). Stronger features; wants a GPU to fine-tune."),
    ModelSpec("facebook/convnextv2-tiny-22k-224", "image", False,
              "ConvNeXt V2 tiny, ImageNet-22k (28M, 4 stages). Accurate all-rounder; wants a GPU."),
    ModelSpec("timm/efficientnet_b0.ra_in1k", "image", False,
              "EfficientNet-B0 from timm (5.3M). Fast on CPU; any other timm/… Hub id loads the same way."),
    ModelSpec("microsoft/resnet-50", "image", False,
              "ResNet-50 on ImageNet (25M, 4 stages). Solid all-rounder; slow on CPU."),
    ModelSpec("google/vit-base-patch16-224-in21k", "image", False,
              "Vision Transformer base on ImageNet-21k (86M, 12 blocks). Wants a GPU."),
    # sounds and speech
    ModelSpec("MIT/ast-finetuned-audioset-10-10-0.4593", "audio", False,
              "Audio Spectrogram Transformer trained on AudioSet's 527 sound classes (87M, 12 blocks). Strong for "
              "everyday sounds; wants a GPU."),
    ModelSpec("microsoft/wavlm-base-plus", "audio", False,
              "WavLM base plus (95M, 12 blocks): speech — speakers, commands, emotions. Wants a GPU."),
    ModelSpec("facebook/wav2vec2-base", "audio", False,
              "wav2vec 2.0 base (95M, 12 blocks), self-supervised on read English speech. Wants a GPU."),
    ModelSpec("facebook/hubert-base-ls960", "audio", False,
              "HuBERT base (95M, 12 blocks), self-supervised on read English speech. Wants a GPU."),
    ModelSpec("openai/whisper-small", "audio", False,
              "Whisper small's encoder (88M, 12 blocks), trained on 680,000 hours of speech in 99 languages; "
              "hears 5 s as the bundled one does. Wants a GPU."),
)


def multilingual_suggestion() -> str:
    return next(s.name for s in CATALOG if s.languages == "multilingual")


def models_for(modality: str | None = None) -> list[ModelSpec]:
    """Bundled models first, then the Hub list, filtered to one modality when given."""
    specs = [s for s in CATALOG if modality in (None, s.modality)]
    return sorted(specs, key=lambda s: not s.offline)


def find_spec(name: str) -> ModelSpec | None:
    return next((s for s in CATALOG if s.name == name), None)


def looks_like_local_path(name: str) -> bool:
    """A folder on this disk (or written like one), as opposed to a catalog name or Hub id."""
    name = (name or "").strip()
    return (name.startswith(("/", ".", "~", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", name))
            or os.path.isdir(name))


def default_model(modality: str) -> str:
    return {"text": BUNDLED_TEXT, "audio": BUNDLED_AUDIO}.get(modality, BUNDLED_IMAGE)


def default_frozen_layers(n_blocks: int, modality: str) -> int:
    """What a newcomer gets: keep the early, general-purpose blocks, adapt the later ones.

    Text: freeze the first third (MiniLM: 2 of 6). Images: freeze all but the last two blocks
    (EfficientNet-Lite0: 6 of 8), so training reuses ImageNet features and runs fast on CPU
    thanks to the frozen-prefix cache. Sounds: freeze every block; the head (Whisper: its mix of
    the layers, projection and classifier) trains from cached time-averages. Measured on drums5
    (unseen kits, seeds 0–2): 0.864 / 0.760 / 0.792 in 19–22 s against 0.864 / 0.728 / 0.816 in
    240–295 s with 2 of 4 frozen, and the same 0.356 on words15 (unseen voices) (README, "Sounds").
    """
    if modality == "audio":
        return n_blocks
    if n_blocks <= 1:
        return 0
    return n_blocks // 3 if modality == "text" else max(n_blocks - 2, 0)
