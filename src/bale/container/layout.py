"""The byte layout of a ``.bale`` file, shared by its writer and its reader.

Layout (all integers little-endian)::

    MAGIC (8 bytes) | u16 version | u16 flags | u32 header length | u32 header CRC-32
    header: UTF-8 JSON in a zstd frame (tables and their schemas, bounds, model reference, source metadata)
    model: safetensors bytes in a zstd frame, when embedded (length, CRC-32, SHA-256 in the header)
    chunk 0 | chunk 1 | ...      each chunk: its sections' bytes, back to back
    footer: UTF-8 JSON index in a zstd frame (per chunk: table, step, rows, offset, [name, length, CRC-32]
            per section)
    u64 footer offset | u32 footer length | u32 footer CRC-32 | END_MAGIC (8 bytes)

A file holds one or more tables (a dataset: a main table and collections of objects per
event, see :class:`bale.table.Dataset`); each chunk belongs to one table, and the chunks
of one *step* cover the same events in every table. Version 1 files hold one table. What
the header and footer hold is typed in :mod:`bale.container.schema`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import IO, Any

import zstandard

from bale.errors import BaleFormatError

__all__ = ["BASE_VERSION", "END_MAGIC", "FORMAT_VERSION", "MAGIC", "ChunkInfo", "Source"]

MAGIC = b"\x89BALE\r\n\x1a"
END_MAGIC = b"BALE-END"
# 3: residual contexts (bale.codec.context); 2: rANS token streams (bale.codec.rans); 1: constriction ANS
FORMAT_VERSION = 3  # the newest version this bale reads and writes
BASE_VERSION = 2  # what a file that uses nothing newer is written as, so that an older bale reads it
PREAMBLE = struct.Struct("<8sHHII")
TRAILER = struct.Struct("<QII8s")
FLAGS = 1  # bit 0: header, footer and embedded model are zstd frames
MAX_JSON = 64 * 2**20
JSON_FLOOR = 2**20  # JSON text any file may hold; past it, at most JSON_PER_BYTE bytes per byte of the file
JSON_PER_BYTE = 64
MAX_MODEL = 2**30
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


def crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def json_bytes(obj: Any) -> bytes:
    """Compact JSON, zstd-compressed: wide tables repeat names in the header, index and model."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(text)


def unzstd(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a zstd frame whose declared size is checked against ``limit`` first."""
    try:
        declared = zstandard.get_frame_parameters(data).content_size
        if declared > limit:
            raise BaleFormatError(f"{what} declares {declared} bytes, more than the {limit} allowed")
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise BaleFormatError(f"{what} is not a valid zstd frame: {exc}") from None


@dataclass
class ChunkInfo:
    rows: int
    offset: int
    sections: list[tuple[str, int, int]]  # name, length, crc32
    table: int = 0  # index into the header's tables
    step: int = 0  # chunks of one step hold the same events of every table

    @property
    def length(self) -> int:
        return sum(length for _, length, _ in self.sections)
