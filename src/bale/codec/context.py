"""Residuals coded in the context of earlier columns of the row: one token histogram per bucket.

A column's residuals are not alike on every row. ``px = pt·cos φ`` is predicted well where
``|cos φ|`` is large and poorly where it is small; a jet's mass residual is narrower for
jets of few constituents. The model names up to :data:`MAX_SOURCES` earlier columns of the
row per column (:class:`bale.models.plan.ColumnPlan`'s ``context``). Each gives, per row, an
integer that both sides hold before the column is decoded: an exact column's value, or an
earlier lossy column's quantized symbol (its residual index; the grid index for delta
coding), or its magnitude. Integers only: a float could fall on the other side of an edge
on another machine, and the bytes would no longer decode.

Per chunk, the encoder splits each context at quantiles of its values into at most the
buckets the model asks for (fewer on a small chunk, :data:`MIN_BUCKET_VALUES` per bucket),
and the column's symbols are coded as one rANS stream with one token histogram per bucket
(:func:`bale.codec.uint_stream.encode_uints` with ``context``). The histograms are paid for
in the chunk, so the choice of contexts (:func:`context_bits`) counts them.

Layout of a context-coded symbol block: ``varint sources`` then, per source, ``varint
edges``, the first edge zigzag-varint and the gaps to the next ones as varints; then the
stream of :func:`bale.codec.uint_stream.encode_uints` with one histogram per bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bale.codec.uint_stream import decode_ints, encode_uints, tokenize, unzigzag, zigzag
from bale.codec.varint import ByteReader, encode_varint
from bale.errors import BaleFormatError

__all__ = [
    "MAX_BUCKETS",
    "MAX_SOURCES",
    "MIN_BUCKET_VALUES",
    "NARROW",
    "ResidualContext",
    "bucket_of",
    "choose_sources",
    "context_bits",
    "decode_in_context",
    "edges_of",
    "encode_in_context",
    "narrow",
]

@dataclass
class ResidualContext:
    """Per row, the integers of earlier columns the residuals are coded in the context of
    (:mod:`bale.codec.context`), and the buckets the encoder may split each into."""

    values: Sequence[np.ndarray] = ()  # int64, one value per row of the column
    buckets: Sequence[int] = field(default_factory=tuple)  # per source; only the encoder reads them

    def of(self, regular: np.ndarray) -> list[np.ndarray]:
        return [np.ascontiguousarray(v[regular], dtype=np.int64) for v in self.values]


MAX_SOURCES = 2
MAX_BUCKETS = 64  # histograms of one column's chunk: their product over the sources
MIN_BUCKET_VALUES = 2048  # the encoder's fewest values per bucket, on average
NARROW = 1 << 16  # edges spanning fewer integers decode by table lookup; wider ones ~20x slower


def narrow(values: np.ndarray) -> bool:
    """Whether a source's edges span few enough integers to be decoded by table lookup (not counted)."""
    edges = edges_of(values, MAX_BUCKETS)
    return not len(edges) or int(edges[-1]) - int(edges[0]) < NARROW


_SAMPLE = 1 << 15  # edges and centres come from at most this many evenly spaced values


