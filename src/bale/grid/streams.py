"""Residual streams of a grid: their two codings, and what each would cost, estimated without coding.

A predictor's residuals (int64, in coding order, each with a raw context) become one part
``res.<predictor>``, the smaller of

- ``varint 0 | varint n_cuts | cuts | (n_cuts + 1) × block(uint stream)``: rANS
  (:mod:`bale.codec.uint_stream`), raw contexts merged into streams at the cut points;
- ``varint 1 | varint width | varint n | block(zstd frame)``: zstd of the zigzag residuals as
  little-endian unsigned integers of ``width`` bytes, in coding order (repetitive streams: runs
  and repeats that a per-symbol coder cannot see).

The encoder no longer codes every stream every way: :func:`estimate` prices the rANS coding of
every grouping from one token histogram per context (the entropy of each merged histogram, its
stored counts and its extra bits, within a few bytes of the coder's output), and the zstd coding
from a fast zstd pass scaled by what the strong one saves on residuals. Only the stream that
is written is coded, rANS by the cheapest grouping, and zstd too when its estimate comes near.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import zstandard

from bale.codec.uint_stream import decode_ints, encode_uints, unzigzag
from bale.codec.varint import ByteReader, encode_varint
from bale.codec.varint import block as prefixed
from bale.errors import BaleFormatError
from bale.grid.kernels import pack_zigzag, split_zigzag, token_histogram

__all__ = ["EXACT_BELOW", "StreamCost", "decode_residuals", "encode_residuals", "estimate"]

RANS, ZSTD = 0, 1  # how a residual stream is coded

# ways to merge raw contexts into streams (the cut points), priced on every stream, the cheapest coded
GROUPINGS: tuple[tuple[int, ...], ...] = ((), (2,), (2, 5), (1, 3, 6), (1, 2, 4, 6, 9), tuple(range(1, 16)))

# zstd's strong setting on residuals saves about this much over its fastest level (measured on the CFD
# fields: 0.71-0.81); the estimate only decides whether the strong pass is worth its time
_ZSTD_GAIN = 0.75
EXACT_BELOW = 1 << 13  # streams (and grids) of at most this many values are coded every way, as before
_ZSTD_TRY = 1.05  # try zstd when its estimate is within 5 % of rANS's
_RANS_ERROR = 0.98  # the rANS estimate is within 1 % of the coder (measured): below 98 % of it, zstd wins
# above this many bits per residual by rANS, zstd was never near on the CFD fields (its wins: 1-3.2 bits)
_ZSTD_BITS = 3.5


def lut(cuts: tuple[int, ...] | list[int]) -> np.ndarray:
    """Raw context (0..63) -> stream index for the cut points ``cuts``."""
    return np.searchsorted(np.asarray(cuts, dtype=np.int64), np.arange(64), side="right").astype(np.int64)


def _token_widths() -> np.ndarray:
    widths = np.zeros(256, dtype=np.float64)
    for t in range(16, 256):
        widths[t] = (t - 16) // 4 + 2  # nbits - 2, nbits = (t - 16) // 4 + 4
    return widths


_WIDTHS = _token_widths()
# every grouping's streams as rows of one 0/1 matrix (streams, 64), and the rows of each grouping
_GROUPS = np.concatenate([np.eye(len(c) + 1)[lut(c)].T for c in GROUPINGS])
_GROUP_OF_ROW = np.repeat(np.arange(len(GROUPINGS)), [len(c) + 1 for c in GROUPINGS])


def _varint_bytes(n: np.ndarray) -> np.ndarray:
    out = np.ones(n.shape)
    for k in (7, 14, 21, 28, 35):
        out += n >= (1 << k)
    return out


def _uints_bytes(hist: np.ndarray) -> np.ndarray:
    """Estimated bytes of ``block(encode_uints(...))`` of each row of token histograms ``hist``."""
    n = hist.sum(axis=1)
    used = hist > 0
    alphabet = np.where(used.any(axis=1), 255 - np.argmax(used[:, ::-1], axis=1) + 1, 0)
    counts_bytes = (_varint_bytes(hist) * (np.arange(256)[None, :] < alphabet[:, None])).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = np.where(used, hist * (np.log2(np.maximum(n, 1))[:, None] - np.log2(np.maximum(hist, 1))), 0.0).sum(1)
    words = np.where(used.sum(axis=1) > 1, 4 * np.ceil(bits / 32) + 8, 0.0)
    extras = np.ceil(hist @ _WIDTHS / 8)
    size = _varint_bytes(n) + _varint_bytes(alphabet) + counts_bytes + words + extras + 4  # 2 inner blocks, outer
    out: np.ndarray = np.where(n > 0, size, 2.0)
    return out


@dataclass(frozen=True)
class StreamCost:
    """Estimated bytes of a residual stream: by rANS at the best grouping (``cuts``), and by zstd."""

    rans: float
    cuts: tuple[int, ...]
    zstd: float
    width: int = 8  # bytes of each zigzag residual in the zstd coding

    @property
    def best(self) -> float:
        return min(self.rans, self.zstd)


def _width(bits: int) -> int:
    return 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8


def estimate(symbols: np.ndarray, contexts: np.ndarray, *, zstd: bool = True) -> StreamCost:
    """What :func:`encode_residuals` would write, priced from histograms and one fast zstd pass."""
    hist = np.zeros((64, 256), dtype=np.float64)
    bits = token_histogram(symbols, contexts, hist)
    costs = np.bincount(_GROUP_OF_ROW, _uints_bytes(_GROUPS @ hist)) + [len(c) + 2 for c in GROUPINGS]
    best = int(np.argmin(costs))
    z_cost = float("inf")
    if zstd and symbols.size and 8 * costs[best] < _ZSTD_BITS * symbols.size:
        packed = pack_zigzag(symbols, _width(bits))
        z_cost = _ZSTD_GAIN * len(zstandard.ZstdCompressor(level=1).compress(packed.data)) + 8
    return StreamCost(float(costs[best]), GROUPINGS[best], z_cost, _width(bits))


def _zstd_params(size: int) -> zstandard.ZstdCompressionParameters:
    """zstd's optimal parser with a short search: near level 19's size on residuals, 10x its speed."""
    window = min(max(size.bit_length(), 10), 23)
    return zstandard.ZstdCompressionParameters(
        window_log=window, chain_log=min(window, 16), hash_log=min(window, 16), search_log=1, min_match=3,
        target_length=64, strategy=zstandard.STRATEGY_BTOPT,
    )  # fmt: skip


def encode_residuals(symbols: np.ndarray, contexts: np.ndarray, cost: StreamCost | None = None) -> bytes:
    """A residual stream coded by rANS at the estimated best grouping, or by zstd where that is smaller
    (zstd is tried where its estimate comes near; rANS is skipped where zstd beats its estimate clearly)."""
    if symbols.size <= EXACT_BELOW:
        return _smallest(symbols, contexts)
    cost = cost or estimate(symbols, contexts)
    alt = b""
    if cost.zstd <= _ZSTD_TRY * cost.rans:
        data = pack_zigzag(symbols, cost.width)
        frame = zstandard.ZstdCompressor(compression_params=_zstd_params(len(data))).compress(data.data)
        alt = encode_varint(ZSTD) + encode_varint(cost.width) + encode_varint(symbols.size) + prefixed(frame)
        if len(alt) < _RANS_ERROR * cost.rans:
            return alt
    out = bytearray(encode_varint(RANS) + encode_varint(len(cost.cuts)))
    for c in cost.cuts:
        out += encode_varint(c)
    n_groups = len(cost.cuts) + 1
    split = split_zigzag(symbols, contexts, lut(cost.cuts), n_groups)
    bounds = split[symbols.size :].astype(np.int64)
    for g in range(n_groups):
        out += prefixed(encode_uints(split[bounds[g] : bounds[g + 1]]))
    return alt if alt and len(alt) < len(out) else bytes(out)


def _smallest(symbols: np.ndarray, contexts: np.ndarray) -> bytes:
    """A short stream coded every way (each grouping, and zstd-19), the smallest kept (ties: the first)."""
    best = b""
    for cuts in GROUPINGS:
        out = bytearray(encode_varint(RANS) + encode_varint(len(cuts)))
        for c in cuts:
            out += encode_varint(c)
        split = split_zigzag(symbols, contexts, lut(cuts), len(cuts) + 1)
        bounds = split[symbols.size :].astype(np.int64)
        for g in range(len(cuts) + 1):
            out += prefixed(encode_uints(split[bounds[g] : bounds[g + 1]]))
        if not best or len(out) < len(best):
            best = bytes(out)
    hist = np.zeros((1, 256))
    width = _width(token_histogram(symbols, np.zeros(symbols.size, dtype=np.int64), hist))
    frame = zstandard.ZstdCompressor(level=19).compress(pack_zigzag(symbols, width).data)
    alt = encode_varint(ZSTD) + encode_varint(width) + encode_varint(symbols.size) + prefixed(frame)
    return alt if len(alt) < len(best) else best


def decode_residuals(data: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The residuals of a stream as one int64 array, where each context stream starts in it (and
    ends: ``starts[g + 1]``), and the raw-context lookup."""
    reader = ByteReader(data)
    mode = reader.varint()
    if mode == ZSTD:
        width, n = reader.varint(), reader.varint()
        if width not in (1, 2, 4, 8) or n > 2**40:
            raise BaleFormatError("bad zstd residual stream")
        raw = zstandard.ZstdDecompressor().decompress(bytes(reader.block()), max_output_size=max(n * width, 1))
        if len(raw) != n * width:
            raise BaleFormatError("zstd residual stream has the wrong length")
        flat = unzigzag(np.frombuffer(raw, dtype=f"<u{width}").astype(np.uint64))
        return flat, np.array([0, n], dtype=np.int64), lut(())
    if mode != RANS:
        raise BaleFormatError(f"unknown residual coding {mode}")
    n_cuts = reader.varint()
    if n_cuts > 63:
        raise BaleFormatError(f"bad number of contexts {n_cuts + 1}")
    cuts = [reader.varint() for _ in range(n_cuts)]
    if cuts != sorted(cuts) or any(c > 63 for c in cuts):
        raise BaleFormatError("bad context cut points")
    streams = [decode_ints(reader.block()) for _ in range(n_cuts + 1)]
    starts = np.zeros(len(streams) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(s) for s in streams])
    flat = np.concatenate(streams).astype(np.int64, copy=False) if len(streams) > 1 else streams[0]
    return flat, starts, lut(cuts)
