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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import zstandard

from bale.bounds import Bound, parse_bound
from bale.codec.lossy import MARGIN
from bale.codec.uint_stream import decode_ints, decode_uints, encode_uints, tokenize, zigzag
from bale.codec.varint import ByteReader, encode_varint
from bale.codec.varint import block as prefixed
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError
from bale.grid.predictors import interp_decode, interp_encode, lorenzo_decode, lorenzo_encode

__all__ = [
    "PREDICTORS",
    "GridBound",
    "GridPredictor",
    "as_3d",
    "decode_grid",
    "encode_grid",
    "parse_grid_bound",
]

log = logging.getLogger(__name__)

_MAX_QUANT = float(2**50)
_RAW_ZSTD_LEVEL = 19

# predictor id -> name; the ids are stored in files: only ever append
PREDICTORS: dict[int, str] = {0: "lorenzo", 1: "lorenzo2d", 2: "interp", 3: "interp2d", 4: "conv"}
_CLASSICAL = (0, 1, 2, 3)
_AXES = {0: (0, 1, 2), 1: (1, 2), 2: (0, 1, 2), 3: (1, 2)}


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


def _reconstruct(k: np.ndarray, step: float, negative: np.ndarray | None, bound: Bound, dtype: np.dtype) -> np.ndarray:
    """The one formula encoder and decoder share: lattice integers to values."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = k.astype(np.float64) * step
        if bound.mode == "rel":
            np.exp(v, out=v)
            if negative is not None:
                v[negative] = -v[negative]
        return v.astype(dtype)


def _lattice(x: np.ndarray, bound: Bound) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lattice integers, the regular mask, the sign mask (relative) and the values the decoder gives."""
    dtype = x.dtype
    step = _step(bound)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        v = x.astype(np.float64)
        regular = np.isfinite(v)
        if bound.mode == "rel":
            regular &= (v != 0) & (np.abs(v) >= np.finfo(dtype).tiny)
            scaled = np.log(np.abs(v)) / step
        else:
            scaled = v / step
            regular &= ~((v == 0) & np.signbit(v))  # -0.0 comes back bit-exact, as raw
        regular &= np.abs(scaled) < _MAX_QUANT
        k = np.rint(np.where(regular, scaled, 0.0)).astype(np.int64)
        negative = np.signbit(v) & regular
        decoded = _reconstruct(k, step, negative, bound, dtype)
        err = np.abs(decoded.astype(np.float64) - v)
        limit = bound.value * (1.0 - MARGIN / 2)
        regular &= err <= (limit * np.abs(v) if bound.mode == "rel" else limit)
    decoded[~regular] = x[~regular]
    return k, regular, negative & regular, decoded


def _blocks(shape: tuple[int, int, int], block: tuple[int, int, int]) -> list[tuple[slice, slice, slice]]:
    out = []
    for a in range(0, shape[0], block[0]):
        for b in range(0, shape[1], block[1]):
            for c in range(0, shape[2], block[2]):
                out.append((slice(a, a + block[0]), slice(b, b + block[1]), slice(c, c + block[2])))
    return out


def _classical_encode(pid: int, k: np.ndarray) -> np.ndarray:
    if pid in (0, 1):
        return lorenzo_encode(k, _AXES[pid]).ravel()
    return interp_encode(k, _AXES[pid])


