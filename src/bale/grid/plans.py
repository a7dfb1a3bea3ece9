"""How a grid is coded: its plans (blocks, a predictor each), their estimated bytes, and the parts written.

A *plan* is a block shape and the predictor of each block. The encoder prices plans without coding
them (:func:`bale.grid.streams.estimate`: token histograms per context and one fast zstd pass) and
codes only the one it keeps (:func:`write_plan`). The plans priced (:func:`choose_plan`): the
whole grid by each predictor, and blocks of ``grid.block`` each by its own predictor, chosen from
the whole-grid candidates' token histograms over the blocks (classical predictors) or by trying
each predictor on each block (with a conv model). A grid of more than 2^16 values is priced on
a central slab of a quarter of it first: where one predictor over the whole slab wins, only that
plan is built on the whole grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

from bale.bounds import Bound
from bale.codec.lossy import MARGIN
from bale.codec.uint_stream import encode_uints, zigzag
from bale.codec.varint import block as prefixed
from bale.codec.varint import encode_varint
from bale.grid.kernels import abs_misses, interp_code, lorenzo_residuals, token_histogram
from bale.grid.lattice import GridPredictor, conv_lattice, misses, tiles_of, to_values, untile
from bale.grid.layout import AXES, CLASSICAL, INTERP, PREDICTORS, blocks
from bale.grid.predictors import LORENZO_THRESHOLDS
from bale.grid.streams import EXACT_BELOW, StreamCost, encode_residuals, estimate

__all__ = ["Plan", "State", "axis_flags", "choose_plan", "lattice_misses_of", "write_plan"]

log = logging.getLogger(__name__)

RAW_ZSTD_LEVEL = 19
_SAMPLE_ABOVE = 1 << 16  # values: larger grids choose their plan on a sample (a quarter) first
# on the sample, blocks must win by this much for the whole grid's plans all to be priced: a sample
# shows less repetition than the grid (zstd gains less there, and only whole-grid streams get it)
_SAMPLE_BLOCKS_MARGIN = 0.95
# ... and their token histograms (no contexts, no zstd) must promise 10 % first: they overstate the
# gain (0.92 on the CFD animation at range=1e-2, where pricing the plans found 0.96)
_SAMPLE_HIST_GAIN = 0.90
_WIDTHS = np.array([(t - 16) // 4 + 2 if t >= 16 else 0 for t in range(256)], dtype=np.float64)


@dataclass
class State:
    x: np.ndarray
    v: np.ndarray
    k: np.ndarray
    special: np.ndarray
    negative: np.ndarray
    lattice_misses: np.ndarray
    step: float
    bound: Bound
    model: GridPredictor | None


@dataclass
class _Candidate:
    symbols: np.ndarray  # int64, in coding order
    contexts: np.ndarray  # int64, one per symbol
    rec: np.ndarray  # reconstructed domain values of the block (float64)
    misses: np.ndarray  # values of the block that go raw besides the special ones
    latents: np.ndarray | None = None
    positions: np.ndarray | None = None  # flat position in the block of each symbol (None: raster order)


@dataclass
class Plan:
    """One way to code the grid: block shape, predictor per block, what each predictor's stream holds."""

    blk: tuple[int, ...]
    choice: np.ndarray
    symbols: dict[int, np.ndarray]
    contexts: dict[int, np.ndarray]
    rec: np.ndarray
    raw: np.ndarray
    latents: list[np.ndarray]
    costs: dict[int, StreamCost] = field(default_factory=dict)
    cost: float = 0.0
    rans_cost: float = 0.0  # the residual streams' estimate by rANS alone
    block_hist: np.ndarray | None = None  # per block of a finer plan: token histogram, extra bits
    block_extra: np.ndarray | None = None


def choose_plan(state: State, blk: tuple[int, ...], allowed: tuple[int, ...]) -> Plan:
    """The plan estimated cheapest among those priced (module docstring), built on the whole grid."""
    x = state.x
    best = None
    sample = _central_slab(state) if x.size > _SAMPLE_ABOVE and all(p in CLASSICAL for p in allowed) else None
    if sample is not None:  # the plans priced on a slab of the grid: one predictor over the whole grid wins?
        guess = _best_plan(sample, blk, allowed, blocks_margin=_SAMPLE_BLOCKS_MARGIN)
        if len(set(guess.choice.tolist())) == 1 and guess.blk == sample.x.shape:
            best = _build_plan(state, _whole(x.shape), np.full(1, guess.choice[0]))
    if best is None:
        best = _best_plan(state, blk, allowed)
    assert best is not None
    return best


def _whole(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(1, n) for n in shape)


