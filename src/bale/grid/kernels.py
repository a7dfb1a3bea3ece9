"""Compiled kernels of the grid predictors: one pass per predictor, no NumPy temporaries (numba, ``nogil``).

Each kernel does, value by value and in the decoder's order, what :mod:`bale.grid.predictors`
describes and once did with NumPy passes: the same IEEE operations in the same order (numba
compiles without fast-math), and int64 arithmetic that wraps as NumPy's does, so the bytes and
the decoded values are those of the vectorized code, bit for bit.

- :func:`lorenzo_residuals`: Lorenzo residuals of the lattice over a set of axes and their contexts;
- :func:`lorenzo_rebuild`: the decoder's walk over the context streams, integrated and scaled in
  the same pass;
- :func:`interp_pass` (both directions): the closed-loop interpolation steps after the anchors;
- :func:`token_histogram`: the hybrid-integer tokens of zigzag residuals, counted per context,
  and their extra bits: what the entropy coder will be paid, without coding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from bale.grid.predictors import (
    INTERP_THRESHOLDS,
    context_magnitude,
    interp_steps,
    lorenzo_decode,
    lorenzo_encode,
)

__all__ = [
    "abs_misses",
    "interp_code",
    "interp_pass",
    "interp_rebuild",
    "lorenzo_rebuild",
    "lorenzo_residuals",
    "pack_zigzag",
    "split_zigzag",
    "token_histogram",
]

_MAX_Q = float(2**50)


@numba.njit(cache=True, nogil=True)
def _count_at_or_below(thresholds: np.ndarray, m: float) -> int:
    c = 0
    while c < thresholds.shape[0] and thresholds[c] <= m:
        c += 1
    return c


@numba.njit(cache=True, nogil=True, inline="always")
def _lorenzo(k: np.ndarray, t: int, y: int, x: int, a: bool, b: bool, c: bool) -> np.int64:
    """Lorenzo's prediction of ``k[t, y, x]`` from its neighbours before it along the axes a, b, c (both coders')."""
    p = np.int64(0)
    if a:
        p += k[t - 1, y, x]
    if b:
        p += k[t, y - 1, x]
    if c:
        p += k[t, y, x - 1]
    if a and b:
        p -= k[t - 1, y - 1, x]
    if a and c:
        p -= k[t - 1, y, x - 1]
    if b and c:
        p -= k[t, y - 1, x - 1]
    if a and b and c:
        p += k[t - 1, y - 1, x - 1]
    return p


@numba.njit(cache=True, nogil=True)
def lorenzo_residuals(k: np.ndarray, flags: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of the (t, h, w) int64 lattice ``k`` over the axes with ``flags[a]`` set (differences
    along each: inclusion-exclusion of the neighbours before), and the context of each residual."""
    t_n, h, w = k.shape
    r = np.empty((t_n, h, w), dtype=np.int64)
    ctx = np.empty(t_n * h * w, dtype=np.int64)
    f0, f1, f2 = flags[0] != 0, flags[1] != 0, flags[2] != 0
    for t in range(t_n):
        for y in range(h):
            for x in range(w):
                r[t, y, x] = k[t, y, x] - _lorenzo(k, t, y, x, t > 0 and f0, y > 0 and f1, x > 0 and f2)
    i = 0
    for t in range(t_n):
        for y in range(h):
            for x in range(w):
                m = context_magnitude(r, t, y, x)
                ctx[i] = _count_at_or_below(thresholds, m)
                i += 1
    return r, ctx