def _spaced(values: np.ndarray) -> np.ndarray:
    return values[:: max(1, len(values) // _SAMPLE)]


def edges_of(values: np.ndarray, buckets: int) -> np.ndarray:
    """At most ``buckets - 1`` increasing int64 edges at quantiles of ``values`` (values of the data;
    of every k-th value on a long column: the decoder reads the edges, so any choice decodes)."""
    if buckets <= 1 or not len(values):
        return np.zeros(0, np.int64)
    cuts = np.quantile(_spaced(values), np.arange(1, buckets) / buckets, method="lower")
    return np.unique(np.asarray(cuts, dtype=np.int64))


def bucket_of(
    contexts: Sequence[np.ndarray], edges: Sequence[np.ndarray], select: np.ndarray | None = None
) -> np.ndarray:
    """Each value's bucket: the sources' ranges (``searchsorted`` right of the edges) in row-major order.

    ``select``: a mask of the rows that have a value (the others are skipped), or None for all.
    """
    from bale.codec.context_kernels import buckets  # numba, when a column with contexts is first coded

    if not 1 <= len(contexts) <= MAX_SOURCES or len(edges) != len(contexts):
        raise ValueError(f"1 to {MAX_SOURCES} contexts, each with its edges")
    # one source: the first stands in for a second of no edges, which adds 0 to every bucket
    second, second_edges = (contexts[1], edges[1]) if len(contexts) > 1 else (contexts[0], np.zeros(0, np.int64))
    mask = np.zeros(0, np.bool_) if select is None else np.ascontiguousarray(select, np.bool_)
    return buckets(mask, *(np.ascontiguousarray(a, np.int64) for a in (contexts[0], edges[0], second, second_edges)))


def _budget(buckets: Sequence[int], n: int) -> list[int]:
    """Buckets per source the encoder may use for ``n`` values: as asked, fewer on a small chunk."""
    total = max(1, min(MAX_BUCKETS, n // MIN_BUCKET_VALUES))
    out = []
    for k in buckets:
        k = max(1, min(k, total))
        total //= k
        out.append(k)
    return out


def encode_in_context(
    symbols: np.ndarray, contexts: Sequence[np.ndarray], buckets: Sequence[int], *, centred: bool = False
) -> bytes:
    """The symbol block of a column with contexts: ``contexts[s][i]`` is source ``s``'s integer for symbol ``i``.

    ``centred``: each bucket's symbols are coded as differences from the bucket's median (stored):
    an exact count given another (``n_charged`` given ``n_constituents``) sits far from zero.
    """
    if not 1 <= len(contexts) <= MAX_SOURCES or len(buckets) != len(contexts):
        raise ValueError(f"1 to {MAX_SOURCES} contexts, each with its bucket count")
    edges = [edges_of(v, k) for v, k in zip(contexts, _budget(buckets, len(symbols)), strict=True)]
    out = bytearray(encode_varint(len(edges)))
    for cuts in edges:
        out += encode_varint(len(cuts))
        if len(cuts):
            out += encode_varint(int(zigzag(cuts[:1])[0]))
            values = cuts.tolist()  # Python integers: a gap across the int64 range would wrap in NumPy
            for a, b in itertools.pairwise(values):
                out += encode_varint(b - a)
    n_buckets = int(np.prod([len(c) + 1 for c in edges]))
    bucket = bucket_of(contexts, edges)
    if centred:
        centres = _medians(symbols, bucket, n_buckets)
        for c in zigzag(centres).tolist():
            out += encode_varint(c)
        symbols = symbols - centres[bucket]
    out += encode_uints(zigzag(symbols), context=bucket, buckets=n_buckets)
    return bytes(out)


def _medians(symbols: np.ndarray, bucket: np.ndarray, n_buckets: int) -> np.ndarray:
    """Each bucket's lower median, of every k-th value on a long column (0 for a bucket without one)."""
    symbols, bucket = _spaced(symbols), _spaced(bucket)
    order = np.lexsort((symbols, bucket))
    counts = np.bincount(bucket, minlength=n_buckets)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    middle = symbols[order][np.minimum(starts + (counts - 1) // 2, max(len(symbols) - 1, 0))] if len(symbols) else 0
    return np.where(counts > 0, middle, 0).astype(np.int64)


def decode_in_context(
    data: bytes | memoryview,
    n: int,
    contexts: Sequence[np.ndarray],
    version: int,
    *,
    select: np.ndarray | None = None,
    centred: bool = False,
) -> np.ndarray:
    """Inverse of :func:`encode_in_context`: ``n`` int64 symbols, given the same ``contexts`` and ``centred``.

    ``select``: the rows of ``contexts`` that have a symbol (a mask with ``n`` set), None for all.
    """
    reader = ByteReader(data)
    if reader.varint() != len(contexts):
        raise BaleFormatError("residual context names another number of sources than the model")
    edges = []
    n_buckets = 1
    for _ in contexts:
        count = reader.varint()
        n_buckets *= count + 1
        if n_buckets > MAX_BUCKETS:
            raise BaleFormatError(f"residual context of more than {MAX_BUCKETS} buckets")
        cuts = [reader.varint() for _ in range(count)]
        if cuts:
            cuts[0] = (cuts[0] >> 1) ^ -(cuts[0] & 1)
        values = np.cumsum(np.array(cuts, dtype=object)) if cuts else np.zeros(0)
        if cuts and (min(cuts[1:], default=1) < 1 or not -(2**63) <= values[0] <= values[-1] < 2**63):
            raise BaleFormatError("residual context edges are not increasing int64 values")
        edges.append(np.array(values, dtype=np.int64))
    bucket = bucket_of(contexts, edges, select)
    if len(bucket) != n:
        raise ValueError("contexts of another number of values")
    centres = None
    if centred:
        stored = [reader.varint() for _ in range(n_buckets)]
        if max(stored, default=0) >= 1 << 64:
            raise BaleFormatError("a bucket's centre is out of range")
        centres = unzigzag(np.array(stored, dtype=np.uint64))
    symbols = decode_ints(reader, n, version, context=bucket, buckets=n_buckets)
    if reader.remaining:
        raise BaleFormatError("bytes after a context-coded symbol block")
    if centres is not None:
        symbols += centres[bucket]  # int64 wrapping, as the encoder's difference
    return symbols


def context_bits(symbols: np.ndarray, bucket: np.ndarray, n_buckets: int) -> float:
    """Estimated bits of coding ``symbols`` with one histogram per bucket, the histograms included."""
    if not len(symbols):
        return 0.0
    tokens, _, widths = tokenize(zigzag(symbols.astype(np.int64, copy=False)))
    return _token_bits(tokens, bucket, n_buckets) + float(widths.sum())


def _token_bits(tokens: np.ndarray, bucket: np.ndarray, n_buckets: int) -> float:
    """Bits of the tokens under one histogram per bucket, and of the histograms (the extra bits aside)."""
    counts = np.bincount(bucket * 256 + tokens, minlength=n_buckets * 256).reshape(n_buckets, 256).astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(counts > 0, counts / np.where(totals > 0, totals, 1), 1.0)
    entropy = float(-(counts * np.log2(p)).sum())
    # a histogram: its length, then a varint per token up to its last one (one byte below 128, ...)
    used = counts > 0
    last = np.where(used.any(axis=1), 256 - np.argmax(used[:, ::-1], axis=1), 0)
    table = float(last.sum() + n_buckets) + float((counts >= 128).sum() + (counts >= 16384).sum())
    return entropy + 8.0 * table


Candidate = tuple[str, str]  # (column, use): "value" or "magnitude"


def choose_sources(
    symbols: np.ndarray,
    candidates: Mapping[Candidate, np.ndarray],
    buckets: int = 16,
    pair_buckets: int = 4,
    min_gain: float = 0.02,
    *,
    checked: bool = False,
) -> list[tuple[str, str, int]]:
    """The context sources that code ``symbols`` in the fewest bits, or none.

    ``candidates[(column, use)]``: that source's integer for each symbol. Each source alone at
    ``buckets``, then the best one with each of the next best at ``pair_buckets``; kept when it
    saves at least ``min_gain`` of the symbols' bits (decoding in context costs a little time).
    """
    n = len(symbols)
    if n < 2 * MIN_BUCKET_VALUES or not candidates:
        return []
    tokens, _, widths = tokenize(zigzag(symbols.astype(np.int64, copy=False)))
    plain = _token_bits(tokens, np.zeros(n, np.int64), 1)
    if not checked:  # the caller may have kept only narrow sources itself, once for every column
        candidates = {key: values for key, values in candidates.items() if narrow(values)}
    if not candidates:
        return []

    def bits(chosen: list[Candidate], asked: list[int]) -> float:
        arrays = [candidates[c] for c in chosen]
        edges = [edges_of(v, k) for v, k in zip(arrays, _budget(asked, n), strict=True)]
        return _token_bits(tokens, bucket_of(arrays, edges), int(np.prod([len(e) + 1 for e in edges])))

    singles = sorted((bits([c], [buckets]), c) for c in candidates)
    best_bits, best = singles[0][0], [singles[0][1]]
    asked = [buckets]
    for k in (32, 64):
        wide = bits(best, [k])
        if wide < best_bits:
            best_bits, asked = wide, [k]
    for _, other in singles[1:6]:
        if other[0] == best[0][0]:
            continue
        pair = bits([best[0], other], [buckets, pair_buckets])
        if pair < best_bits:
            best_bits, best, asked = pair, [best[0], other], [buckets, pair_buckets]
    if plain - best_bits < min_gain * (plain + float(widths.sum())):
        return []
    return [(column, use, k) for (column, use), k in zip(best, asked, strict=True)]
