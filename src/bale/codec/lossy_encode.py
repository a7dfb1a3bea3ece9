"""The lossy encoder's per-value work in two compiled passes (float32 and float64 columns).

:func:`bale.codec.lossy.encode_lossy` used to make about twenty NumPy passes over a column
(classes, scaled residuals, rounding, signs, the reconstruction, the check of the bound,
the compaction of the symbols), each with its temporary. Here the same arithmetic runs in
two loops around the one NumPy call kept on purpose, ``np.exp``: the decoder reconstructs
with NumPy's ``exp``, and the encoder must reproduce the decoder's values bit for bit.
Every other operation is IEEE-exact (subtraction, division, ``rint``, a product, a cast),
so the compiled loops give the same bits as NumPy did; ``tests/test_codec.py`` compares the
two paths value by value. The loops release the GIL, so columns code in parallel threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["FUSED_DTYPES", "check_and_collect", "quantize"]

FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # float16: numba has no float16 arithmetic
_REGULAR, _FLIPPED, _PLUS_ZERO, _MINUS_ZERO, _RAW = 0, 1, 2, 3, 4  # as bale.codec.lossy


@numba.njit(nogil=True, cache=True)
def quantize(
    values: np.ndarray,
    domain: np.ndarray,
    pred: np.ndarray,
    pred_sign: np.ndarray,
    step: float,
    tiny: float,
    max_quant: float,
    delta: bool,
    relative: bool,
    cls: np.ndarray,
    q: np.ndarray,
    signs: np.ndarray,
    flipped: np.ndarray,
    pre: np.ndarray,
) -> None:
    """Classes, quantized residuals and signs; ``pre`` = ``q * step + base``, before ``exp``.

    ``cls`` gets ``_REGULAR`` for a value still to be checked against the bound, else its
    final class (a zero or ``_RAW``).
    """
    for i in range(len(values)):
        x = np.float64(values[i])
        c = _RAW
        if x == 0.0:
            c = _MINUS_ZERO if math.copysign(1.0, x) < 0 else _PLUS_ZERO
        p = pred[i]
        scaled = domain[i] / step if delta else (domain[i] - p) / step
        regular = math.isfinite(x) and x != 0.0 and abs(x) >= tiny and abs(scaled) < max_quant
        qi = np.int64(np.rint(scaled)) if regular else np.int64(0)
        sign = pred_sign[i]
        flip = False
        if relative and regular:
            flip = (1.0 if x > 0 else -1.0) != sign
            if flip:
                sign = -sign
        q[i] = qi
        signs[i] = sign
        flipped[i] = flip
        cls[i] = _REGULAR if regular else c
        base = 0.0 if delta else p
        pre[i] = np.float64(qi) * step + base


@numba.njit(nogil=True, cache=True)
def check_and_collect(
    values: np.ndarray,
    pre: np.ndarray,
    signs: np.ndarray,
    flipped: np.ndarray,
    q: np.ndarray,
    relative: bool,
    delta: bool,
    limit: float,
    cls: np.ndarray,
    decoded: np.ndarray,
    symbols: np.ndarray,
) -> tuple[int, bool]:
    """Reconstruct as the decoder will, keep the values within the bound, compact their symbols.

    Returns (symbols written, whether a reconstruction falls outside the range of the regular
    values, so that the caller clips).
    """
    k = 0
    previous = np.int64(0)
    lo = hi = values[0]  # len(values) > 0: the caller codes an empty column without this
    dmin = dmax = decoded[0]
    any_regular = False
    for i in range(len(values)):
        v = pre[i]
        if relative:
            v = v * np.float64(signs[i])
        decoded[i] = v
        x = np.float64(values[i])
        if cls[i] == _REGULAR:
            err = abs(np.float64(decoded[i]) - x)
            if err <= (limit * abs(x) if relative else limit):
                cls[i] = _FLIPPED if flipped[i] else _REGULAR
                symbols[k] = q[i] - previous if delta else q[i]
                previous = q[i]
                k += 1
                if not any_regular:
                    lo = hi = values[i]
                    dmin = dmax = decoded[i]
                    any_regular = True
                else:
                    lo = min(lo, values[i])
                    hi = max(hi, values[i])
                    dmin = min(dmin, decoded[i])
                    dmax = max(dmax, decoded[i])
                continue
            cls[i] = _RAW
        decoded[i] = values[i]
    return k, any_regular and (dmin < lo or dmax > hi)
