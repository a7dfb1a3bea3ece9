"""The stored layout of a coded grid: predictor ids, blocks, and the parts of its section.

A grid is coded as one container section holding named parts (docs/grids.md, "File format"):
``head``, ``plan`` (block shape and the predictor id of each block), ``res.<predictor>``,
``latent``, ``sign`` and ``raw``. This module owns what both directions and ``bale info`` read
from it: the ids, the block geometry, and the packing of the parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bale.codec.uint_stream import decode_uints
from bale.codec.varint import ByteReader, encode_varint
from bale.codec.varint import block as prefixed
from bale.errors import BaleFormatError

__all__ = [
    "AXES",
    "CLASSICAL",
    "INTERP",
    "MAX_BLOCKS",
    "PREDICTORS",
    "as_3d",
    "block_count",
    "blocks",
    "describe_parts",
    "pack_sections",
    "shape_of",
    "unpack_sections",
]

# predictor id -> name; the ids are stored in files: only ever append
PREDICTORS: dict[int, str] = {
    0: "lorenzo",
    1: "lorenzo2d",
    2: "interp",
    3: "interp2d",
    4: "conv",
    5: "interp-hwt",
    6: "interp-wht",
}
CLASSICAL = (0, 1, 2, 3, 5, 6)
INTERP = (2, 3, 5, 6)
# axes predicted along, in order (interpolation: the order of the axes at each level matters)
AXES = {0: (0, 1, 2), 1: (1, 2), 2: (0, 1, 2), 3: (1, 2), 5: (1, 2, 0), 6: (2, 1, 0)}

MAX_BLOCKS = 1 << 20  # blocks of one grid: each is a step of Python, so their count is bounded


def as_3d(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (frames, H, W) view of a shape: leading axes merged, missing ones 1."""
    if len(shape) == 0:
        return (1, 1, 1)
    if len(shape) == 1:
        return (1, 1, shape[0])
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    return (int(np.prod(shape[:-2])), shape[-2], shape[-1])


def block_count(shape: tuple[int, ...], block: tuple[int, ...], *, check: bool = True) -> int:
    """Blocks of ``block`` in a grid of ``shape``: each edge at least 2 (or the grid's), at most MAX_BLOCKS."""
    if len(block) != 3 or len(shape) != 3 or any(b < min(2, n) or b < 1 for b, n in zip(block, shape, strict=True)):
        raise BaleFormatError(f"bad block shape {tuple(block)} for a grid of shape {shape}")
    count = 1
    for b, n in zip(block, shape, strict=True):
        count *= -(-n // b)
    if check and count > MAX_BLOCKS:
        raise BaleFormatError(f"a grid of {count} blocks, more than the {MAX_BLOCKS} allowed")
    return count


def blocks(shape: tuple[int, ...], block: tuple[int, ...]) -> list[tuple[slice, slice, slice]]:
    """The blocks of a grid in raster order (the order of the plan's predictor ids)."""
    out = []
    for a in range(0, shape[0], block[0]):
        for b in range(0, shape[1], block[1]):
            for c in range(0, shape[2], block[2]):
                out.append((slice(a, a + block[0]), slice(b, b + block[1]), slice(c, c + block[2])))
    return out


def shape_of(s: tuple[slice, slice, slice], shape: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(len(range(*sl.indices(n))) for sl, n in zip(s, shape, strict=True))  # type: ignore[return-value]


def pack_sections(sections: Mapping[str, bytes]) -> bytes:
    """The parts of a grid as one container section: ``varint n | n × (name, payload)``, length-prefixed."""
    out = bytearray(encode_varint(len(sections)))
    for name, payload in sections.items():
        out += prefixed(name.encode()) + prefixed(bytes(payload))
    return bytes(out)


def unpack_sections(data: bytes | memoryview) -> dict[str, memoryview]:
    reader = ByteReader(data)
    n = reader.varint()
    if n > 64:
        raise BaleFormatError(f"a grid of {n} parts")
    out: dict[str, memoryview] = {}
    for _ in range(n):
        try:
            name = bytes(reader.block()).decode()
        except UnicodeDecodeError:
            raise BaleFormatError("bad part name in a grid") from None
        out[name] = reader.block()
    if reader.remaining:
        raise BaleFormatError("trailing bytes after a grid's parts")
    return out


def describe_parts(sections: Mapping[str, bytes | memoryview], shape: tuple[int, ...]) -> dict[str, Any]:
    """Block shape, blocks per predictor and raw values of a coded grid of ``shape``, read from its parts."""
    try:
        head = ByteReader(sections["head"])
        head.varint()
        raw = head.varint()
        plan = ByteReader(sections["plan"])
        blk = [plan.varint(), plan.varint(), plan.varint()]
        choice = decode_uints(plan.block(), block_count(as_3d(shape), tuple(blk))).astype(np.int64)
    except KeyError as exc:
        raise BaleFormatError(f"a grid lacks its part {exc}") from None
    counts = np.bincount(choice, minlength=len(PREDICTORS)) if choice.size else np.zeros(0, np.int64)
    used = {PREDICTORS.get(i, f"#{i}"): int(n) for i, n in enumerate(counts.tolist()) if n}
    return {"block": blk, "predictors": used, "raw_values": raw}
