"""Error-bounded coding of one grid (a 1-D to N-D float array, seen as (frames, H, W)).

1. **Lattice.** Every regular value becomes an integer ``k``: ``k = rint(x / step)`` for an
   absolute bound (``range=X`` is resolved to ``abs = X·(max − min)`` first), ``rint(log|x| / step)``
   with the sign apart for a pointwise relative one; ``step = 2·B·(1 − m)``, ``m = 0.01``, as
   for tables (:mod:`bale.codec.lossy`). The encoder rebuilds every value exactly as the decoder
   will (``k·step``, or ``±exp(k·step)``, cast to the dtype) and stores any value that misses
   ``B·(1 − m/2)`` raw and bit-exact, as it does NaN, ±inf, (relative bounds:) zeros and
   denormals. Raw positions get a fill value on the lattice, so predictors see no hole.
2. **Prediction.** The lattice is cut into blocks (``grid.block`` per axis); each block is
   coded by the predictor that costs it the fewest bits: Lorenzo or interpolation over the
   three axes or within each frame (:mod:`bale.grid.predictors`, exact integer arithmetic),
   or a convolutional autoencoder (a per-tile latent is stored; the decoder's exact
   fixed-point prediction is put on the lattice and the residual Lorenzo-coded within the
   frame). The whole grid as one block is tried too, and the plan with fewer real bytes kept.
3. **Entropy coding.** Residuals (zigzag) of each predictor are one uint stream
   (:mod:`bale.codec.uint_stream`, rANS); the per-block predictor ids, latents, signs and raw
   positions are streams of their own; raw values are zstd-compressed native bytes.

Since predictors are lossless on the lattice, the bound is a property of the quantization
alone: it holds whatever a predictor does. Only the relative mode's ``exp`` can differ by an
ulp between machines; the margin ``m`` absorbs it, as for tables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import zstandard

from bale.bounds import Bound, parse_bound
from bale.codec.lossy import MARGIN
from bale.codec.uint_stream import decode_ints, decode_uints, encode_uints, tokenize, unzigzag, zigzag
from bale.codec.varint import ByteReader, encode_varint
from bale.codec.varint import block as prefixed
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError
from bale.grid.predictors import (
    interp_decode,
    interp_encode,
    lorenzo_context_decode,
    lorenzo_contexts,
    lorenzo_decode,
    lorenzo_encode,
)

__all__ = [
    "PREDICTORS",
    "GridBound",
    "GridPredictor",
    "as_3d",
    "decode_grid",
    "describe_parts",
    "encode_grid",
    "pack_sections",
    "parse_grid_bound",
    "unpack_sections",
]

log = logging.getLogger(__name__)

_MAX_QUANT = float(2**50)
_RAW_ZSTD_LEVEL = 19

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
_CLASSICAL = (0, 1, 2, 3, 5, 6)
_INTERP = (2, 3, 5, 6)
# axes predicted along, in order (interpolation: the order of the axes at each level matters)
_AXES = {0: (0, 1, 2), 1: (1, 2), 2: (0, 1, 2), 3: (1, 2), 5: (1, 2, 0), 6: (2, 1, 0)}


@dataclass(frozen=True)
class GridBound:
    """The bound as given (``spec``: ``range=1e-3``, ``abs=…``, ``rel=…``) and as coded (``bound``)."""

    spec: str
    bound: Bound


def parse_grid_bound(text: str, values: np.ndarray | None = None) -> GridBound:
    """``abs=X``, ``rel=X`` or ``range=X`` (``abs = X·(max − min)`` of the finite values of ``values``)."""
    spec = text.strip().lower().replace(" ", "")
    mode, _, number = spec.partition("=")
    if mode != "range":
        bound = parse_bound(spec)
        if bound.mode == "exact":
            raise BaleConfigError("grids are coded lossy: give abs=X, rel=X or range=X (use a table for exact)")
        return GridBound(spec, bound)
    try:
        fraction = float(number)
    except ValueError:
        raise BaleConfigError(f"bad error bound {text!r}: {number!r} is not a number") from None
    if not (np.isfinite(fraction) and fraction > 0):
        raise BaleConfigError(f"range bound must be a positive finite number, got {text!r}")
    if values is None:
        raise BaleConfigError("a range bound needs the data to resolve")
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.asarray(values, dtype=np.float64)[np.isfinite(values)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
    if not np.isfinite(span):
        raise BaleInputError("the value range of the grid overflows float64: give an abs bound")
    if span == 0.0:  # a constant grid: any positive bound codes it exactly on the lattice
        span = max(float(np.abs(finite).max()) if finite.size else 0.0, 1.0)
    return GridBound(f"range={fraction!r}", Bound("abs", fraction * span))


def as_3d(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (frames, H, W) view of a shape: leading axes merged, missing ones 1."""
    if len(shape) == 0:
        return (1, 1, 1)
    if len(shape) == 1:
        return (1, 1, shape[0])
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    return (int(np.prod(shape[:-2])), shape[-2], shape[-1])


