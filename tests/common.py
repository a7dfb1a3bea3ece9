"""Shared test helpers: the test data's paths, bit-exact comparison, forging ``.bale`` files with every
checksum right, and bounded-resource checks. Shared fixtures live in ``conftest.py``.

``forge`` takes a file apart (header, embedded model, chunk sections, index), lets a test edit
the header and index as JSON, and puts it back together with consistent offsets, lengths and
CRC-32s: the result passes every checksum, so only bale's validation stands between it and
the decoders. The conformance kit of entry points and writers lives in ``conformance.py``.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

DATA = Path(__file__).parent / "data"
FROZEN = DATA / "frozen"  # files of every earlier format version, never rewritten (test_frozen.py)
JETS = DATA / "ttbar_jets_2k.parquet"  # 2,000 jets, 8 columns
NANOAOD = DATA / "nanoAOD_2015_CMS_Open_Data_ttbar.root"  # CMS Open Data NanoAOD, the event-data test file
STILL = DATA / "CFD_still.npz"  # a CFD field: the grid test file

PREAMBLE = struct.Struct("<8sHHII")
TRAILER = struct.Struct("<QII8s")
MAGIC = b"\x89BALE\r\n\x1a"

Edit = Callable[[dict[str, Any]], Any]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality (NaN payloads and the sign of zero included), the same dtype and shape."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def tiled_jets(times: int = 12) -> dict[str, np.ndarray]:
    """``JETS`` repeated ``times`` times (24,000 rows): enough rows for a network to pay for its bytes."""
    import bale

    return {k: np.tile(v, times) for k, v in bale.api.as_table(JETS).columns.items()}


def crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def zjson(obj: Any, *, raw: bytes | None = None) -> bytes:
    """A zstd frame of ``obj`` as JSON (or of the bytes ``raw``), with its content size."""
    text = raw if raw is not None else json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(text)


def split(data: bytes) -> tuple[dict[str, Any], bytes, list[list[tuple[str, bytes]]], dict[str, Any]]:
    """A valid file's header, embedded model frame (or ``b""``), chunk sections and index."""
    _, _, _, head_len, _ = PREAMBLE.unpack_from(data, 0)
    unz = zstandard.ZstdDecompressor()
    header = json.loads(unz.decompress(data[PREAMBLE.size : PREAMBLE.size + head_len]))
    pos = PREAMBLE.size + head_len
    model = b""
    if header.get("model", {}).get("embedded"):
        model = data[pos : pos + header["model"]["length"]]
    offset, length, _, _ = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    footer = json.loads(unz.decompress(data[offset : offset + length]))
    chunks = []
    for c in footer["chunks"]:
        at, parts = c["offset"], []
        for name, size, _ in c["sections"]:
            parts.append((name, data[at : at + size]))
            at += size
        chunks.append(parts)
    return header, model, chunks, footer


def join(
    header: dict[str, Any] | bytes,
    model: bytes,
    chunks: list[list[tuple[str, bytes]]],
    footer: dict[str, Any] | bytes,
    *,
    version: int = 2,
    fix_offsets: bool = True,
) -> bytes:
    """A file of these parts, every length and CRC right; header/footer given as bytes are used as frames."""
    head = header if isinstance(header, bytes) else zjson(header)
    out = bytearray(PREAMBLE.pack(MAGIC, version, 1, len(head), crc(head)))
    out += head + model
    if isinstance(footer, dict) and fix_offsets:
        for entry, parts in zip(footer["chunks"], chunks, strict=False):
            entry["offset"] = len(out)
            entry["sections"] = [[n, len(p), crc(p)] for n, p in parts]
            for _, p in parts:
                out += p
    else:
        for parts in chunks:
            for _, p in parts:
                out += p
    foot = footer if isinstance(footer, bytes) else zjson(footer)
    offset = len(out)
    out += foot + TRAILER.pack(offset, len(foot), crc(foot), b"BALE-END")
    return bytes(out)


def forge(
    data: bytes,
    *,
    header: Edit | None = None,
    footer: Edit | None = None,
    chunks: Callable[[list[list[tuple[str, bytes]]]], Any] | None = None,
) -> bytes:
    """``data`` with its header, index or chunks edited (in place, or by returning a new value), CRCs fixed."""
    head, model, parts, foot = split(data)
    if chunks is not None:
        parts = chunks(parts) or parts
    if header is not None:
        head = header(head) or head
    if isinstance(head, dict) and model and isinstance(head.get("model"), dict):
        head["model"].update({"length": len(model), "crc32": crc(model)})
    fixed = join(head, model, parts, foot)  # offsets right before the index is edited
    if footer is None:
        return fixed
    _, _, _, foot = split(fixed)
    foot = footer(foot) or foot
    return join(head, model, parts, foot, fix_offsets=False)


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Measure the peak of Python-visible allocations (NumPy's included) inside the block: ``[peak]``."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
