"""Pack unsigned integers of varying bit widths into a dense bit string, vectorized.

The extra-bit layout of format version 1, kept to read those files (version 2 stores
the extra bits in value order, see :mod:`bale.codec.rans`).

Values are grouped by width (ascending) and each group is stored as fixed-width,
most-significant-bit-first fields; the decoder knows every value's width (from its
token), so it can find the groups again. Work is proportional to the number of bits.
"""

from __future__ import annotations

import numpy as np

from bale.errors import BaleFormatError

__all__ = ["pack_bits", "unpack_bits"]


def _groups(widths: np.ndarray) -> list[tuple[int, np.ndarray]]:
    present = np.flatnonzero(np.bincount(widths.astype(np.int64), minlength=1))
    return [(int(w), np.flatnonzero(widths == w)) for w in present if w > 0]


def pack_bits(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate the low ``widths[i]`` bits of each ``values[i]`` (uint64)."""
    if len(values) == 0 or not widths.any():
        return b""
    values = values.astype(np.uint64, copy=False)
    parts = []
    for w, idx in _groups(widths):
        shifts = np.arange(w - 1, -1, -1, dtype=np.uint64)
        parts.append(((values[idx, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel())
    return np.packbits(np.concatenate(parts)).tobytes()


def unpack_bits(data: bytes | memoryview, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_bits`: one uint64 per entry of ``widths``."""
    out = np.zeros(len(widths), dtype=np.uint64)
    total = int(widths.astype(np.int64).sum())
    if total == 0:
        return out
    if len(data) * 8 < total:
        raise BaleFormatError("bit stream shorter than its declared widths")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=total)
    pos = 0
    for w, idx in _groups(widths):
        field = bits[pos : pos + len(idx) * w].reshape(len(idx), w)
        pos += len(idx) * w
        if w <= 52:  # exact in float64, and a BLAS product is the fastest way to weigh the bits
            weights = np.ldexp(1.0, np.arange(w - 1, -1, -1))
            out[idx] = (field.astype(np.float64) @ weights).astype(np.uint64)
        else:
            acc = np.zeros(len(idx), dtype=np.uint64)
            for k in range(w):
                acc = (acc << np.uint64(1)) | field[:, k].astype(np.uint64)
            out[idx] = acc
    return out