class GridPredictor(Protocol):
    """A learned predictor of 2-D tiles from per-tile latents (the ``conv`` model family)."""

    tile: int
    latent_dim: int

    def encode_tiles(self, tiles: np.ndarray) -> np.ndarray: ...  # (n, T, T) float -> (n, L) int latents

    def decode_tiles(self, latents: np.ndarray) -> np.ndarray: ...  # (n, L) int -> (n, T, T) float64, exact


@dataclass
class EncodedGrid:
    sections: dict[str, bytes]
    decoded: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def _step(bound: Bound) -> float:
    half = np.log1p(bound.value) if bound.mode == "rel" else bound.value
    return float(2.0 * half * (1.0 - MARGIN))


def _values(rec: np.ndarray, negative: np.ndarray | None, bound: Bound, dtype: np.dtype) -> np.ndarray:
    """The one formula encoder and decoder share: reconstructed domain values to values."""
    with np.errstate(over="ignore", invalid="ignore"):
        if bound.mode == "rel":
            v = np.exp(rec)
            if negative is not None:
                v[negative] = -v[negative]
        else:
            v = rec
        out: np.ndarray = v.astype(dtype)
        return out


def _domain(x: np.ndarray, bound: Bound) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Domain values (float64), the mask of values always stored raw, and the negative mask (relative)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        v = x.astype(np.float64)
        special = ~np.isfinite(v)
        if bound.mode == "rel":
            special |= (v == 0) | (np.abs(v) < np.finfo(x.dtype).tiny)
            negative = np.signbit(v) & ~special
            v = np.log(np.abs(v))
        else:
            special |= (v == 0) & np.signbit(v)  # -0.0 comes back bit-exact, as raw
            negative = np.zeros(v.shape, dtype=bool)
    v[special] = 0.0
    return v, special, negative


def _misses(x: np.ndarray, decoded: np.ndarray, bound: Bound) -> np.ndarray:
    """Where the decoder's value would miss ``B·(1 − m/2)`` (NaN counts as a miss), or a zero not come back ±0."""
    limit = bound.value * (1.0 - MARGIN / 2)
    with np.errstate(invalid="ignore", over="ignore"):
        xv = x.astype(np.float64)
        dv = decoded.astype(np.float64)
        err = np.abs(dv - xv)
        bad = ~(err <= (limit * np.abs(xv) if bound.mode == "rel" else limit))
        bad |= (xv == 0) & ((dv != 0) | (np.signbit(dv) != np.signbit(xv)))
        return bad


MAX_BLOCKS = 1 << 20  # blocks of one grid: each is a step of Python, so their count is bounded


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


def _blocks(shape: tuple[int, ...], block: tuple[int, ...]) -> list[tuple[slice, slice, slice]]:
    out = []
    for a in range(0, shape[0], block[0]):
        for b in range(0, shape[1], block[1]):
            for c in range(0, shape[2], block[2]):
                out.append((slice(a, a + block[0]), slice(b, b + block[1]), slice(c, c + block[2])))
    return out


