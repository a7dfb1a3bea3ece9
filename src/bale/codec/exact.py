"""Lossless coding of exact columns (integers, bools, floats marked ``exact``).

Values are viewed as unsigned integers of their own width (so every bit pattern,
NaN payloads included, survives) and coded with the cheapest of a few classical
transforms, chosen per chunk by the real encoded size:

- ``offset``: value minus the chunk minimum (counts, small categories);
- ``delta``: zigzag of the difference to the previous row (sorted ids, event numbers);
- ``dict``: index into the sorted distinct values (few distinct but scattered values: pdgId);
- ``zstd``: byte-shuffled raw bytes through zstd (high-entropy floats stored exactly);
- ``context`` (format version 3): value minus the chunk minimum, coded with one histogram per
  bucket of earlier exact columns, around each bucket's median (:mod:`bale.codec.context`):
  ``n_charged`` given ``n_constituents``. Only when the model gives the column a context.

No float arithmetic touches these values, so they decode bit-exact on any machine.
"""

from __future__ import annotations

import numpy as np
import zstandard

from bale.codec.context import ResidualContext, decode_in_context, encode_in_context
from bale.codec.uint_stream import STREAM_VERSION, decode_ints, decode_uints, encode_uints, zigzag
from bale.codec.varint import ByteReader, block, encode_varint
from bale.errors import BaleFormatError

__all__ = ["decode_exact", "encode_exact"]

_OFFSET, _DELTA, _ZSTD, _DICT, _CONTEXT = 0, 1, 2, 3, 4
_ZSTD_LEVEL = 9
_MAX_DICT = 4096


def _as_bits(values: np.ndarray) -> np.ndarray:
    """Reinterpret as uint64 preserving order for signed integers (flip the sign bit)."""
    size = values.dtype.itemsize
    if values.dtype.kind == "b":
        return values.astype(np.uint64)
    unsigned = values.view(f"u{size}").astype(np.uint64)
    if values.dtype.kind == "i":
        unsigned ^= np.uint64(1 << (8 * size - 1))
    return unsigned


def _from_bits(bits: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return bits.astype(bool)
    size = dtype.itemsize
    if dtype.kind == "i":
        bits = bits ^ np.uint64(1 << (8 * size - 1))
    return bits.astype(f"u{size}").view(dtype)


def encode_exact(values: np.ndarray, context: ResidualContext | None = None) -> bytes:
    """The cheapest coding of ``values``; ``context``: also try coding them in it (``context`` kind)."""
    values = np.ascontiguousarray(values)
    bits = _as_bits(values)
    candidates: list[bytes] = []
    if len(bits):
        low = int(bits.min())
        span = bits - np.uint64(low)
        candidates.append(bytes([_OFFSET]) + encode_varint(low) + encode_uints(span))
        if context is not None and context.values and int(span.max()) < 1 << 62:
            coded = encode_in_context(span.view(np.int64), context.values, context.buckets, centred=True)
            candidates.append(bytes([_CONTEXT]) + encode_varint(low) + coded)
        diffs = np.diff(bits.view(np.int64), prepend=np.int64(0))
        candidates.append(bytes([_DELTA]) + encode_uints(zigzag(diffs)))
        distinct = np.unique(bits)
        if len(distinct) <= min(_MAX_DICT, len(bits) // 2):
            ranks = np.searchsorted(distinct, bits)
            table = encode_uints(np.diff(distinct, prepend=np.uint64(0)))
            candidates.append(bytes([_DICT]) + encode_varint(len(distinct)) + block(table) + encode_uints(ranks))
    raw = values.view(np.uint8).reshape(-1, max(values.dtype.itemsize, 1)).T.tobytes()
    candidates.append(bytes([_ZSTD]) + block(zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(raw)))
    return min(candidates, key=len)


def decode_exact(
    data: bytes | memoryview,
    n: int,
    dtype: np.dtype,
    version: int = STREAM_VERSION,
    context: ResidualContext | None = None,
) -> np.ndarray:
    """Inverse of :func:`encode_exact`; ``version`` is the container's format version."""
    dtype = np.dtype(dtype)
    reader = ByteReader(data)
    kind = reader.take(1)[0]
    if kind == _OFFSET:
        low = reader.varint()
        if low >= 1 << 64:
            raise BaleFormatError("offset out of range")
        bits = decode_uints(reader, n, version) + np.uint64(low)
    elif kind == _DELTA:
        bits = np.cumsum(decode_ints(reader, n, version)).view(np.uint64)
    elif kind == _DICT:
        size = reader.varint()
        if not 1 <= size <= min(_MAX_DICT, max(n, 1)):
            raise BaleFormatError("exact column dictionary size out of range")
        distinct = np.cumsum(decode_uints(reader.block(), size, version), dtype=np.uint64)
        ranks = decode_uints(reader, n, version)
        if n and int(ranks.max()) >= size:
            raise BaleFormatError("exact column refers past its dictionary")
        bits = distinct[ranks.astype(np.int64)]
    elif kind == _CONTEXT and context is not None and context.values:
        low = reader.varint()
        if low >= 1 << 64:
            raise BaleFormatError("offset out of range")
        symbols = decode_in_context(reader.take(reader.remaining), n, context.values, version, centred=True)
        bits = symbols.view(np.uint64) + np.uint64(low)
    elif kind == _ZSTD:
        size = max(dtype.itemsize, 1)
        frame = bytes(reader.block())
        try:
            declared = zstandard.get_frame_parameters(frame).content_size
            if declared != n * size:  # checked before anything is allocated
                raise BaleFormatError(f"exact column declares {declared} bytes, expected {n * size}")
            raw = zstandard.ZstdDecompressor().decompress(frame, max_output_size=n * size)
        except zstandard.ZstdError as exc:
            raise BaleFormatError(f"corrupt zstd block: {exc}") from None
        if len(raw) != n * size:
            raise BaleFormatError("exact column has the wrong length")
        return np.frombuffer(raw, dtype=np.uint8).reshape(size, n).T.copy().view(dtype).reshape(n)
    else:
        raise BaleFormatError(f"unknown exact-column coding {kind}")
    return _from_bits(bits, dtype)
