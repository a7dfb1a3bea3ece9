"""Predictors of grids: Lorenzo on the integer lattice, closed-loop interpolation, and their contexts.

- ``lorenzo``: the lattice ``k = rint(v / step)`` is coded by the 3-D (or 2-D, within frames)
  Lorenzo predictor, i.e. successive differences along each axis; decoding is a cumulative sum
  along each. The residuals are lossless on the lattice, and all arithmetic is int64, so the
  decoder rebuilds ``k`` bit for bit; predicting from the original lattice values is the same
  as predicting from reconstructed ones (SZ's closed loop) and the encoder is vectorized.
  Each residual is coded under a *context*: the size of the residuals already decoded next
  to it (:func:`lorenzo_contexts`); the decoder walks the grid in order
  (:func:`lorenzo_context_decode`, compiled by numba).
- ``interp``: SZ3's multilevel interpolation in closed loop: points are predicted level by
  level (stride ``S/2, S/4, …, 1``), axis by axis, from the *reconstructed* points already
  known, by cubic interpolation ``(−a + 9b + 9c − d)/16`` where four neighbours exist, linear
  ``(b + c)/2`` where two do, the left neighbour at the far edge; the prediction error is
  quantized, ``q = rint((v − p)/step)``, and the point reconstructed as ``p + q·step`` (within
  ``step/2`` of ``v``). At coarse bounds this beats the lattice: a smooth region costs
  ``q = 0`` and follows the interpolation instead of the lattice's rounding noise. Each step
  is vectorized; its context is the local variation ``|c − b|/step``. Only IEEE additions,
  multiplications and divisions (no libm, no BLAS): the same bits on every machine.

Both take ``axes``: the axes predicted along (the others are independent, e.g. frames).

These vectorized versions are the reference: the codec runs the same arithmetic compiled, one
pass per block (:mod:`bale.grid.kernels`), and the tests hold the two to the same bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

__all__ = [
    "INTERP_THRESHOLDS",
    "LORENZO_THRESHOLDS",
    "identity_lut",
    "interp_decode",
    "interp_encode",
    "interp_steps",
    "lorenzo_context_decode",
    "lorenzo_contexts",
    "lorenzo_decode",
    "lorenzo_encode",
]

# contexts: the number of thresholds at or below the measure
LORENZO_THRESHOLDS = np.array([1, 2, 3, 5, 7, 11, 15, 22, 31, 45], dtype=np.int64)
INTERP_THRESHOLDS = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0])


def lorenzo_encode(k: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Lorenzo residuals of the int64 lattice ``k`` over ``axes`` (same shape)."""
    r = k
    for axis in axes:
        if r.shape[axis] > 1:
            r = np.diff(r, axis=axis, prepend=np.zeros_like(np.take(r, [0], axis=axis)))
    return r if r is not k else k.copy()


