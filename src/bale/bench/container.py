"""The self-describing blob every classical method writes: a JSON header, then length-prefixed streams.

Everything a decoder needs is in the blob and is counted in its size: the header (column names, dtypes,
row count, per-column settings), the length prefixes, every codec frame and every side stream (masks of
special values, signs, exception lists).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

__all__ = ["Blob", "pack", "unpack", "zstd_decode", "zstd_encode"]

_MAGIC = b"BLCB2"
_ZSTD_LEVEL = 19


@dataclass
class Blob:
    """What :func:`unpack` gives back."""

    rows: int
    columns: list[tuple[str, np.dtype]]
    meta: dict[str, Any]
    streams: list[memoryview] = field(default_factory=list)


def pack(columns: dict[str, np.ndarray], streams: list[bytes], meta: dict[str, Any] | None = None) -> bytes:
    rows = len(next(iter(columns.values()))) if columns else 0
    header = json.dumps(
        {"n": rows, "cols": [[k, v.dtype.str] for k, v in columns.items()], "meta": meta or {}},
        separators=(",", ":"),
    ).encode()
    parts = [_MAGIC, struct.pack("<II", len(header), len(streams)), header]
    for s in streams:
        if len(s) >= 2**32:
            raise ValueError("stream too large for this container")
        parts += [struct.pack("<I", len(s)), bytes(s)]
    return b"".join(parts)


def unpack(blob: bytes) -> Blob:
    mv = memoryview(blob)
    if bytes(mv[: len(_MAGIC)]) != _MAGIC:
        raise ValueError("bad magic")
    pos = len(_MAGIC)
    hlen, nstreams = struct.unpack_from("<II", mv, pos)
    pos += 8
    header = json.loads(bytes(mv[pos : pos + hlen]))
    pos += hlen
    streams = []
    for _ in range(nstreams):
        (slen,) = struct.unpack_from("<I", mv, pos)
        pos += 4
        streams.append(mv[pos : pos + slen])
        pos += slen
    if pos != len(blob):
        raise ValueError("trailing bytes in blob")
    cols = [(name, np.dtype(dt)) for name, dt in header["cols"]]
    return Blob(header["n"], cols, header.get("meta", {}), streams)


def zstd_encode(data: np.ndarray | bytes, level: int = _ZSTD_LEVEL) -> bytes:
    raw = np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data
    return zstandard.ZstdCompressor(level=level).compress(raw)  # threads=0: single-threaded


def zstd_decode(data: memoryview | bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data)
