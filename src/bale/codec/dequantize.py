"""Compiled (numba, ``nogil``) passes of :func:`bale.codec.lossy.decode_lossy`, one over the values each.

Decoding a lossy column was a dozen NumPy passes and temporaries (masks per class, the
prediction made finite, signs, casts); here it is three passes over the chunk: the census
of the value classes, the dequantization ``q * step + prediction`` into the bound's domain,
and the final pass that applies the sign, rounds to the column's dtype, clips, and puts the
zeros and raw values in their places. Between the last two, ``exp`` (relative bounds) stays
NumPy's: the values must be the very bits the encoder's :func:`bale.codec.lossy._reconstruct`
produced, so every floating-point operation here is the same operation, in the same order,
as there (no ``fastmath``: no contraction into fused multiply-adds).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["census", "dequantize", "finish"]

REGULAR, FLIPPED, PLUS_ZERO, MINUS_ZERO, RAW = 0, 1, 2, 3, 4
# the classes as the stream decoder gives them (uint64): comparing a uint64 with a Python int
# would go through float64 in numba
_REGULAR, _FLIPPED, _PLUS_ZERO, _MINUS_ZERO, _RAW = (np.uint64(c) for c in range(5))


@numba.njit(nogil=True, cache=True)
def census(cls: np.ndarray) -> np.ndarray:
    """How many values of each class 0..4, and (last entry) how many of no known class."""
    # counted in registers: a counter in memory, added to at every value, waits on its own store
    regular = flipped = plus = minus = raw = other = 0
    for i in range(cls.shape[0]):
        c = cls[i]
        if c == _REGULAR:
            regular += 1
        elif c == _FLIPPED:
            flipped += 1
        elif c == _PLUS_ZERO:
            plus += 1
        elif c == _MINUS_ZERO:
            minus += 1
        elif c == _RAW:
            raw += 1
        else:
            other += 1
    return np.array([regular, flipped, plus, minus, raw, other], dtype=np.int64)


@numba.njit(nogil=True, cache=True)
def dequantize(
    cls: np.ndarray, symbols: np.ndarray, pred: np.ndarray, has_pred: bool, delta: bool, step: float, out: np.ndarray
) -> None:
    """``out[i] = float(q) * step + p`` for each regular value, in the order of the symbols.

    ``p`` is the prediction where it is finite, else 0 (and 0 without a prediction); with
    ``delta`` the symbols are successive differences of ``q`` (wrapping int64 sums, as
    ``np.cumsum``). Other values get 0 (their ``exp`` is never used).
    """
    n = cls.shape[0]
    if symbols.shape[0] == n and not delta:  # every value regular: no class to look at (the common case)
        if has_pred:
            for i in range(n):
                p = pred[i]
                out[i] = np.float64(symbols[i]) * step + (p if np.isfinite(p) else 0.0)
        else:
            for i in range(n):
                out[i] = np.float64(symbols[i]) * step + 0.0
        return
    j = 0
    acc = np.int64(0)
    for i in range(n):
        if cls[i] <= _FLIPPED:
            q = symbols[j]
            j += 1
            p = 0.0
            if delta:
                acc += q
                q = acc
            elif has_pred:
                p = pred[i]
                if not np.isfinite(p):
                    p = 0.0
            out[i] = np.float64(q) * step + p
        else:
            out[i] = 0.0


@numba.njit(nogil=True, cache=True)
def finish(
    cls: np.ndarray,
    domain: np.ndarray,
    sign: np.ndarray,
    has_sign: bool,
    rel: bool,
    lo: float,
    hi: float,
    has_clip: bool,
    raw_bits: np.ndarray,
    out: np.ndarray,
    out_bits: np.ndarray,
    all_regular: bool,
) -> None:
    """The column's values: regular ones signed (relative bounds), rounded to ``out``'s dtype and clipped;
    ±0; raw values copied as bits (``out_bits`` and ``raw_bits``: unsigned views of the same width).
    ``all_regular``: every value is regular or flipped (from :func:`census`)."""
    n = cls.shape[0]
    if all_regular:  # no zero, no raw value: one branch-free loop
        for i in range(n):
            v = domain[i]
            if rel:
                s = -1.0 if has_sign and sign[i] < 0 else 1.0
                v = v * (-s if cls[i] == _FLIPPED else s)
            out[i] = v
            if has_clip:
                x = out[i]
                out[i] = lo if x < lo else (hi if x > hi else x)
        return
    k = 0
    for i in range(n):
        c = cls[i]
        if c <= _FLIPPED:
            v = domain[i]
            if rel:
                s = -1.0 if has_sign and sign[i] < 0 else 1.0
                if c == _FLIPPED:
                    s = -s
                v = v * s
            out[i] = v
            if has_clip:
                x = out[i]
                if x < lo:
                    out[i] = lo
                elif x > hi:
                    out[i] = hi
        elif c == _PLUS_ZERO:
            out[i] = 0.0
        elif c == _MINUS_ZERO:
            out[i] = -0.0
        else:
            out_bits[i] = raw_bits[k]
            k += 1
