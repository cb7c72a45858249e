"""The bundled audio example, assets/examples/drums.zip: one drum kit's sounds in five class folders.

The kit is "BJA_Pacific" by Luc Tunguay (CC BY-SA 3.0 US), from Debian's `hydrogen-drumkits`
(the same source as the drums5 evaluation set, whose test kits are different ones). Up to
PER_CLASS sounds per class (kick, snare, hihat, cymbal, tom), evenly spread over the kit's files
of that class, each mixed to mono, resampled to 16 kHz, cut to its first SECONDS and written as
16-bit FLAC: small enough for the repository, and a run on it finishes in seconds.

    python benchmarks/evalsets/make_audio_example.py --out assets/examples/drums.zip
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

KIT = "BJA_Pacific"
PER_CLASS = 10
SECONDS = 1.5
RATE = 16_000


def main() -> None:
    import soundfile as sf

    from ftapp.data.audio import read_audio
    from make_audio_sets import kits, samples

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ftapp-evalsets" / "audio")
    args = ap.parse_args()
    by_class: dict[str, list[Path]] = {}
    for kit, cls, path in samples(kits(args.cache)):
        if kit == KIT:
            by_class.setdefault(cls, []).append(path)
    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_STORED) as zf:   # FLAC is compressed already
        for cls, paths in sorted(by_class.items()):
            paths = sorted(set(paths))
            step = max(1, len(paths) // PER_CLASS)
            for path in paths[::step][:PER_CLASS]:
                buf = io.BytesIO()
                sf.write(buf, read_audio(str(path), RATE, max_seconds=SECONDS), RATE, format="FLAC", subtype="PCM_16")
                zf.writestr(f"{cls}/{path.stem}.flac", buf.getvalue())
            print(f"{cls}: {min(PER_CLASS, len(paths[::step]))} of {len(paths)}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