def _tiles_of(values: np.ndarray, tile: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(frames·th·tw, T, T) tiles of a (frames, h, w) block, edge-padded to whole tiles."""
    f, h, w = values.shape
    th, tw = -(-h // tile), -(-w // tile)
    padded = np.pad(values, ((0, 0), (0, th * tile - h), (0, tw * tile - w)), mode="edge")
    tiles = padded.reshape(f, th, tile, tw, tile).transpose(0, 1, 3, 2, 4).reshape(-1, tile, tile)
    return tiles, (f, th, tw)


def _untile(tiles: np.ndarray, layout: tuple[int, int, int], tile: int, h: int, w: int) -> np.ndarray:
    f, th, tw = layout
    full = tiles.reshape(f, th, tw, tile, tile).transpose(0, 1, 3, 2, 4).reshape(f, th * tile, tw * tile)
    return full[:, :h, :w]


def _conv_lattice(prediction: np.ndarray, step: float) -> np.ndarray:
    """A float prediction put on the lattice (abs bounds only); rint of exact values: reproducible."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = prediction / step
    scaled = np.where(np.isfinite(scaled) & (np.abs(scaled) < _MAX_QUANT), scaled, 0.0)
    return np.rint(scaled).astype(np.int64)


@dataclass
class _Candidate:
    symbols: np.ndarray  # int64, in coding order
    contexts: np.ndarray  # int64, one per symbol
    rec: np.ndarray  # reconstructed domain values of the block (float64)
    misses: np.ndarray  # values of the block that go raw besides the special ones
    latents: np.ndarray | None = None


# ways to merge raw contexts into streams, tried on every stream (the cheapest kept): the cut points
_GROUPINGS: tuple[tuple[int, ...], ...] = ((), (2,), (2, 5), (1, 3, 6), (1, 2, 4, 6, 9), tuple(range(1, 16)))


def _lut(cuts: Sequence[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(cuts, dtype=np.int64), np.arange(64), side="right").astype(np.int64)


_RANS, _ZSTD = 0, 1  # how a residual stream is coded


def _encode_contexts(symbols: np.ndarray, contexts: np.ndarray) -> bytes:
    """A residual stream, the smaller of two codings:

    - ``varint 0 | varint n_cuts | cuts | (n_cuts + 1) × uint stream``: rANS, raw contexts merged into
      streams at the cut points that cost least;
    - ``varint 1 | varint width | varint n | block(zstd frame)``: zstd of the zigzag symbols as
      little-endian unsigned integers of ``width`` bytes, in coding order (repetitive streams: runs and
      repeats that a per-symbol coder cannot see).
    """
    best = b""
    for cuts in _GROUPINGS:
        group = _lut(cuts)[np.minimum(contexts, 63)]
        out = bytearray(encode_varint(_RANS) + encode_varint(len(cuts)))
        for c in cuts:
            out += encode_varint(c)
        for g in range(len(cuts) + 1):
            out += prefixed(encode_uints(zigzag(symbols[group == g])))
        if not best or len(out) < len(best):
            best = bytes(out)
    z = zigzag(symbols)
    top = int(z.max()) if z.size else 0
    width = 1 if top < 2**8 else 2 if top < 2**16 else 4 if top < 2**32 else 8
    level = 19 if z.size <= 2**20 else 10
    packed = zstandard.ZstdCompressor(level=level).compress(z.astype(f"<u{width}").tobytes())
    alt = encode_varint(_ZSTD) + encode_varint(width) + encode_varint(z.size) + prefixed(packed)
    return alt if len(alt) < len(best) else best


def _decode_contexts(data: bytes | memoryview) -> tuple[list[np.ndarray], np.ndarray]:
    reader = ByteReader(data)
    mode = reader.varint()
    if mode == _ZSTD:
        width, n = reader.varint(), reader.varint()
        if width not in (1, 2, 4, 8) or n > 2**40:
            raise BaleFormatError("bad zstd residual stream")
        raw = zstandard.ZstdDecompressor().decompress(bytes(reader.block()), max_output_size=max(n * width, 1))
        if len(raw) != n * width:
            raise BaleFormatError("zstd residual stream has the wrong length")
        return [unzigzag(np.frombuffer(raw, dtype=f"<u{width}").astype(np.uint64))], _lut(())
    if mode != _RANS:
        raise BaleFormatError(f"unknown residual coding {mode}")
    n_cuts = reader.varint()
    if n_cuts > 63:
        raise BaleFormatError(f"bad number of contexts {n_cuts + 1}")
    cuts = [reader.varint() for _ in range(n_cuts)]
    if cuts != sorted(cuts) or any(c > 63 for c in cuts):
        raise BaleFormatError("bad context cut points")
    return [decode_ints(reader.block()) for _ in range(n_cuts + 1)], _lut(cuts)


def encode_grid(
    values: np.ndarray,
    bound: Bound,
    *,
    block: int = 32,
    predictor: str = "auto",
    model: GridPredictor | None = None,
) -> EncodedGrid:
    """Code ``values`` (any shape, float32 or float64) within ``bound``; the bytes and what the decoder gives."""
    if values.dtype.kind != "f" or values.dtype.itemsize not in (4, 8):
        raise BaleInputError(f"grids must be float32 or float64, not {values.dtype}")
    if bound.mode not in ("abs", "rel"):
        raise BaleConfigError(f"grids take abs, rel or range bounds, not {bound}")
    x = np.ascontiguousarray(values).reshape(as_3d(values.shape))
    step = _step(bound)
    v, special, negative = _domain(x, bound)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = v / step
    lattice_ok = ~special & (np.abs(scaled) < _MAX_QUANT)
    k = np.rint(np.where(lattice_ok, scaled, 0.0)).astype(np.int64)
    fill = int(np.median(k[lattice_ok])) if lattice_ok.any() else 0
    k[~lattice_ok] = fill
    lattice_misses = ~special & _misses(x, _values(k * step, negative, bound, x.dtype), bound)
    state = _State(x, v, k, special, negative, lattice_misses, step, bound, model)

    allowed = _allowed(predictor, model, bound)
    blk = tuple(max(1, min(block, n)) for n in x.shape)
    while block_count(x.shape, blk, check=False) > MAX_BLOCKS:  # a huge grid: larger blocks, as decoders accept
        block *= 2
        blk = tuple(max(1, min(block, n)) for n in x.shape)
    best = _encode_plan(state, blk, allowed)
    whole = tuple(max(1, n) for n in x.shape)
    if blk != whole or len(allowed) > 1:
        for pid in (p for p in allowed if p in _CLASSICAL):  # the whole grid by one predictor: fewer real bytes?
            plan = _encode_plan(state, whole, (pid,))
            if sum(map(len, plan[0].values())) < sum(map(len, best[0].values())):
                best = plan
    sections, decoded, info = best
    head = encode_varint(int(zigzag(np.array([fill]))[0])) + encode_varint(info["raw_values"])
    sections = {"head": head, **sections}
    info["step"] = step
    log.info("grid %s: block %s, predictors %s, %d raw", x.shape, info["block"], info["predictors"], info["raw_values"])
    return EncodedGrid(sections, decoded.reshape(values.shape), info)


@dataclass
class _State:
    x: np.ndarray
    v: np.ndarray
    k: np.ndarray
    special: np.ndarray
    negative: np.ndarray
    lattice_misses: np.ndarray
    step: float
    bound: Bound
    model: GridPredictor | None


def _allowed(predictor: str, model: GridPredictor | None, bound: Bound) -> tuple[int, ...]:
    conv_ok = model is not None and bound.mode == "abs"
    if predictor == "auto":
        return (*_CLASSICAL, 4) if conv_ok else _CLASSICAL
    if predictor == "conv":
        if model is None:
            raise BaleConfigError("grid.predictor = 'conv' needs a conv model (train one, or give --model)")
        if bound.mode != "abs":
            raise BaleConfigError("the conv predictor takes abs and range bounds only")
        return (4,)
    if predictor == "lorenzo":
        return (0, 1)
    if predictor == "interp":
        return _INTERP
    raise BaleConfigError(f"unknown grid predictor {predictor!r}: auto, lorenzo, interp or conv")


def _candidate(state: _State, pid: int, s: tuple[slice, slice, slice]) -> _Candidate:
    if pid in _INTERP:
        q, ctx, rec = interp_encode(state.v[s], state.special[s], _AXES[pid], state.step)
        xb = state.x[s]
        misses = ~state.special[s] & _misses(xb, _values(rec, state.negative[s], state.bound, xb.dtype), state.bound)
        return _Candidate(q, ctx, rec, misses)
    kb = state.k[s]
    latents = None
    if pid == 4:
        model = state.model
        assert model is not None
        xb = np.where(state.special[s], 0.0, state.v[s])
        tiles, layout = _tiles_of(xb, model.tile)
        latents = model.encode_tiles(tiles)
        pred = _untile(model.decode_tiles(latents), layout, model.tile, *xb.shape[1:])
        r = lorenzo_encode(kb - _conv_lattice(pred, state.step), (1, 2))
    else:
        r = lorenzo_encode(kb, _AXES[pid])
    return _Candidate(r.ravel(), lorenzo_contexts(r).ravel(), kb * state.step, state.lattice_misses[s], latents)


def _choose(state: _State, slices: list[tuple[slice, slice, slice]], allowed: tuple[int, ...]) -> np.ndarray:
    """The cheapest predictor of each block, from the token histograms of every candidate (memory: per block)."""
    raw_bits = 8.0 * state.x.dtype.itemsize
    hist = np.zeros((len(slices), len(allowed), 256), dtype=np.float64)
    extra = np.zeros((len(slices), len(allowed)))
    for b, s in enumerate(slices):
        for j, pid in enumerate(allowed):
            c = _candidate(state, pid, s)
            tokens, _, widths = tokenize(zigzag(c.symbols))
            hist[b, j] = np.bincount(tokens, minlength=256)[:256]
            extra[b, j] = float(widths.sum()) + raw_bits * int(c.misses.sum())
            if c.latents is not None:
                extra[b, j] += _latent_bits(c.latents)
    chosen = np.ones(len(slices), dtype=bool)[:, None].repeat(len(allowed), axis=1)  # first: every block
    index = np.zeros(len(slices), dtype=np.int64)
    for _ in range(2):  # choose under code lengths fitted to the blocks chosen, then again
        counts = (hist * chosen[:, :, None]).sum(axis=0) + 0.5
        lengths = -np.log2(counts / counts.sum(axis=1, keepdims=True))
        cost = np.einsum("bjt,jt->bj", hist, lengths) + extra
        index = np.argmin(cost, axis=1)
        chosen = index[:, None] == np.arange(len(allowed))[None, :]
    return np.asarray(allowed, dtype=np.int64)[index]


def _encode_plan(
    state: _State, blk: tuple[int, ...], allowed: tuple[int, ...]
) -> tuple[dict[str, bytes], np.ndarray, dict[str, Any]]:
    """Sections, decoded values and info of one plan: blocks of shape ``blk``, each by the cheapest of ``allowed``."""
    slices = _blocks(state.x.shape, blk)
    if len(allowed) > 1 and len(slices) > 0:
        choice = _choose(state, slices, allowed)
    else:
        choice = np.full(len(slices), allowed[0], dtype=np.int64)
    rec = np.zeros(state.x.shape)
    raw = state.special.copy()
    symbols: dict[int, list[np.ndarray]] = {}
    contexts: dict[int, list[np.ndarray]] = {}
    latents: list[np.ndarray] = []
    for pid, s in zip(choice.tolist(), slices, strict=True):
        c = _candidate(state, pid, s)
        rec[s] = c.rec
        raw[s] |= c.misses
        symbols.setdefault(pid, []).append(c.symbols)
        contexts.setdefault(pid, []).append(c.contexts)
        if c.latents is not None:
            latents.append(c.latents.ravel())
    sections: dict[str, bytes] = {
        "plan": b"".join(encode_varint(n) for n in blk) + prefixed(encode_uints(choice.astype(np.uint64)))
    }
    used: dict[str, int] = {}
    for pid in sorted(symbols):
        sections[f"res.{PREDICTORS[pid]}"] = _encode_contexts(
            np.concatenate(symbols[pid]).astype(np.int64), np.concatenate(contexts[pid]).astype(np.int64)
        )
        used[PREDICTORS[pid]] = len(symbols[pid])
    if latents:
        sections["latent"] = encode_uints(zigzag(np.concatenate(latents).astype(np.int64)))
    negative = state.negative & ~raw
    if state.bound.mode == "rel" and negative.any():
        sections["sign"] = encode_uints(negative[~raw].astype(np.uint8))
    raw_idx = np.flatnonzero(raw)
    if len(raw_idx):
        gaps = np.diff(raw_idx, prepend=-1) - 1
        data = zstandard.ZstdCompressor(level=_RAW_ZSTD_LEVEL).compress(state.x.ravel()[raw_idx].tobytes())
        sections["raw"] = prefixed(encode_uints(gaps.astype(np.uint64))) + prefixed(data)
    decoded = _values(rec, negative, state.bound, state.x.dtype)
    decoded[raw] = state.x[raw]
    info = {"block": list(blk), "predictors": used, "raw_values": len(raw_idx)}
    return sections, decoded, info


def _latent_bits(latents: np.ndarray) -> float:
    """Rough bits of a block's latents (their tokens at a flat 4 bits, plus extra bits)."""
    if not latents.size:
        return 0.0
    _, _, widths = tokenize(zigzag(latents.ravel().astype(np.int64)))
    return float(4 * latents.size + widths.sum())


def decode_grid(
    sections: Mapping[str, bytes | memoryview],
    shape: tuple[int, ...],
    dtype: np.dtype,
    bound: Bound,
    *,
    model: GridPredictor | None = None,
) -> np.ndarray:
    """Inverse of :func:`encode_grid`."""
    dtype = np.dtype(dtype)
    s3 = as_3d(tuple(shape))
    n = int(np.prod(s3))
    step = _step(bound)
    try:
        head = ByteReader(sections["head"])
        head.varint()  # the fill value: the encoder's business, decoded through the residuals
        n_raw = head.varint()
        if n_raw > n:
            raise BaleFormatError("more raw values than the grid holds")
        raw_idx = _raw_positions(sections, n_raw, n)
        plan = ByteReader(sections["plan"])
        blk = (plan.varint(), plan.varint(), plan.varint())
        block_count(s3, blk)  # before the blocks are listed
        slices = _blocks(s3, blk)
        choice = decode_uints(plan.block(), len(slices)).astype(np.int64)
        streams: dict[int, list[np.ndarray]] = {}
        luts: dict[int, np.ndarray] = {}
        cursors: dict[int, np.ndarray] = {}
        for pid in sorted(set(choice.tolist())):
            if pid not in PREDICTORS:
                raise BaleFormatError(f"unknown grid predictor id {pid}")
            streams[pid], luts[pid] = _decode_contexts(sections[f"res.{PREDICTORS[pid]}"])
            cursors[pid] = np.zeros(len(streams[pid]), dtype=np.int64)
        latents = None
        lpos = 0
        if 4 in streams:
            if model is None:
                raise BaleFormatError("this grid was coded with a conv model, and none was given")
            tiles = sum(
                int(np.prod(_tiles_of(np.zeros(_shape_of(s, s3)), model.tile)[1]))
                for s, c in zip(slices, choice, strict=True)
                if c == 4
            )
            latents = decode_ints(sections["latent"], tiles * model.latent_dim).reshape(-1, model.latent_dim)
        rec = np.zeros(s3)
        for s, pid in zip(slices, choice.tolist(), strict=True):
            bshape = _shape_of(s, s3)
            if pid in _INTERP:
                rec[s] = interp_decode(streams[pid], cursors[pid], bshape, _AXES[pid], step, luts[pid])
                continue
            r = lorenzo_context_decode(streams[pid], cursors[pid], bshape, luts[pid])
            if r is None:
                raise BaleFormatError("a residual stream ends early")
            if pid == 4:
                assert latents is not None and model is not None
                zeros, layout = _tiles_of(np.zeros(bshape), model.tile)
                lt = latents[lpos : lpos + len(zeros)]
                lpos += len(zeros)
                pred = _untile(model.decode_tiles(lt), layout, model.tile, bshape[1], bshape[2])
                k = lorenzo_decode(r, (1, 2)) + _conv_lattice(pred, step)
            else:
                k = lorenzo_decode(r, _AXES[pid])
            rec[s] = k * step
        for pid, cursor in cursors.items():
            if cursor.tolist() != [len(x) for x in streams[pid]]:
                raise BaleFormatError("residual streams hold more values than the grid")
        negative: np.ndarray | None = None
        if "sign" in sections:
            regular = np.ones(n, dtype=bool)
            regular[raw_idx] = False
            negative = np.zeros(n, dtype=bool)
            negative[regular] = decode_uints(sections["sign"], int(regular.sum())).astype(bool)
            negative = negative.reshape(s3)
        out = _values(rec, negative, bound, dtype).ravel()
        if n_raw:
            reader = ByteReader(sections["raw"])
            reader.block()
            size = n_raw * dtype.itemsize
            data = zstandard.ZstdDecompressor().decompress(bytes(reader.block()), max_output_size=size)
            if len(data) != size:
                raise BaleFormatError("raw-value block has the wrong length")
            out[raw_idx] = np.frombuffer(data, dtype=dtype)
    except (KeyError, ValueError, IndexError, zstandard.ZstdError) as exc:
        raise BaleFormatError(f"corrupt grid data: {exc}") from None
    return out.reshape(shape)


def _shape_of(s: tuple[slice, slice, slice], shape: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(len(range(*sl.indices(n))) for sl, n in zip(s, shape, strict=True))  # type: ignore[return-value]


def _raw_positions(sections: Mapping[str, bytes | memoryview], n_raw: int, n: int) -> np.ndarray:
    if not n_raw:
        return np.zeros(0, dtype=np.int64)
    reader = ByteReader(sections["raw"])
    gaps = decode_uints(reader.block(), n_raw).astype(np.int64)
    idx = np.cumsum(gaps + 1) - 1
    if gaps.min() < 0 or idx[-1] >= n:
        raise BaleFormatError("raw positions lie outside the grid")
    return idx


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
