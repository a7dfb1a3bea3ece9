"""LEB128 unsigned varints and a small reader for length-prefixed byte layouts."""

from __future__ import annotations

import numpy as np

from bale.errors import BaleFormatError


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_varints(values: np.ndarray) -> bytes:
    """:func:`encode_varint` of each of ``values`` (non-negative, below 2**63), back to back, in NumPy passes."""
    v = np.asarray(values, dtype=np.int64)
    if not len(v):
        return b""
    if (v < 0).any():
        raise ValueError("varints are unsigned")
    lengths = np.ones(len(v), np.int64)
    for k in range(1, 10):
        lengths += v >= (1 << (7 * k))
    ends = np.cumsum(lengths)
    out = np.empty(int(ends[-1]), np.uint8)
    starts = ends - lengths
    for k in range(int(lengths.max())):
        has = lengths > k
        more = (lengths > k + 1).astype(np.uint8) << 7
        out[starts[has] + k] = ((v[has] >> (7 * k)) & 0x7F).astype(np.uint8) | more[has]
    return out.tobytes()


class ByteReader:
    """Reads varints and length-prefixed blocks, raising :class:`BaleFormatError` on truncation."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def varint(self) -> int:
        result = 0
        shift = 0
        while True:
            if self.pos >= len(self.data):
                raise BaleFormatError("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise BaleFormatError("varint too long")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise BaleFormatError(f"truncated block: need {n} bytes, {len(self.data) - self.pos} left")
        block = self.data[self.pos : self.pos + n]
        self.pos += n
        return block

    def block(self) -> memoryview:
        return self.take(self.varint())

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def block(data: bytes) -> bytes:
    """Length-prefix ``data`` so that :meth:`ByteReader.block` reads it back."""
    return encode_varint(len(data)) + data