def _classical_decode(pid: int, r: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if pid in (0, 1):
        return lorenzo_decode(r.reshape(shape), _AXES[pid])
    return interp_decode(r, shape, _AXES[pid])


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


class _Costs:
    """Bits of residual arrays under a fixed code-length table per predictor (to choose per block)."""

    def __init__(self) -> None:
        self.lengths: dict[int, np.ndarray] = {}

    def fit(self, pid: int, residuals: list[np.ndarray]) -> None:
        tokens = [tokenize(zigzag(r))[0] for r in residuals if r.size]
        counts = np.bincount(np.concatenate(tokens), minlength=256).astype(np.float64) if tokens else np.ones(256)
        p = (counts + 0.5) / (counts + 0.5).sum()
        self.lengths[pid] = -np.log2(p)

    def bits(self, pid: int, r: np.ndarray) -> float:
        if not r.size:
            return 0.0
        tokens, _, widths = tokenize(zigzag(r))
        return float(self.lengths[pid][tokens].sum() + widths.sum())


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
    k, regular, negative, decoded = _lattice(x, bound)
    fill = int(np.median(k[regular])) if regular.any() else 0
    k[~regular] = fill
    step = _step(bound)
    sections: dict[str, bytes] = {}
    head = bytearray(encode_varint(int(zigzag(np.array([fill]))[0])))
    raw_idx = np.flatnonzero(~regular)
    head += encode_varint(len(raw_idx))
    sections["head"] = bytes(head)
    if len(raw_idx):
        gaps = np.diff(raw_idx, prepend=-1) - 1
        raw = zstandard.ZstdCompressor(level=_RAW_ZSTD_LEVEL).compress(x.ravel()[raw_idx].tobytes())
        sections["raw"] = prefixed(encode_uints(gaps.astype(np.uint64))) + prefixed(raw)
    if bound.mode == "rel" and negative.any():
        sections["sign"] = encode_uints(negative[regular].astype(np.uint8))

    allowed = _allowed(predictor, model, bound)
    plans = []
    blk = tuple(max(1, min(block, n)) for n in x.shape)
    plans.append(_plan_blocks(k, blk, allowed, model, x, step))
    if blk != x.shape or len(allowed) > 1:
        for pid in (p for p in allowed if p in _CLASSICAL):
            plans.append(_plan_blocks(k, tuple(max(1, n) for n in x.shape), (pid,), None, x, step))
    best = min(plans, key=lambda p: sum(len(b) for b in p[0].values()))
    sections.update(best[0])
    info = {
        "block": list(best[1]),
        "predictors": best[2],
        "raw_values": len(raw_idx),
        "step": step,
    }
    log.info("grid %s: block %s, predictors %s, %d raw", x.shape, best[1], best[2], len(raw_idx))
    return EncodedGrid(sections, decoded.reshape(values.shape), info)


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
        return (2, 3)
    raise BaleConfigError(f"unknown grid predictor {predictor!r}: auto, lorenzo, interp or conv")


def _conv_residuals(model: GridPredictor, kb: np.ndarray, xb: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Latents of a block's tiles, and its residuals: lattice minus the predicted lattice, Lorenzo in-frame."""
    tiles, layout = _tiles_of(np.where(np.isfinite(xb), xb, 0.0).astype(np.float64), model.tile)
    latents = model.encode_tiles(tiles)
    pred = _untile(model.decode_tiles(latents), layout, model.tile, *xb.shape[1:])
    diff = kb - _conv_lattice(pred, step)
    return latents, lorenzo_encode(diff, (1, 2)).ravel()


def _plan_blocks(
    k: np.ndarray,
    blk: tuple[int, ...],
    allowed: tuple[int, ...],
    model: GridPredictor | None,
    x: np.ndarray,
    step: float,
) -> tuple[dict[str, bytes], tuple[int, ...], dict[str, int]]:
    """Sections of one plan: blocks of shape ``blk``, each coded by the cheapest of ``allowed``."""
    slices = _blocks(k.shape, blk)  # type: ignore[arg-type]
    candidates: dict[int, list[np.ndarray]] = {}
    latents: list[np.ndarray] = []
    for pid in allowed:
        if pid == 4:
            assert model is not None
            pairs = [_conv_residuals(model, k[s], x[s], step) for s in slices]
            latents = [p[0] for p in pairs]
            candidates[4] = [p[1] for p in pairs]
        else:
            candidates[pid] = [_classical_encode(pid, k[s]) for s in slices]
    latent_bits = [_latent_bits(lt) for lt in latents]
    choice = np.zeros(len(slices), dtype=np.int64) + allowed[0]
    if len(allowed) > 1 and slices:
        costs = _Costs()
        for pid in allowed:
            costs.fit(pid, candidates[pid])
        for _ in range(2):  # choose, refit the code lengths to the chosen blocks, choose again
            table = np.array(
                [
                    [costs.bits(pid, candidates[pid][b]) + (latent_bits[b] if pid == 4 else 0.0) for pid in allowed]
                    for b in range(len(slices))
                ]
            )
            choice = np.array(allowed)[np.argmin(table, axis=1)]
            for pid in allowed:
                chosen = [candidates[pid][b] for b in range(len(slices)) if choice[b] == pid]
                if chosen:
                    costs.fit(pid, chosen)
    sections: dict[str, bytes] = {"plan": prefixed(encode_uints(choice.astype(np.uint64)))}
    used: dict[str, int] = {}
    for pid in sorted(set(choice.tolist())):
        parts = [candidates[pid][b] for b in range(len(slices)) if choice[b] == pid]
        sections[f"res.{PREDICTORS[pid]}"] = encode_uints(zigzag(np.concatenate(parts).astype(np.int64)))
        used[PREDICTORS[pid]] = len(parts)
        if pid == 4:
            chosen = np.concatenate([latents[b].ravel() for b in range(len(slices)) if choice[b] == 4])
            sections["latent"] = encode_uints(zigzag(chosen.astype(np.int64)))
    shape_bytes = b"".join(encode_varint(n) for n in blk)
    sections["plan"] = shape_bytes + sections["plan"]
    return sections, blk, used


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
        plan = ByteReader(sections["plan"])
        blk = (plan.varint(), plan.varint(), plan.varint())
        if min(blk) < 1:
            raise BaleFormatError("bad block shape")
        slices = _blocks(s3, blk)
        choice = decode_uints(plan.block(), len(slices)).astype(np.int64)
        k = np.empty(s3, dtype=np.int64)
        streams: dict[int, np.ndarray] = {}
        pos: dict[int, int] = {}
        for pid in sorted(set(choice.tolist())):
            if pid not in PREDICTORS:
                raise BaleFormatError(f"unknown grid predictor id {pid}")
            count = sum(int(np.prod(k[s].shape)) for s, c in zip(slices, choice, strict=True) if c == pid)
            streams[pid] = decode_ints(sections[f"res.{PREDICTORS[pid]}"], count)
            pos[pid] = 0
        latents = None
        if 4 in streams:
            if model is None:
                raise BaleFormatError("this grid was coded with a conv model, and none was given")
            tiles = sum(
                int(np.prod(_tiles_of(np.zeros(k[s].shape), model.tile)[1]))
                for s, c in zip(slices, choice, strict=True)
                if c == 4
            )
            latents = decode_ints(sections["latent"], tiles * model.latent_dim).reshape(-1, model.latent_dim)
            lpos = 0
        for s, pid in zip(slices, choice.tolist(), strict=True):
            bshape = k[s].shape
            m = int(np.prod(bshape))
            r = streams[pid][pos[pid] : pos[pid] + m]
            pos[pid] += m
            if pid == 4:
                assert latents is not None and model is not None
                zeros, layout = _tiles_of(np.zeros(bshape), model.tile)
                lt = latents[lpos : lpos + len(zeros)]
                lpos += len(zeros)
                pred = _untile(model.decode_tiles(lt), layout, model.tile, bshape[1], bshape[2])
                k[s] = lorenzo_decode(r.reshape(bshape), (1, 2)) + _conv_lattice(pred, step)
            else:
                k[s] = _classical_decode(pid, r, bshape)
        negative = None
        if "sign" in sections:
            regular = np.ones(n, dtype=bool)
            raw_idx = _raw_positions(sections, n_raw, n)
            regular[raw_idx] = False
            signs = decode_uints(sections["sign"], int(regular.sum())).astype(bool)
            negative = np.zeros(n, dtype=bool)
            negative[regular] = signs
            negative = negative.reshape(s3)
        out = _reconstruct(k, step, negative, bound, dtype).ravel()
        if n_raw:
            raw_idx = _raw_positions(sections, n_raw, n)
            reader = ByteReader(sections["raw"])
            reader.block()
            data = zstandard.ZstdDecompressor().decompress(
                bytes(reader.block()), max_output_size=n_raw * dtype.itemsize
            )
            if len(data) != n_raw * dtype.itemsize:
                raise BaleFormatError("raw-value block has the wrong length")
            out[raw_idx] = np.frombuffer(data, dtype=dtype)
    except (KeyError, ValueError, zstandard.ZstdError) as exc:
        raise BaleFormatError(f"corrupt grid data: {exc}") from None
    return out.reshape(shape)


def _raw_positions(sections: Mapping[str, bytes | memoryview], n_raw: int, n: int) -> np.ndarray:
    if not n_raw:
        return np.zeros(0, dtype=np.int64)
    reader = ByteReader(sections["raw"])
    gaps = decode_uints(reader.block(), n_raw).astype(np.int64)
    idx = np.cumsum(gaps + 1) - 1
    if n_raw and (gaps.min() < 0 or idx[-1] >= n):
        raise BaleFormatError("raw positions lie outside the grid")
    return idx
