"""Turning user items (texts, image files, recordings) into model inputs.

Text is tokenized once per run and padded per batch (dynamic padding). Images are decoded
and resized once to uint8 tensors at the model's resolution; normalisation is done per batch
on the fly because it is cheap. Augmentation (torchvision v2) only runs when asked for.
Recordings are decoded, mixed to mono, resampled and cut or padded to the model's window once,
and kept as the model's input features (Whisper: a log-mel spectrogram) in float16.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ftapp.data import open_image
from ftapp.data.audio import BUNDLED_WINDOW, MODEL_RATE


@dataclass
class ImageSpec:
    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict:
        return asdict(self)


class ImagePreprocessor:
    modality = "image"

    def __init__(self, spec: ImageSpec, hf_processor=None):
        from torchvision.transforms import v2   # here, not at the top: text runs start 1 s faster

        self._v2 = v2
        self.spec = spec
        self.hf_processor = hf_processor  # saved beside an exported transformers model
        self._resize = v2.Resize((spec.size, spec.size), antialias=True)
        self.set_augmentation(hflip=False)
        self._mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std).view(1, 3, 1, 1)

    def load(self, item) -> torch.Tensor:
        """Image file path or PIL image → resized uint8 CHW tensor (decoded once, kept)."""
        img = open_image(item) if isinstance(item, str) else item.convert("RGB")
        return self._resize(self._v2.functional.pil_to_tensor(img))

    def encode(self, items) -> list[torch.Tensor]:
        return [self.load(i) for i in items]

    def set_augmentation(self, hflip: bool) -> None:
        """Random crops and colour jitter; mirror images only when asked: a flip does not keep the
        label of digits, text in pictures, or anything with a left and a right."""
        v2, size = self._v2, (self.spec.size, self.spec.size)
        steps = [v2.RandomResizedCrop(size, scale=(0.7, 1.0), antialias=True)]
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        steps.append(v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2))
        self._augment = v2.Compose(steps)

    def collate(self, tensors: list[torch.Tensor], augment: bool = False, seeds: list[int] | None = None) -> dict:
        if augment:
            # One seed per example and epoch: the same run on 1 or 15 cores (DataLoader workers
            # have random streams of their own) sees the same augmented pictures.
            out = []
            for i, t in enumerate(tensors):
                with torch.random.fork_rng(devices=[]):
                    if seeds is not None:
                        torch.manual_seed(seeds[i] % 2**63)
                    out.append(self._augment(t))
            tensors = out
        x = torch.stack(tensors).float().div_(255)
        return {"pixel_values": (x - self._mean) / self._std}


def padded_width(n: int, multiple: int = 8) -> int:
    """Batches are padded to a multiple of 8 tokens: few distinct shapes, so the first epoch does
    not pay kernel set-up for dozens of new ones (measured: CPU bf16 kernels are built per shape)."""
    return -(-n // multiple) * multiple


class TextPreprocessor:
    modality = "text"

    def __init__(self, tokenizer, max_length: int = 128):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, texts) -> list[list[int]]:
        texts = list(texts)
        if not texts:   # a split left empty (tokenizers fail on an empty batch)
            return []
        return self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

    def collate(self, ids: list[list[int]], augment: bool = False, seeds=None) -> dict:
        width = padded_width(max(len(i) for i in ids))
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    @staticmethod
    def lengths(encoded: list[list[int]]) -> list[int]:
        return [len(i) for i in encoded]


@dataclass
class AudioSpec:
    sampling_rate: int = MODEL_RATE
    seconds: float = BUNDLED_WINDOW   # the window: longer clips are cut to their first seconds, shorter ones padded

    def to_dict(self) -> dict:
        return asdict(self)


class AudioPreprocessor:
    """Recordings (file paths, or (rate, samples) as a microphone gives them) → the feature
    extractor's input for a fixed window, computed once. Augmentation (asked for) works on those
    features each epoch, SpecAugment-style (Park et al., 2019): a delay of up to a tenth of the
    window (never an earlier start: that would cut a sound's onset), a gain of up to ±6 dB, added
    noise 30–60 dB below the clip's loudest moment (Whisper's log-mel features, whose scale is
    known), and two stretches of time and two bands of pitch silenced. Band masks hide pitch: where
    classes differ only by pitch (a note, a tone), leave augmentation off."""
    modality = "audio"
    SHIFT, GAIN, TIME_MASK, BAND_MASK = 0.1, 0.15, 0.05, 8   # window share; log-mel units (6 dB); share; bands
    NOISE_BELOW = (3.0, 6.0)   # the added noise's level under the loudest moment, in log10 power (30–60 dB)

    def __init__(self, extractor, seconds: float | None = None):
        self.hf_processor = extractor   # saved beside the exported model: pipeline() reads it
        rate = int(extractor.sampling_rate)
        window = getattr(extractor, "n_samples", None)
        self.spec = AudioSpec(rate, float(seconds or (window / rate if window else AudioSpec.seconds)))
        self.key = extractor.model_input_names[0]     # "input_features" (Whisper) or "input_values"

    def samples(self, item) -> np.ndarray:
        """Mono float32 samples at the model's rate, cut or zero-padded to the window."""
        from ftapp.data.audio import read_audio, resample

        rate, n = self.spec.sampling_rate, int(self.spec.seconds * self.spec.sampling_rate)
        if isinstance(item, tuple):               # (rate, samples): Gradio's microphone and upload
            source_rate, x = item
            x = np.asarray(x)
            x = x.astype(np.float32) / (np.iinfo(x.dtype).max + 1) if x.dtype.kind == "i" else x.astype(np.float32)
            x = resample(x.mean(axis=1) if x.ndim == 2 else x, int(source_rate), rate)
        else:
            x = read_audio(str(item), rate, self.spec.seconds)
        x = x[:n]
        return np.pad(x, (0, n - len(x))) if len(x) < n else x

    def load(self, item) -> torch.Tensor:
        x = self.samples(item)
        out = self.hf_processor(x, sampling_rate=self.spec.sampling_rate, return_tensors="np")[self.key][0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32)).half()

    def encode(self, items) -> list[torch.Tensor]:
        return [self.load(i) for i in items]

    def collate(self, tensors: list[torch.Tensor], augment: bool = False, seeds=None) -> dict:
        x = torch.stack([t.float() for t in tensors])   # (stacking float16 fails under CPU autocast)
        if augment and x.ndim == 3:   # spectrograms (bands × frames); a waveform model's input is left as is
            x = torch.stack([self._augment(f, None if seeds is None else seeds[i]) for i, f in enumerate(x)])
        return {self.key: x}

    def _augment(self, f: torch.Tensor, seed: int | None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed % 2**63) if seed is not None else None
        u = lambda: float(torch.rand((), generator=g))   # noqa: E731
        bands, frames = f.shape
        quiet = float(f.min())
        delay = int(u() * self.SHIFT * frames)
        f = torch.cat([torch.full((bands, delay), quiet), f[:, : frames - delay]], dim=1) if delay else f.clone()
        f += (2 * u() - 1) * self.GAIN
        if self.key == "input_features":   # Whisper: f = (log10 power + 4) / 4, so noise adds in power
            power = 10 ** (4 * f - 4)
            below = self.NOISE_BELOW[0] + u() * (self.NOISE_BELOW[1] - self.NOISE_BELOW[0])
            noise = float(power.max()) * 10 ** -below * torch.empty_like(f).exponential_(generator=g)
            f = (torch.log10(power + noise) + 4) / 4
        for _ in range(2):
            width, start = int(u() * self.TIME_MASK * frames), u()
            f[:, int(start * (frames - width)): int(start * (frames - width)) + width] = quiet
            width, start = int(u() * self.BAND_MASK), u()
            f[int(start * (bands - width)): int(start * (bands - width)) + width] = quiet
        return f