def lorenzo_decode(r: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    k = r
    for axis in reversed(list(axes)):
        k = np.cumsum(k, axis=axis)
    return k if k is not r else r.copy()


def _shifted(a: np.ndarray, dt: int, dy: int, dx: int) -> np.ndarray:
    """``a[t − dt, y − dy, x − dx]``, zero outside."""
    out = np.zeros_like(a)
    t, h, w = a.shape
    src = a[: t - dt, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    out[dt:, max(dy, 0) : h - max(-dy, 0), max(dx, 0) : w - max(-dx, 0)] = src
    return out


def lorenzo_contexts(r: np.ndarray) -> np.ndarray:
    """Context of each residual of a (t, h, w) block from the residuals before it in raster order."""
    a = np.abs(r)
    n: np.ndarray = (
        2 * _shifted(a, 0, 0, 1)
        + 2 * _shifted(a, 0, 1, 0)
        + _shifted(a, 1, 0, 0)
        + _shifted(a, 0, 1, 1)
        + _shifted(a, 0, 1, -1)
    )
    return np.searchsorted(LORENZO_THRESHOLDS, n, side="right").astype(np.int64)


def identity_lut(n: int) -> np.ndarray:
    """The lookup of raw contexts to streams when every raw context has its own (``n`` streams)."""
    return np.minimum(np.arange(64), n - 1).astype(np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def context_magnitude(r: np.ndarray, t: int, y: int, x: int) -> int:
    """The weighted magnitude of the residuals decoded before ``(t, y, x)``: its context (both coders' one sum)."""
    w = r.shape[2]
    m = 0
    if x > 0:
        m += 2 * abs(r[t, y, x - 1])
    if y > 0:
        m += 2 * abs(r[t, y - 1, x])
        if x > 0:
            m += abs(r[t, y - 1, x - 1])
        if x + 1 < w:
            m += abs(r[t, y - 1, x + 1])
    if t > 0:
        m += abs(r[t - 1, y, x])
    return m


@numba.njit(cache=True, nogil=True)
def _context_walk(
    streams: np.ndarray,
    starts: np.ndarray,
    cursor: np.ndarray,
    lut: np.ndarray,
    out: np.ndarray,
    thresholds: np.ndarray,
) -> int:
    t_n, h, w = out.shape
    for t in range(t_n):
        for y in range(h):
            for x in range(w):
                m = context_magnitude(out, t, y, x)
                c = 0
                while c < thresholds.shape[0] and thresholds[c] <= m:
                    c += 1
                c = lut[min(c, lut.shape[0] - 1)]
                pos = starts[c] + cursor[c]
                if pos >= starts[c + 1]:
                    return 1  # a context stream ran out: corrupt data
                out[t, y, x] = streams[pos]
                cursor[c] += 1
    return 0


def lorenzo_context_decode(
    streams: list[np.ndarray], cursor: np.ndarray, shape: tuple[int, int, int], lut: np.ndarray | None = None
) -> np.ndarray | None:
    """Residuals of one block from per-context streams (``cursor``: values used so far, updated; ``lut``: raw
    context -> stream, by default one stream per context); None if corrupt."""
    lut = identity_lut(len(streams)) if lut is None else lut
    starts = np.zeros(len(streams) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(s) for s in streams])
    flat = np.concatenate(streams).astype(np.int64) if streams else np.zeros(0, np.int64)
    out = np.zeros(shape, dtype=np.int64)
    if _context_walk(flat, starts, cursor, lut, out, LORENZO_THRESHOLDS):
        return None
    return out


def _steps(shape: tuple[int, ...], axes: Sequence[int]) -> list[tuple[int, int, tuple[slice, ...]]]:
    """The interpolation steps in order: (axis, stride, the slice of the other axes at this step)."""
    span = max((shape[a] for a in axes), default=1)
    top = 1
    while top < span:
        top *= 2
    out = []
    s = top // 2
    while s >= 1:
        for i, axis in enumerate(axes):
            if shape[axis] <= s:
                continue
            sl = [slice(None)] * len(shape)
            for j, other in enumerate(axes):
                if other != axis:
                    sl[other] = slice(0, None, s if j < i else 2 * s)
            out.append((axis, s, tuple(sl)))
        s //= 2
    return out


def interp_steps(shape: tuple[int, ...], axes: Sequence[int]) -> np.ndarray:
    """The steps of :func:`_steps` as rows ``axis, s, inc0, inc1, inc2`` (each axis's stride at the step;
    the predicted axis is visited at ``s, 3s, …``) for the compiled pass (:mod:`bale.grid.kernels`)."""
    rows = []
    for axis, s, sl in _steps(shape, axes):
        incs = [2 * s if d == axis else (sl[d].step or 1) for d in range(len(shape))]
        rows.append([axis, s, *incs])
    return np.array(rows, dtype=np.int64).reshape(-1, 2 + len(shape))


def _anchor_slice(shape: tuple[int, ...], axes: Sequence[int]) -> tuple[slice, ...]:
    sl = [slice(None)] * len(shape)
    for a in axes:
        sl[a] = slice(0, 1)
    return tuple(sl)


def _predict(view: np.ndarray, axis: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction of the points at odd multiples of ``s`` along ``axis`` of ``view`` from the even ones,
    and the local variation ``|c − b|`` (float64, IEEE operations only)."""
    n = view.shape[axis]
    t = np.arange(s, n, 2 * s)
    left = np.take(view, t - s, axis=axis)
    has_right = t + s < n
    right = np.take(view, np.where(has_right, t + s, t - s), axis=axis)
    shape = [1] * view.ndim
    shape[axis] = len(t)
    pred = np.where(has_right.reshape(shape), (left + right) * 0.5, left)
    cubic = (t - 3 * s >= 0) & (t + 3 * s < n)
    if cubic.any():
        ll = np.take(view, np.where(cubic, t - 3 * s, t - s), axis=axis)
        rr = np.take(view, np.where(cubic, t + 3 * s, t - s), axis=axis)
        pred = np.where(cubic.reshape(shape), ((left + right) * 9.0 - (ll + rr)) * 0.0625, pred)
    return pred, np.abs(right - left)


def _target(axis: int, s: int, ndim: int) -> tuple[slice, ...]:
    sl = [slice(None)] * ndim
    sl[axis] = slice(s, None, 2 * s)
    return tuple(sl)


_MAX_Q = float(2**50)


def _quantize(v: np.ndarray, pred: np.ndarray, step: float, skip: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (v - pred) / step
    ok = ~skip & np.isfinite(scaled) & (np.abs(scaled) < _MAX_Q)
    return np.rint(np.where(ok, scaled, 0.0)).astype(np.int64)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, 0.0)


def interp_encode(
    v: np.ndarray, skip: np.ndarray, axes: Sequence[int], step: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-loop interpolation of the float64 block ``v``: quantized errors (flattened, in coding order),
    their contexts, and the reconstruction. ``skip``: values stored apart (coded as ``q = 0``)."""
    axes = list(axes)
    others = [a for a in range(v.ndim) if a not in axes]
    rec = np.zeros(v.shape)
    anchor = _anchor_slice(v.shape, axes)
    ka = _quantize(v[anchor], np.zeros(v[anchor].shape), step, skip[anchor])
    rec[anchor] = ka * step
    parts = [lorenzo_encode(ka, others).ravel()]
    contexts = [np.full(ka.size, len(INTERP_THRESHOLDS) + 1, dtype=np.int64)]
    for axis, s, sl in _steps(v.shape, axes):
        view = rec[sl]  # a view: writing its targets fills rec
        target = _target(axis, s, v.ndim)
        pred, spread = _predict(view, axis, s)
        pred = _finite(pred)
        q = _quantize(v[sl][target], pred, step, skip[sl][target])
        with np.errstate(over="ignore"):
            view[target] = _finite(pred + q * step)
        parts.append(q.ravel())
        with np.errstate(invalid="ignore"):
            contexts.append(np.searchsorted(INTERP_THRESHOLDS, _finite(spread / step), side="right").ravel())
    return np.concatenate(parts), np.concatenate(contexts).astype(np.int64), rec


def interp_decode(
    streams: list[np.ndarray],
    cursor: np.ndarray,
    shape: tuple[int, ...],
    axes: Sequence[int],
    step: float,
    lut: np.ndarray | None = None,
) -> np.ndarray:
    """The reconstruction of one block from per-context streams (``cursor`` updated, ``lut`` as for
    :func:`lorenzo_context_decode`); raises ValueError if corrupt."""
    axes = list(axes)
    others = [a for a in range(len(shape)) if a not in axes]
    lut = identity_lut(len(streams)) if lut is None else lut
    rec = np.zeros(shape)

    def take(contexts: np.ndarray) -> np.ndarray:
        contexts = lut[np.minimum(contexts.ravel(), len(lut) - 1)]
        out = np.empty(contexts.size, dtype=np.int64)
        for c in np.unique(contexts).tolist():
            mask = contexts == c
            m = int(mask.sum())
            if cursor[c] + m > len(streams[c]):
                raise ValueError("a context stream ran out")
            out[mask] = streams[c][cursor[c] : cursor[c] + m]
            cursor[c] += m
        return out

    anchor = _anchor_slice(shape, axes)
    ashape = rec[anchor].shape
    ka = lorenzo_decode(take(np.full(ashape, len(INTERP_THRESHOLDS) + 1)).reshape(ashape), others)
    rec[anchor] = ka * step
    for axis, s, sl in _steps(shape, axes):
        view = rec[sl]
        target = _target(axis, s, len(shape))
        pred, spread = _predict(view, axis, s)
        pred = _finite(pred)
        with np.errstate(invalid="ignore"):
            contexts = np.searchsorted(INTERP_THRESHOLDS, _finite(spread / step), side="right")
        q = take(contexts).reshape(pred.shape)
        with np.errstate(over="ignore"):
            view[target] = _finite(pred + q * step)
    return rec
