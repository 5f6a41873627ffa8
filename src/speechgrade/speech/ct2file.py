"""Read the weights of a CTranslate2 model file (`model.bin`) into NumPy arrays, without CTranslate2.

The layout (CTranslate2's `ModelSpec._serialize`, binary version 6): uint32 version, the spec name, uint32
revision, uint32 count, then per variable its name, rank, uint32 dims, a dtype id and uint32 byte count
before the raw bytes; then aliases (name -> name). Every count and size is checked against the bytes left
in the file, so a damaged or hostile file is a clear error, never a huge allocation.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
VERSIONS = (5, 6)


class _Reader:
    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelNotFoundError(f"{self.path}: not a CTranslate2 model file (truncated at byte {self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = bytes(self.take(self.unpack("H")))
        return raw.rstrip(b"\0").decode("utf-8", "replace")


def read_ct2(path: str | os.PathLike, prefix: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable: array}) of a CTranslate2 `model.bin`, names under `prefix` only. float16 weights
    stay float16; the arrays are views of the mapped file (nothing is copied)."""
    path = Path(path)
    try:
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{path}: cannot read the model file ({exc})") from None
    r = _Reader(memoryview(mapped), path)
    version = r.unpack("I")
    if version not in VERSIONS:
        raise ModelNotFoundError(f"{path}: CTranslate2 binary version {version} is not supported (5 or 6)")
    spec = r.string()
    r.unpack("I")  # revision
    arrays: dict[str, np.ndarray] = {}
    for _ in range(r.unpack("I")):
        name = r.string()
        dims = [r.unpack("I") for _ in range(r.unpack("B"))]
        dtype = DTYPES.get(r.unpack("B"))
        size = r.unpack("I")
        if dtype is None or size != int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize:
            raise ModelNotFoundError(f"{path}: variable {name!r} has an unknown type or a size that does not fit")
        start = r.pos
        r.take(size)
        # a view of the mapped file, not a copy (aliases may point at any variable, so all are kept)
        arrays[name] = np.frombuffer(mapped, dtype, count=size // np.dtype(dtype).itemsize, offset=start).reshape(dims)
    for _ in range(r.unpack("I")):
        alias, target = r.string(), r.string()
        if target in arrays:  # CTranslate2 stores equal variables once (e.g. zero biases of a fresh model)
            arrays[alias] = arrays[target]
    return spec, {k: v for k, v in arrays.items() if k.startswith(prefix)}
