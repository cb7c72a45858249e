"""Reading and checking recordings (soundfile + scipy; no torch here).

`inspect` runs once per file at ingestion: it reads the header (format, rate, channels, length)
and decodes the first seconds, which catches files that are not audio or are cut off, and gives
the facts the data report sums up (`summarise`).
`read_audio` is what the trainer and the predictor use: mono, resampled to the model's rate.

Resampling: `scipy.signal.resample_poly` (already installed with scikit-learn). Measured on this
2-core CPU, 10 s at 44.1 kHz → 16 kHz takes 4.6 ms (soxr: 1.6 ms); both are noise beside the
~100 ms the bundled encoder spends on a clip, so no extra package.
"""
from __future__ import annotations

import os
from math import gcd

import numpy as np

from ftapp.errors import UserFacingError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".oga", ".opus", ".aif", ".aiff"}
MODEL_RATE = 16_000       # what the bundled model and the catalog's audio models hear (samples a second)
BUNDLED_WINDOW = 5        # seconds of each recording the bundled model hears: chosen by measurement (README, "Sounds")
MAX_SECONDS = 600         # longer files are left out at ingestion: the model hears a few seconds of each
MIN_SECONDS = 0.05
SILENT = 1e-4             # peak amplitude under which a recording counts as silent


class AudioError(UserFacingError, ValueError):
    """A recording cannot be used; the message is written for the user."""


def inspect(path: str, max_seconds: float = MAX_SECONDS) -> tuple[str | None, dict | None]:
    """Read once at ingestion: why the file cannot be used (a sentence for the data report; None
    when it can), and else what the report says of it (`_facts`). The header gives the length;
    decoding the first 10 s (a header alone does not prove the data is readable) gives silence and
    clipping — twice what the bundled model hears, and little enough for big uploads."""
    import soundfile as sf

    try:
        info = sf.info(path)
        if info.frames <= 0 or info.samplerate <= 0:
            return "holds no sound (0 seconds) and was left out.", None
        seconds = info.frames / info.samplerate
        if seconds < MIN_SECONDS:
            return f"is only {seconds * 1000:.0f} ms long and was left out.", None
        if seconds > max_seconds:
            return (f"is {seconds / 60:.0f} minutes long, more than the {max_seconds / 60:.0f} minutes allowed per "
                    "recording; cut it into short clips (a few seconds each) and upload those."), None
        with sf.SoundFile(path) as f:
            x = f.read(min(info.frames, info.samplerate * 10), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile's errors vary by format; any means unusable
        return f"could not be read as audio ({_short(exc)}); use WAV, FLAC, OGG or MP3 files.", None
    return None, _facts(info, x)


def _facts(info, x: np.ndarray) -> dict:
    peak = float(np.abs(x).max()) if x.size else 0.0
    return {"seconds": info.frames / info.samplerate, "rate": info.samplerate, "channels": info.channels,
            "silent": peak < SILENT, "clipped": float(np.mean(np.abs(x) >= 0.999)) > 0.001}


def _short(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    return text.split(": ", 1)[-1][:120] if text else type(exc).__name__


def read_audio(path: str, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples at `rate` (channels averaged), at most `max_seconds` of them."""
    import soundfile as sf

    try:
        with sf.SoundFile(path) as f:
            frames = -1 if max_seconds is None else int(max_seconds * f.samplerate) + 1
            x = f.read(frames, dtype="float32", always_2d=True)
            source_rate = f.samplerate
    except Exception as exc:  # noqa: BLE001
        raise AudioError(f"'{os.path.basename(str(path))}' could not be read as audio ({_short(exc)}).") from None
    x = resample(x.mean(axis=1), source_rate, rate)
    return x if max_seconds is None else x[: int(max_seconds * rate)]


def resample(x: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if source_rate == rate:
        return x.astype(np.float32, copy=False)
    g = gcd(rate, source_rate)
    return resample_poly(x, rate // g, source_rate // g).astype(np.float32)


def summarise(facts: list[dict], labels: list[str]) -> dict:
    """What the data report says about the recordings (`inspect`'s facts of each): lengths per class,
    sample rates, channels, and how many are silent, clipped or longer than the bundled model hears."""
    rows = list(zip(labels, facts))
    per_class = {}
    for label in sorted(set(labels)):
        seconds = sorted(d["seconds"] for lab, d in rows if lab == label)
        per_class[label] = {"min": seconds[0], "median": seconds[len(seconds) // 2], "max": seconds[-1]}
    count = lambda key: sum(1 for _, d in rows if d[key])   # noqa: E731
    rates: dict[int, int] = {}
    for _, d in rows:
        rates[d["rate"]] = rates.get(d["rate"], 0) + 1
    return {"kind": "audio", "rows": len(rows), "seconds": per_class, "rates": dict(sorted(rates.items())),
            "stereo": sum(1 for _, d in rows if d["channels"] > 1), "silent": count("silent"),
            "clipped": count("clipped"), "longer": sum(1 for _, d in rows if d["seconds"] > BUNDLED_WINDOW),
            "heard_seconds": BUNDLED_WINDOW}


def summary_lines(d: dict) -> list[str]:
    """The data report's lines for `summarise`'s result."""
    rates = ", ".join(f"{rate:,} Hz ({n})" for rate, n in d["rates"].items())
    lines = [f"{d['rows']} recordings at {rates}" + (f"; {d['stereo']} in stereo (mixed to mono)" if d["stereo"] else "")
             + "; each is resampled to the model's rate.",
             "  lengths per class (shortest / median / longest): " + "; ".join(
                 f"{c} {s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f} s" for c, s in d["seconds"].items())]
    if d["longer"]:
        lines.append(f"  {d['longer']} recording(s) are longer than {d['heard_seconds']} s: the bundled model hears "
                     f"their first {d['heard_seconds']} s. Cut long recordings into clips of the sound itself.")
    if d["silent"]:
        lines.append(f"  {d['silent']} recording(s) are silent: check they hold the sound of their class.")
    if d["clipped"]:
        lines.append(f"  {d['clipped']} recording(s) are clipped (too loud when recorded); they are kept.")
    return lines


def spectrogram_picture(path: str, out: str, seconds: float = BUNDLED_WINDOW) -> str:
    """A picture of the recording's first seconds as the model's input resembles it: time to the
    right, low pitches at the bottom, louder brighter (log power; scipy's spectrogram). Returns `out`."""
    from PIL import Image
    from scipy.signal import spectrogram

    x = read_audio(path, MODEL_RATE, seconds)
    x = np.pad(x, (0, max(0, 400 - len(x))))
    _, _, power = spectrogram(x, fs=MODEL_RATE, nperseg=400, noverlap=240)
    db = np.log10(power + 1e-10)
    db = np.clip((db - (db.max() - 8)) / 8, 0, 1)[::-1]          # the top 80 dB, as Whisper's features keep
    Image.fromarray((db * 255).astype(np.uint8), mode="L").resize((320, 120)).save(out)
    return out