@numba.njit(cache=True, nogil=True)
def lorenzo_rebuild(
    streams: np.ndarray,
    starts: np.ndarray,
    cursor: np.ndarray,
    lut: np.ndarray,
    flags: np.ndarray,
    thresholds: np.ndarray,
    step: float,
    r: np.ndarray,
    rec: np.ndarray,
) -> int:
    """The residuals of a block from its context streams (``r``), integrated over the flagged axes into
    the lattice and scaled by ``step`` into ``rec``; 1 if a stream runs out (corrupt), else 0."""
    t_n, h, w = r.shape
    k = np.empty((t_n, h, w), dtype=np.int64)
    f0, f1, f2 = flags[0] != 0, flags[1] != 0, flags[2] != 0
    for t in range(t_n):
        for y in range(h):
            for x in range(w):
                m = context_magnitude(r, t, y, x)
                c = lut[min(_count_at_or_below(thresholds, m), lut.shape[0] - 1)]
                pos = starts[c] + cursor[c]
                if pos >= starts[c + 1]:
                    return 1
                v = streams[pos]
                cursor[c] += 1
                r[t, y, x] = v
                v += _lorenzo(k, t, y, x, t > 0 and f0, y > 0 and f1, x > 0 and f2)
                k[t, y, x] = v
                rec[t, y, x] = v * step
    return 0


@numba.njit(cache=True, nogil=True)
def _finite(a: float) -> float:
    return a if np.isfinite(a) else 0.0


@numba.njit(cache=True, nogil=True)
def interp_pass(
    v: np.ndarray,
    skip: np.ndarray,
    rec: np.ndarray,
    plan: np.ndarray,
    step: float,
    thresholds: np.ndarray,
    decode: bool,
    q_out: np.ndarray,
    ctx_out: np.ndarray,
    pos_out: np.ndarray,
    streams: np.ndarray,
    starts: np.ndarray,
    cursor: np.ndarray,
    lut: np.ndarray,
) -> int:
    """The interpolation steps of ``plan`` (rows ``axis, s, inc0, inc1, inc2``: the stride of each axis
    at the step, the predicted axis starting at ``s``) over ``rec``, whose anchors are set.

    Encoding (``decode`` false): quantize ``v`` against each prediction (``skip``: coded 0), write
    ``q_out``/``ctx_out`` and the flat position of each (``pos_out``) in coding order; return how
    many. Decoding: read each ``q`` from the context streams (``lut``, ``starts``, ``cursor`` as for
    :func:`lorenzo_rebuild`); -1 if one runs out.
    """
    shape = rec.shape
    r1 = rec.reshape(-1)
    v1 = v.reshape(-1)
    k1 = skip.reshape(-1)
    strides = (shape[1] * shape[2], shape[2], 1)
    n_out = 0
    for j in range(plan.shape[0]):
        axis, s = plan[j, 0], plan[j, 1]
        n = shape[axis]
        d = s * strides[axis]
        st0 = s if axis == 0 else 0
        st1 = s if axis == 1 else 0
        st2 = s if axis == 2 else 0
        for i0 in range(st0, shape[0], plan[j, 2]):
            for i1 in range(st1, shape[1], plan[j, 3]):
                row = i0 * strides[0] + i1 * strides[1]
                for i2 in range(st2, shape[2], plan[j, 4]):
                    t = i2 if axis == 2 else (i1 if axis == 1 else i0)
                    at = row + i2
                    left = r1[at - d]
                    has_right = t + s < n
                    right = r1[at + d] if has_right else left
                    pred = (left + right) * 0.5 if has_right else left
                    if t - 3 * s >= 0 and t + 3 * s < n:
                        pred = ((left + right) * 9.0 - (r1[at - 3 * d] + r1[at + 3 * d])) * 0.0625
                    pred = _finite(pred)
                    c = _count_at_or_below(thresholds, _finite(abs(right - left) / step))
                    if decode:
                        g = lut[min(c, lut.shape[0] - 1)]
                        pos = starts[g] + cursor[g]
                        if pos >= starts[g + 1]:
                            return -1
                        q = streams[pos]
                        cursor[g] += 1
                    else:
                        scaled = (v1[at] - pred) / step
                        q = np.int64(0)
                        if not k1[at] and np.isfinite(scaled) and abs(scaled) < _MAX_Q:
                            q = np.int64(np.rint(scaled))
                        q_out[n_out] = q
                        ctx_out[n_out] = c
                        pos_out[n_out] = at
                    n_out += 1
                    r1[at] = _finite(pred + q * step)
    return n_out


