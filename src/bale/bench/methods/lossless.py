"""Lossless baselines: each column's raw bytes through zstd (levels 3 and 19), lzma (preset 6), or blosc2 + zstd.

blosc2 runs single-threaded (``nthreads=1``), clevel 9, ZSTD, with byte SHUFFLE or BITSHUFFLE and
``typesize`` the column's item size. zstandard compresses with ``threads=0`` (single-threaded).
"""

from __future__ import annotations

import lzma
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from bale.bench.container import pack, unpack
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method

__all__ = ["BACKENDS", "Backend", "decode_columns", "encode_columns", "methods"]


@dataclass(frozen=True)
class Backend:
    """A lossless coder of one column's bytes."""

    name: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[memoryview], bytes]
    requires: tuple[str, ...] = ()


def _zstd(level: int) -> Backend:
    def encode(a: np.ndarray) -> bytes:
        return zstandard.ZstdCompressor(level=level).compress(np.ascontiguousarray(a).tobytes())

    def decode(b: memoryview) -> bytes:
        return zstandard.ZstdDecompressor().decompress(b)

    return Backend(f"zstd-{level}", encode, decode)


def _lzma() -> Backend:
    def encode(a: np.ndarray) -> bytes:
        return lzma.compress(np.ascontiguousarray(a).tobytes())  # xz container, preset 6 (the default)

    def decode(b: memoryview) -> bytes:
        return lzma.decompress(b)

    return Backend("lzma", encode, decode)


def _blosc2(shuffle: str) -> Backend:
    def encode(a: np.ndarray) -> bytes:
        import blosc2

        a = np.ascontiguousarray(a)
        if a.nbytes == 0:
            return b""
        blosc2.set_nthreads(1)
        out: bytes = blosc2.compress2(
            a,
            typesize=a.dtype.itemsize,
            clevel=9,
            codec=blosc2.Codec.ZSTD,
            filters=[getattr(blosc2.Filter, shuffle.upper())],
            filters_meta=[0],
            nthreads=1,
        )
        return out

    def decode(b: memoryview) -> bytes:
        import blosc2

        if len(b) == 0:
            return b""
        out: bytes = blosc2.decompress2(bytes(b), nthreads=1)
        return out

    return Backend(f"blosc2-{shuffle}-zstd", encode, decode, ("blosc2",))


BACKENDS: dict[str, Backend] = {
    b.name: b for b in (_zstd(3), _zstd(19), _lzma(), _blosc2("shuffle"), _blosc2("bitshuffle"))
}


def encode_columns(columns: Columns, backend: Backend, meta: dict[str, Any] | None = None) -> bytes:
    return pack(columns, [backend.encode(a) for a in columns.values()], meta)


def decode_columns(blob: bytes, backend: Backend) -> Columns:
    parsed = unpack(blob)
    out: Columns = {}
    for (name, dtype), stream in zip(parsed.columns, parsed.streams, strict=True):
        out[name] = np.frombuffer(backend.decode(stream), dtype=dtype, count=parsed.rows)
    return out


def _method(backend: Backend) -> Method:
    def compress(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
        blob = encode_columns(columns, backend)
        return Encoded(len(blob), blob)

    def decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
        return decode_columns(encoded.payload, backend)

    return Method(
        name=backend.name,
        family="lossless",
        description=f"every column's raw bytes through {backend.name}",
        compress=compress,
        decompress=decompress,
        requires=backend.requires,
        bound_independent=True,
        lossless=True,
    )


def methods() -> list[Method]:
    return [_method(b) for b in BACKENDS.values()]