def _central_slab(state: State) -> State | None:
    """A central slab of about a quarter of the grid (at least 16 planes) across its longest axis, where
    the grid is at least twice that long; else None."""
    axis = int(np.argmax(state.x.shape))
    n = state.x.shape[axis]
    length = max(16, -(-n // 4))
    if n < 2 * length:
        return None
    start = (n - length) // 2
    cut = tuple(slice(start, start + length) if a == axis else slice(None) for a in range(3))
    parts = (state.x, state.v, state.k, state.special, state.negative, state.lattice_misses)
    x, v, k, special, negative, lattice_misses = (np.ascontiguousarray(p[cut]) for p in parts)
    return State(x, v, k, special, negative, lattice_misses, state.step, state.bound, state.model)


def _best_plan(state: State, blk: tuple[int, ...], allowed: tuple[int, ...], blocks_margin: float = 1.0) -> Plan:
    """The plan estimated cheapest: the whole grid by each predictor, and blocks each by its own (taken
    when it costs below ``blocks_margin`` times the best whole-grid plan)."""
    x = state.x
    whole = _whole(x.shape)
    slices = blocks(x.shape, blk)
    if x.size <= EXACT_BELOW:
        return _smallest_plan(state, blk, allowed)
    # by blocks, chosen from the whole-grid candidates' histograms over the blocks (classical only)
    by_hist = blk != whole and len(allowed) > 1 and all(p in CLASSICAL for p in allowed)
    ids = _block_ids(x.shape, blk) if by_hist else None
    hist = np.zeros((len(slices), len(allowed), 256)) if by_hist else None
    extra = np.zeros((len(slices), len(allowed)))
    best: Plan | None = None
    if blk != whole or len(allowed) > 1:  # the whole grid by each predictor; one other plan held at a time
        for j, pid in enumerate(allowed):
            if pid in CLASSICAL:
                plan = _build_plan(state, whole, np.full(len(blocks(x.shape, whole)), pid), ids)
                if hist is not None:
                    hist[:, j], extra[:, j] = plan.block_hist, plan.block_extra
                best = plan if best is None or plan.cost < best.cost else best
    if by_hist:
        assert hist is not None
        choice = _fit_choice(hist, extra, allowed)
        promising = blocks_margin >= 1.0 or _blocks_gain(hist, extra, choice, allowed) < _SAMPLE_HIST_GAIN
        if len(set(choice.tolist())) > 1 and promising:  # (on a sample, only blocks that promise enough)
            plan = _build_plan(state, blk, choice)
            best = plan if best is None or plan.cost < blocks_margin * best.cost else best
    elif blk != whole or len(allowed) == 1 or any(p not in CLASSICAL for p in allowed):
        choice = _choose(state, slices, allowed) if len(allowed) > 1 else np.full(len(slices), allowed[0])
        plan = _build_plan(state, blk, choice)
        best = plan if best is None or plan.cost < best.cost else best
    assert best is not None
    return best


def _smallest_plan(state: State, blk: tuple[int, ...], allowed: tuple[int, ...]) -> Plan:
    """A small grid: every plan coded, the fewest real bytes kept (blocks first; a whole-grid plan must be
    strictly smaller)."""
    shape = state.x.shape
    slices = blocks(shape, blk)
    choice = _choose(state, slices, allowed) if len(allowed) > 1 and slices else np.full(len(slices), allowed[0])
    best = _build_plan(state, blk, choice)
    best.cost = sum(map(len, write_plan(state, best)[0].values()))
    if blk != _whole(shape) or len(allowed) > 1:
        for pid in (p for p in allowed if p in CLASSICAL):
            plan = _build_plan(state, _whole(shape), np.full(len(blocks(shape, _whole(shape))), pid))
            plan.cost = sum(map(len, write_plan(state, plan)[0].values()))
            if plan.cost < best.cost:
                best = plan
    return best


def lattice_misses_of(
    x: np.ndarray, rec: np.ndarray, special: np.ndarray, negative: np.ndarray, bound: Bound
) -> np.ndarray:
    """Values of ``x`` (not special) that the reconstruction ``rec`` misses: one compiled pass for abs bounds."""
    if bound.mode == "abs":
        limit = bound.value * (1.0 - MARGIN / 2)
        xs, sk = np.ascontiguousarray(x), np.ascontiguousarray(special)
        lost: np.ndarray = abs_misses(xs, np.ascontiguousarray(rec), sk, limit, x.dtype == np.float32)
        return lost
    out: np.ndarray = ~special & misses(x, to_values(rec, negative, bound, x.dtype), bound)
    return out


def axis_flags(axes: tuple[int, ...]) -> np.ndarray:
    return np.array([a in axes for a in range(3)], dtype=np.int64)


def _candidate(state: State, pid: int, s: tuple[slice, slice, slice]) -> _Candidate:
    if pid in INTERP:
        q, ctx, rec, pos = interp_code(state.v[s], state.special[s], AXES[pid], state.step)
        xb = state.x[s]
        lost = lattice_misses_of(xb, rec, state.special[s], state.negative[s], state.bound)
        return _Candidate(q, ctx, rec, lost, positions=pos)
    kb = np.ascontiguousarray(state.k[s])
    latents = None
    if pid == 4:
        model = state.model
        assert model is not None
        xb = np.where(state.special[s], 0.0, state.v[s])
        tiles, layout = tiles_of(xb, model.tile)
        latents = model.encode_tiles(tiles)
        pred = untile(model.decode_tiles(latents), layout, model.tile, *xb.shape[1:])
        r, ctx = lorenzo_residuals(kb - conv_lattice(pred, state.step), axis_flags((1, 2)), LORENZO_THRESHOLDS)
    else:
        r, ctx = lorenzo_residuals(kb, axis_flags(AXES[pid]), LORENZO_THRESHOLDS)
    return _Candidate(r.ravel(), ctx, kb * state.step, state.lattice_misses[s], latents)


def _choose(state: State, slices: list[tuple[slice, slice, slice]], allowed: tuple[int, ...]) -> np.ndarray:
    """The cheapest predictor of each block, from the token histograms of every candidate (memory: per block)."""
    raw_bits = 8.0 * state.x.dtype.itemsize
    hist = np.zeros((len(slices), len(allowed), 256), dtype=np.float64)
    extra = np.zeros((len(slices), len(allowed)))
    for b, s in enumerate(slices):
        for j, pid in enumerate(allowed):
            c = _candidate(state, pid, s)
            h = np.zeros((1, 256), dtype=np.float64)
            token_histogram(c.symbols, np.zeros(c.symbols.size, dtype=np.int64), h)
            hist[b, j] = h[0]
            extra[b, j] = float(h[0] @ _WIDTHS) + raw_bits * int(c.misses.sum())
            if c.latents is not None:
                extra[b, j] += _latent_bits(c.latents)
    return _fit_choice(hist, extra, allowed)


def _fit_choice(hist: np.ndarray, extra: np.ndarray, allowed: tuple[int, ...]) -> np.ndarray:
    """The predictor of each block from its token histogram ``hist[block, predictor]`` and ``extra`` bits."""
    chosen = np.ones(hist.shape[:2], dtype=bool)  # first: every block
    index = np.zeros(hist.shape[0], dtype=np.int64)
    for _ in range(2):  # choose under code lengths fitted to the blocks chosen, then again
        counts = (hist * chosen[:, :, None]).sum(axis=0) + 0.5
        lengths = -np.log2(counts / counts.sum(axis=1, keepdims=True))
        cost = np.einsum("bjt,jt->bj", hist, lengths) + extra
        index = np.argmin(cost, axis=1)
        chosen = index[:, None] == np.arange(len(allowed))[None, :]
    return np.asarray(allowed, dtype=np.int64)[index]


def _blocks_gain(hist: np.ndarray, extra: np.ndarray, choice: np.ndarray, allowed: tuple[int, ...]) -> float:
    """Bits of the blocks by ``choice`` over those of the best single predictor for all, by the blocks'
    token histograms (each set of blocks under its own fitted code lengths): below 1, blocks pay."""
    index = np.searchsorted(np.asarray(allowed), choice)
    every = hist.sum(axis=0) + 0.5  # (predictor, token)
    uniform = (every * -np.log2(every / every.sum(axis=1, keepdims=True))).sum(axis=1) + extra.sum(axis=0)
    picked = np.zeros_like(every)
    np.add.at(picked, index, hist[np.arange(len(index)), index])
    picked += 0.5
    blocks_bits = (picked * -np.log2(picked / picked.sum(axis=1, keepdims=True))).sum() + extra[
        np.arange(len(index)), index
    ].sum()
    return float(blocks_bits / max(float(uniform.min()), 1.0))


def _block_ids(shape: tuple[int, ...], blk: tuple[int, ...]) -> np.ndarray:
    """The block (raster order) of each value of the grid, flat."""
    n = [-(-a // b) for a, b in zip(shape, blk, strict=True)]
    t, y, x = (np.arange(a) // b for a, b in zip(shape, blk, strict=True))
    return ((t[:, None, None] * n[1] + y[None, :, None]) * n[2] + x[None, None, :]).ravel()


def _build_plan(state: State, blk: tuple[int, ...], choice: np.ndarray, ids: np.ndarray | None = None) -> Plan:
    """Blocks of shape ``blk`` by the predictors ``choice`` (one per block): the streams and their estimated
    bytes; with ``ids`` (one block of the whole grid), the token histogram of each block of ``ids`` too."""
    slices = blocks(state.x.shape, blk)
    rec = np.zeros(state.x.shape) if len(slices) > 1 else np.empty(0)
    raw = state.special.copy()
    symbols: dict[int, list[np.ndarray]] = {}
    contexts: dict[int, list[np.ndarray]] = {}
    latents: list[np.ndarray] = []
    c: _Candidate | None = None
    for pid, s in zip(choice.tolist(), slices, strict=True):
        c = _candidate(state, pid, s)
        if len(slices) > 1:
            rec[s] = c.rec
        else:
            rec = c.rec
        raw[s] |= c.misses
        symbols.setdefault(pid, []).append(c.symbols)
        contexts.setdefault(pid, []).append(c.contexts)
        if c.latents is not None:
            latents.append(c.latents.ravel())
    join = {p: (np.concatenate(a) if len(a) > 1 else a[0]) for p, a in symbols.items()}
    plan = Plan(blk, choice, join, {p: (np.concatenate(a) if len(a) > 1 else a[0]) for p, a in contexts.items()},
                 rec.reshape(state.x.shape), raw, latents)  # fmt: skip
    plan.costs = {p: estimate(plan.symbols[p], plan.contexts[p]) for p in sorted(join)}
    plan.rans_cost = sum(c.rans for c in plan.costs.values())
    plan.cost = (
        sum(c.best for c in plan.costs.values())
        + len(encode_uints(choice.astype(np.uint64)))
        + sum(map(len, _raw_part(state.x, raw, level=1)))
        + sum(_latent_bits(a) for a in latents) / 8
    )
    if ids is not None and c is not None:
        n_blocks = int(ids[-1]) + 1
        hist = np.zeros((n_blocks, 256))
        token_histogram(c.symbols, ids if c.positions is None else ids[c.positions], hist)
        plan.block_hist = hist
        plan.block_extra = hist @ _WIDTHS + 8.0 * state.x.dtype.itemsize * np.bincount(
            ids[c.misses.ravel()], minlength=n_blocks
        )
    log.debug("grid plan %s %s: %.0f bytes estimated (%.0f rANS)", blk, np.unique(choice).tolist(), plan.cost,
              plan.rans_cost)  # fmt: skip
    return plan


def write_plan(state: State, plan: Plan) -> tuple[dict[str, bytes], np.ndarray, dict[str, Any]]:
    """Sections, decoded values and info of a plan."""
    sections: dict[str, bytes] = {
        "plan": b"".join(encode_varint(n) for n in plan.blk) + prefixed(encode_uints(plan.choice.astype(np.uint64)))
    }
    used: dict[str, int] = {}
    counts = np.bincount(plan.choice, minlength=len(PREDICTORS))
    for pid in sorted(plan.symbols):
        sections[f"res.{PREDICTORS[pid]}"] = encode_residuals(plan.symbols[pid], plan.contexts[pid], plan.costs[pid])
        used[PREDICTORS[pid]] = int(counts[pid])
    if plan.latents:
        sections["latent"] = encode_uints(zigzag(np.concatenate(plan.latents).astype(np.int64)))
    raw = plan.raw
    negative = state.negative & ~raw
    if state.bound.mode == "rel" and negative.any():
        sections["sign"] = encode_uints(negative[~raw].astype(np.uint8))
    raw_idx = np.flatnonzero(raw)
    if len(raw_idx):
        gaps, data = _raw_part(state.x, raw, level=RAW_ZSTD_LEVEL)
        sections["raw"] = prefixed(gaps) + prefixed(data)
    decoded = to_values(plan.rec, negative, state.bound, state.x.dtype)
    decoded[raw] = state.x[raw]
    info = {"block": list(plan.blk), "predictors": used, "raw_values": len(raw_idx)}
    return sections, decoded, info


def _raw_part(x: np.ndarray, raw: np.ndarray, level: int) -> tuple[bytes, bytes]:
    """The positions (gaps, a uint stream) and the zstd-compressed native bytes of the raw values."""
    raw_idx = np.flatnonzero(raw)
    if not len(raw_idx):
        return b"", b""
    gaps = np.diff(raw_idx, prepend=-1) - 1
    data = zstandard.ZstdCompressor(level=level).compress(x.ravel()[raw_idx].tobytes())
    return encode_uints(gaps.astype(np.uint64)), data


def _latent_bits(latents: np.ndarray) -> float:
    """Rough bits of a block's latents (their tokens at a flat 4 bits, plus extra bits)."""
    if not latents.size:
        return 0.0
    h = np.zeros((1, 256), dtype=np.float64)
    token_histogram(latents.ravel().astype(np.int64), np.zeros(latents.size, dtype=np.int64), h)
    return float(4 * latents.size + h[0] @ _WIDTHS)
