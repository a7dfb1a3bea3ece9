"""Pack unsigned integers of varying bit widths into a dense bit string (MSB first), vectorized."""

from __future__ import annotations

import numpy as np

from bale.errors import BaleFormatError


def _bit_layout(widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every output bit: the index of its value and the bit's shift within that value."""
    widths = widths.astype(np.int64)
    total = int(widths.sum())
    owner = np.repeat(np.arange(len(widths), dtype=np.int64), widths)
    starts = np.cumsum(widths) - widths
    shift = (widths[owner] - 1) - (np.arange(total, dtype=np.int64) - starts[owner])
    return owner, shift


def pack_bits(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate the low ``widths[i]`` bits of each ``values[i]`` (uint64)."""
    if len(values) == 0 or not widths.any():
        return b""
    mask = widths > 0
    values, widths = values[mask].astype(np.uint64), widths[mask]
    owner, shift = _bit_layout(widths)
    bits = ((values[owner] >> shift.astype(np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


def unpack_bits(data: bytes | memoryview, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_bits`: one uint64 per entry of ``widths``."""
    out = np.zeros(len(widths), dtype=np.uint64)
    total = int(widths.astype(np.int64).sum())
    if total == 0:
        return out
    if len(data) * 8 < total:
        raise BaleFormatError("bit stream shorter than its declared widths")
    mask = widths > 0
    sub_widths = widths[mask]
    owner, shift = _bit_layout(sub_widths)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=total).astype(np.uint64)
    contrib = bits << shift.astype(np.uint64)
    starts = (np.cumsum(sub_widths) - sub_widths).astype(np.int64)
    out[mask] = np.add.reduceat(contrib, starts)
    return out
