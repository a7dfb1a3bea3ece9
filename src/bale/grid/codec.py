"""Error-bounded coding of one grid (a 1-D to N-D float array, seen as (frames, H, W)).

1. **Lattice** (:mod:`bale.grid.lattice`). Every regular value becomes an integer ``k``:
   ``k = rint(x / step)`` for an absolute bound (``range=X`` is resolved to ``abs = X·(max − min)``
   first: :func:`bale.bounds.parse_field_bound`), ``rint(log|x| / step)`` with the sign apart for a
   pointwise relative one; ``step = 2·B·(1 − m)``, ``m = 0.01``, as for tables. The encoder rebuilds
   every value exactly as the decoder will and stores any value that misses ``B·(1 − m/2)`` raw and
   bit-exact, as it does NaN, ±inf, (relative bounds:) zeros and denormals. Raw positions get a
   fill value on the lattice, so predictors see no hole.
2. **Prediction.** The lattice is cut into blocks (``grid.block`` per axis); each block is coded
   by the predictor that costs it the fewest bits: Lorenzo or interpolation over the three axes or
   within each frame (:mod:`bale.grid.predictors`, compiled in :mod:`bale.grid.kernels`), or a
   convolutional autoencoder (a per-tile latent is stored; the decoder's exact fixed-point
   prediction is put on the lattice and the residual Lorenzo-coded within the frame). The whole
   grid as one block by each predictor is a plan too; the plan written is the one whose parts are
   *estimated* smallest (:func:`bale.grid.streams.estimate`: histograms, not trial codings).
3. **Entropy coding** (:mod:`bale.grid.streams`). Residuals of each predictor are one part, rANS
   by context or zstd; the per-block predictor ids, latents, signs and raw positions are parts of
   their own; raw values are zstd-compressed native bytes. The parts: :mod:`bale.grid.layout`.

Since predictors are lossless on the lattice, the bound is a property of the quantization
alone: it holds whatever a predictor does. Only the relative mode's ``exp`` can differ by an
ulp between machines; the margin ``m`` absorbs it, as for tables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

from bale.bounds import Bound
from bale.bounds import FieldBound as GridBound
from bale.bounds import parse_field_bound as parse_grid_bound
from bale.codec.uint_stream import decode_ints, decode_uints, zigzag
from bale.codec.varint import ByteReader, encode_varint
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError
from bale.grid.kernels import (
    interp_rebuild,
    lorenzo_rebuild,
)
from bale.grid.lattice import (
    MAX_QUANT,
    GridPredictor,
    conv_lattice,
    domain,
    step_of,
    tiles_of,
    to_values,
    untile,
)
from bale.grid.layout import (
    AXES,
    CLASSICAL,
    INTERP,
    MAX_BLOCKS,
    PREDICTORS,
    as_3d,
    block_count,
    blocks,
    describe_parts,
    pack_sections,
    shape_of,
    unpack_sections,
)
from bale.grid.plans import State, axis_flags, choose_plan, lattice_misses_of, write_plan
from bale.grid.predictors import LORENZO_THRESHOLDS, lorenzo_context_decode, lorenzo_decode
from bale.grid.streams import decode_residuals

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


@dataclass
class EncodedGrid:
    sections: dict[str, bytes]
    decoded: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


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
    step = step_of(bound)
    v, special, negative = domain(x, bound)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = v / step
    lattice_ok = ~special & (np.abs(scaled) < MAX_QUANT)
    k = np.rint(np.where(lattice_ok, scaled, 0.0)).astype(np.int64)
    regular = k[lattice_ok]
    fill = int(np.median(regular[:: max(1, regular.size >> 16)])) if regular.size else 0  # a sample's median
    k[~lattice_ok] = fill
    lattice_misses = lattice_misses_of(x, k * step, special, negative, bound)
    state = State(x, v, k, special, negative, lattice_misses, step, bound, model)

    allowed = _allowed(predictor, model, bound)
    blk = tuple(max(1, min(block, n)) for n in x.shape)
    while block_count(x.shape, blk, check=False) > MAX_BLOCKS:  # a huge grid: larger blocks, as decoders accept
        block *= 2
        blk = tuple(max(1, min(block, n)) for n in x.shape)
    best = choose_plan(state, blk, allowed)
    sections, decoded, info = write_plan(state, best)
    head = encode_varint(int(zigzag(np.array([fill]))[0])) + encode_varint(info["raw_values"])
    sections = {"head": head, **sections}
    info["step"] = step
    log.info("grid %s: block %s, predictors %s, %d raw", x.shape, info["block"], info["predictors"], info["raw_values"])
    return EncodedGrid(sections, decoded.reshape(values.shape), info)


def _allowed(predictor: str, model: GridPredictor | None, bound: Bound) -> tuple[int, ...]:
    conv_ok = model is not None and bound.mode == "abs"
    if predictor == "auto":
        return (*CLASSICAL, 4) if conv_ok else CLASSICAL
    if predictor == "conv":
        if model is None:
            raise BaleConfigError("grid.predictor = 'conv' needs a conv model (train one, or give --model)")
        if bound.mode != "abs":
            raise BaleConfigError("the conv predictor takes abs and range bounds only")
        return (4,)
    if predictor == "lorenzo":
        return (0, 1)
    if predictor == "interp":
        return INTERP
    raise BaleConfigError(f"unknown grid predictor {predictor!r}: auto, lorenzo, interp or conv")


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
    step = step_of(bound)
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
        slices = blocks(s3, blk)
        choice = decode_uints(plan.block(), len(slices)).astype(np.int64)
        streams: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        cursors: dict[int, np.ndarray] = {}
        for pid in sorted(set(choice.tolist())):
            if pid not in PREDICTORS:
                raise BaleFormatError(f"unknown grid predictor id {pid}")
            streams[pid] = decode_residuals(sections[f"res.{PREDICTORS[pid]}"])
            cursors[pid] = np.zeros(len(streams[pid][1]) - 1, dtype=np.int64)
        latents = None
        lpos = 0
        if 4 in streams:
            if model is None:
                raise BaleFormatError("this grid was coded with a conv model, and none was given")
            tiles = sum(
                int(np.prod(tiles_of(np.zeros(shape_of(s, s3)), model.tile)[1]))
                for s, c in zip(slices, choice, strict=True)
                if c == 4
            )
            latents = decode_ints(sections["latent"], tiles * model.latent_dim).reshape(-1, model.latent_dim)
        rec = np.zeros(s3) if len(slices) > 1 else np.empty(0)
        for s, pid in zip(slices, choice.tolist(), strict=True):
            bshape = shape_of(s, s3)
            flat, starts, lut = streams[pid]
            if pid in INTERP:
                part = interp_rebuild(flat, starts, cursors[pid], bshape, AXES[pid], step, lut)
            elif pid == 4:
                assert latents is not None and model is not None
                split = [flat[starts[g] : starts[g + 1]] for g in range(len(starts) - 1)]
                r = lorenzo_context_decode(split, cursors[pid], bshape, lut)
                if r is None:
                    raise BaleFormatError("a residual stream ends early")
                zeros, layout = tiles_of(np.zeros(bshape), model.tile)
                lt = latents[lpos : lpos + len(zeros)]
                lpos += len(zeros)
                pred = untile(model.decode_tiles(lt), layout, model.tile, bshape[1], bshape[2])
                part = (lorenzo_decode(r, (1, 2)) + conv_lattice(pred, step)) * step
            else:
                part = np.empty(bshape)
                flags = axis_flags(AXES[pid])
                r = np.empty(bshape, dtype=np.int64)
                if lorenzo_rebuild(flat, starts, cursors[pid], lut, flags, LORENZO_THRESHOLDS, step, r, part):
                    raise BaleFormatError("a residual stream ends early")
            if len(slices) > 1:
                rec[s] = part
            else:
                rec = part
        for pid, cursor in cursors.items():
            if not np.array_equal(cursor, np.diff(streams[pid][1])):
                raise BaleFormatError("residual streams hold more values than the grid")
        negative: np.ndarray | None = None
        if "sign" in sections:
            regular = np.ones(n, dtype=bool)
            regular[raw_idx] = False
            negative = np.zeros(n, dtype=bool)
            negative[regular] = decode_uints(sections["sign"], int(regular.sum())).astype(bool)
            negative = negative.reshape(s3)
        out = to_values(rec.reshape(s3), negative, bound, dtype).ravel()
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


def _raw_positions(sections: Mapping[str, bytes | memoryview], n_raw: int, n: int) -> np.ndarray:
    if not n_raw:
        return np.zeros(0, dtype=np.int64)
    reader = ByteReader(sections["raw"])
    gaps = decode_uints(reader.block(), n_raw).astype(np.int64)
    idx = np.cumsum(gaps + 1) - 1
    if gaps.min() < 0 or idx[-1] >= n:
        raise BaleFormatError("raw positions lie outside the grid")
    return idx