@numba.njit(cache=True, nogil=True)
def abs_misses(x: np.ndarray, rec: np.ndarray, skip: np.ndarray, limit: float, f32: bool) -> np.ndarray:
    """:func:`bale.grid.lattice.misses` of an absolute bound in one pass, ``skip`` never a miss: where the
    value the decoder gives (``rec`` cast to float32 when ``f32``) is farther than ``limit`` from ``x``,
    or a zero does not come back as the same zero."""
    xf = x.reshape(-1)
    rf = rec.reshape(-1)
    sf = skip.reshape(-1)
    out = np.zeros(xf.shape[0], dtype=np.bool_)
    for i in range(xf.shape[0]):
        if sf[i]:
            continue
        xv = np.float64(xf[i])
        d = np.float64(np.float32(rf[i])) if f32 else rf[i]
        bad = not (abs(d - xv) <= limit)
        if xv == 0 and (d != 0 or np.signbit(d) != np.signbit(xv)):
            bad = True
        out[i] = bad
    return out.reshape(x.shape)


@numba.njit(cache=True, nogil=True)
def token_histogram(symbols: np.ndarray, contexts: np.ndarray, hist: np.ndarray) -> int:
    """Add the token of each zigzag-mapped symbol to ``hist[min(context, rows - 1), token]`` (the hybrid-integer
    scheme of :mod:`bale.codec.uint_stream`: 16 direct tokens, 2 bits in the token); returns the largest
    zigzag value's bit length."""
    top = np.uint64(0)
    for i in range(symbols.shape[0]):
        s = symbols[i]
        z = np.uint64((s << 1) ^ (s >> 63))
        top |= z
        if z < 16:
            tok = np.int64(z)
        else:
            nbits = 0
            u = z
            while u > np.uint64(1):
                u >>= np.uint64(1)
                nbits += 1
            tok = 16 + (nbits - 4) * 4 + np.int64((z >> np.uint64(nbits - 2)) & np.uint64(3))
        hist[min(contexts[i], hist.shape[0] - 1), tok] += 1
    bits = 0
    while top > np.uint64(0):
        top >>= np.uint64(1)
        bits += 1
    return bits


@numba.njit(cache=True, nogil=True)
def pack_zigzag(symbols: np.ndarray, width: int) -> np.ndarray:
    """The zigzag-mapped symbols as little-endian unsigned integers of ``width`` bytes."""
    out = np.empty(symbols.shape[0] * width, dtype=np.uint8)
    for i in range(symbols.shape[0]):
        s = symbols[i]
        z = np.uint64((s << 1) ^ (s >> 63))
        for b in range(width):
            out[i * width + b] = np.uint8(z & np.uint64(0xFF))
            z >>= np.uint64(8)
    return out


_ANCHOR_CONTEXT = len(INTERP_THRESHOLDS) + 1
_EMPTY_I = np.zeros(0, dtype=np.int64)


def _anchor(shape: tuple[int, ...], axes: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(0, 1) if a in axes else slice(None) for a in range(len(shape)))


def _anchor_positions(shape: tuple[int, ...], axes: Sequence[int]) -> np.ndarray:
    """Flat positions of the anchors (index 0 along ``axes``) in raster order."""
    strides = np.cumprod((1, *shape[::-1]))[:-1][::-1]
    pos = np.zeros(1, dtype=np.int64)
    for a, n in enumerate(shape):
        along = np.zeros(1, dtype=np.int64) if a in axes else np.arange(n, dtype=np.int64) * strides[a]
        pos = (pos[:, None] + along[None, :]).ravel()
    return pos


