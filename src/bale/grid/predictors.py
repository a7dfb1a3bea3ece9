"""Classical predictors on the integer lattice of a quantized grid: Lorenzo and interpolation.

A grid coded at bound ``B`` is first mapped to integers ``k = rint(x / step)`` (the
*lattice*, ``step = 2·B·(1−m)``); every predictor here works on those integers and is
lossless on them, so the decoder rebuilds ``k`` bit for bit and the bound depends on the
quantization alone, never on a prediction. Because the decoder sees exactly the integers
the encoder saw, predicting from the original lattice values is the same as predicting
from reconstructed ones (the closed loop of SZ's Lorenzo predictor), and the encoder is
fully vectorized. All arithmetic is on int64: identical on every machine.

- ``lorenzo``: the 3-D (or N-D) Lorenzo predictor over the given axes, i.e. successive
  differences along each axis; decoding is a cumulative sum along each.
- ``interp``: SZ3's multilevel interpolation: points are predicted level by level (stride
  ``S/2, S/4, …, 1``), axis by axis, from the points already known, by cubic interpolation
  ``(−a + 9b + 9c − d)/16`` where four neighbours exist, linear ``(b + c)/2`` where two do,
  and the left neighbour at the far edge.

Both take ``axes``: the axes predicted along (the others are independent, e.g. frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["interp_decode", "interp_encode", "lorenzo_decode", "lorenzo_encode"]


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


def _anchor_slice(shape: tuple[int, ...], axes: Sequence[int]) -> tuple[slice, ...]:
    sl = [slice(None)] * len(shape)
    for a in axes:
        sl[a] = slice(0, 1)
    return tuple(sl)


def _predict(view: np.ndarray, axis: int, s: int) -> np.ndarray:
    """Prediction of the points at odd multiples of ``s`` along ``axis`` of ``view``, from the even ones."""
    n = view.shape[axis]
    t = np.arange(s, n, 2 * s)
    left = np.take(view, t - s, axis=axis)
    has_right = t + s < n
    right_idx = np.where(has_right, t + s, t - s)
    right = np.take(view, right_idx, axis=axis)
    cubic = (t - 3 * s >= 0) & (t + 3 * s < n)
    shape = [1] * view.ndim
    shape[axis] = len(t)
    pred = np.where(has_right.reshape(shape), (left + right) // 2, left)
    if cubic.any():
        ll = np.take(view, np.where(cubic, t - 3 * s, t - s), axis=axis)
        rr = np.take(view, np.where(cubic, t + 3 * s, t - s), axis=axis)
        pred = np.where(cubic.reshape(shape), (-ll + 9 * left + 9 * right - rr + 8) // 16, pred)
    return pred


def _target(axis: int, s: int, ndim: int) -> tuple[slice, ...]:
    sl = [slice(None)] * ndim
    sl[axis] = slice(s, None, 2 * s)
    return tuple(sl)


def interp_encode(k: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Interpolation residuals of ``k``, flattened: the anchors (Lorenzo over the other axes), then each step."""
    axes = list(axes)
    others = [a for a in range(k.ndim) if a not in axes]
    anchors = lorenzo_encode(k[_anchor_slice(k.shape, axes)], others)
    parts = [anchors.ravel()]
    for axis, s, sl in _steps(k.shape, axes):
        view = k[sl]
        parts.append((view[_target(axis, s, k.ndim)] - _predict(view, axis, s)).ravel())
    return np.concatenate(parts)


def interp_decode(r: np.ndarray, shape: tuple[int, ...], axes: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`interp_encode`."""
    axes = list(axes)
    others = [a for a in range(len(shape)) if a not in axes]
    k = np.zeros(shape, dtype=np.int64)
    anchor = _anchor_slice(shape, axes)
    n = k[anchor].size
    k[anchor] = lorenzo_decode(r[:n].reshape(k[anchor].shape), others)
    pos = n
    for axis, s, sl in _steps(shape, axes):
        view = k[sl]  # a view: writing its targets fills k
        target = _target(axis, s, len(shape))
        m = view[target].size
        view[target] = _predict(view, axis, s) + r[pos : pos + m].reshape(view[target].shape)
        pos += m
    if pos != r.size:
        raise ValueError("interpolation residuals do not match the grid's shape")
    return k