def interp_code(
    v: np.ndarray, skip: np.ndarray, axes: Sequence[int], step: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bale.grid.predictors.interp_encode` compiled: the same residuals, contexts and reconstruction,
    and the flat position in the block of each residual."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    skip = np.ascontiguousarray(skip, dtype=np.bool_)
    others = [a for a in range(v.ndim) if a not in axes]
    rec = np.zeros(v.shape)
    anchor = _anchor(v.shape, axes)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = v[anchor] / step
    ok = ~skip[anchor] & np.isfinite(scaled) & (np.abs(scaled) < _MAX_Q)
    ka = np.rint(np.where(ok, scaled, 0.0)).astype(np.int64)
    rec[anchor] = ka * step
    n_anchor = ka.size
    q = np.empty(v.size, dtype=np.int64)
    ctx = np.empty(v.size, dtype=np.int64)
    pos = np.empty(v.size, dtype=np.int64)
    q[:n_anchor] = lorenzo_encode(ka, others).ravel()
    ctx[:n_anchor] = _ANCHOR_CONTEXT
    pos[:n_anchor] = _anchor_positions(v.shape, axes)
    n = interp_pass(v, skip, rec, interp_steps(v.shape, axes), step, INTERP_THRESHOLDS, False,
                    q[n_anchor:], ctx[n_anchor:], pos[n_anchor:], _EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_I)  # fmt: skip
    return q[: n_anchor + n], ctx[: n_anchor + n], rec, pos[: n_anchor + n]


def interp_rebuild(
    flat: np.ndarray,
    starts: np.ndarray,
    cursor: np.ndarray,
    shape: tuple[int, int, int],
    axes: Sequence[int],
    step: float,
    lut: np.ndarray,
) -> np.ndarray:
    """:func:`bale.grid.predictors.interp_decode` compiled, from the streams as one array (``starts``);
    raises ValueError if a stream runs out."""
    others = [a for a in range(len(shape)) if a not in axes]
    rec = np.zeros(shape)
    anchor = _anchor(shape, axes)
    ashape = rec[anchor].shape
    g = int(lut[min(_ANCHOR_CONTEXT, len(lut) - 1)])
    m = int(np.prod(ashape))
    at = int(starts[g] + cursor[g])
    if at + m > starts[g + 1]:
        raise ValueError("a context stream ran out")
    cursor[g] += m
    rec[anchor] = lorenzo_decode(flat[at : at + m].reshape(ashape), others) * step
    dummy = np.zeros((1, 1, 1))
    code = interp_pass(dummy, np.zeros((1, 1, 1), dtype=np.bool_), rec, interp_steps(shape, axes), step,
                       INTERP_THRESHOLDS, True, _EMPTY_I, _EMPTY_I, _EMPTY_I, flat, starts, cursor, lut)  # fmt: skip
    if code < 0:
        raise ValueError("a context stream ran out")
    return rec


@numba.njit(cache=True, nogil=True)
def split_zigzag(symbols: np.ndarray, contexts: np.ndarray, lut: np.ndarray, n_groups: int) -> np.ndarray:
    """The zigzag-mapped symbols grouped by stream (``lut[min(context, 63)]``), each group in coding order
    (a counting sort); returns them followed by the ``n_groups + 1`` group boundaries (as uint64)."""
    n = symbols.shape[0]
    out = np.empty(n + n_groups + 1, dtype=np.uint64)
    counts = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(n):
        counts[lut[min(contexts[i], 63)] + 1] += 1
    for g in range(n_groups):
        counts[g + 1] += counts[g]
    for g in range(n_groups + 1):
        out[n + g] = np.uint64(counts[g])
    for i in range(n):
        g = lut[min(contexts[i], 63)]
        s = symbols[i]
        out[counts[g]] = np.uint64((s << 1) ^ (s >> 63))
        counts[g] += 1
    return out
