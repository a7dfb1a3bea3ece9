"""Compiled (numba) forward pass of one conditional head, for decoding speed.

The arithmetic is the fixed-point arithmetic of :class:`bale.models.conditional.ConditionalNetwork`:
integer-valued float64 products and sums far below 2**53, scaled by powers of two and
floored, so the result is exact and equals the NumPy/BLAS path bit for bit (tested in
``tests/test_determinism.py``). No transcendental function is evaluated here: those stay
in NumPy, so both paths see the same features.

Rows are processed in blocks of ``_BLOCK`` with the row index innermost, so every loop
runs over contiguous memory and vectorizes; the hidden activations of a block stay in L1.
Each pass over a block adds four inputs' products (in their order), so a block's
accumulators are loaded and stored a quarter as often as with one input per pass.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["add_head", "head_forward", "standardize"]

_BLOCK = 256


@numba.njit(nogil=True, cache=True, inline="always")
def _requantize(acc: np.ndarray, scale: float, clip: float) -> None:
    for r in range(acc.shape[0]):
        acc[r] = min(max(np.floor(acc[r] * scale), 0.0), clip)


@numba.njit(nogil=True, cache=True, inline="always", fastmath={"contract"})
def _add_products(
    acc: np.ndarray, rows: np.ndarray, index: np.ndarray, start: int, stop: int, weights: np.ndarray
) -> None:
    """``acc += rows[index[j], start:stop] * weights[j]`` for each j in order, four rows per pass over ``acc``.

    The sums keep their order, one row after the other, so the result is the one-row-per-pass
    result bit for bit whatever the magnitudes; a product of a weight and an input is exact, so
    fusing it with the add (``contract``) rounds exactly as the separate add did.
    """
    m = acc.shape[0]
    count = index.shape[0]
    j = 0
    # slices indexed from 0: numba's negative-index handling would otherwise keep LLVM from vectorizing
    while j + 4 <= count:
        x0, x1 = rows[index[j], start:stop], rows[index[j + 1], start:stop]
        x2, x3 = rows[index[j + 2], start:stop], rows[index[j + 3], start:stop]
        a0, a1, a2, a3 = weights[j], weights[j + 1], weights[j + 2], weights[j + 3]
        for r in range(m):
            acc[r] = (((acc[r] + x0[r] * a0) + x1[r] * a1) + x2[r] * a2) + x3[r] * a3
        j += 4
    while j < count:
        x0 = rows[index[j], start:stop]
        a0 = weights[j]
        for r in range(m):
            acc[r] = acc[r] + x0[r] * a0
        j += 1


@numba.njit(nogil=True, cache=True, inline="always")
def _add_clipped(acc: np.ndarray, values: np.ndarray, clip: float) -> None:
    for r in range(acc.shape[0]):
        acc[r] = min(acc[r] + values[r], clip)


@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def head_forward(
    features: np.ndarray,  # (columns, n): fixed-point features, integer-valued float64
    columns: np.ndarray,  # indices of the feature rows this head sees
    latent: np.ndarray,  # (latent_dim, n): fixed-point latents
    w1_features: np.ndarray,  # (hidden, len(columns))
    w1_latent: np.ndarray,  # (hidden, latent_dim)
    b1: np.ndarray,
    scale1: float,
    w2: np.ndarray,  # (hidden, hidden): w2[out, in]
    b2: np.ndarray,
    scale2: float,
    w3: np.ndarray,  # (hidden,)
    clip: float,
    skip: bool,  # residual connection: the second layer adds to the first's activations
    out: np.ndarray,  # (n,): the head's output before its bias, an exact integer
) -> None:
    n = out.shape[0]
    hidden = b1.shape[0]
    h1 = np.empty((hidden, _BLOCK))
    h2 = np.empty((hidden, _BLOCK))
    every_latent = np.arange(latent.shape[0])
    every_hidden = np.arange(hidden)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        m = stop - start
        for u in range(hidden):
            acc = h1[u, :m]
            acc[:] = b1[u]
            _add_products(acc, features, columns, start, stop, w1_features[u])
            _add_products(acc, latent, every_latent, start, stop, w1_latent[u])
            _requantize(acc, scale1, clip)
        for u in range(hidden):
            acc = h2[u, :m]
            acc[:] = b2[u]
            _add_products(acc, h1, every_hidden, 0, m, w2[u])
            _requantize(acc, scale2, clip)
            if skip:  # same fixed-point scale on both sides: the sum is exact
                _add_clipped(acc, h1[u, :m], clip)
        result = out[start:stop]
        result[:] = 0.0
        _add_products(result, h2, every_hidden, 0, m, w3)


@numba.njit(nogil=True, cache=True)
def standardize(values: np.ndarray, mean: float, std: float, clip: float, scale: float) -> None:
    """In place: ``rint(clip((x - mean) / std, ±clip) * scale)``, 0 where ``(x - mean) / std`` is not finite.

    The operations of the NumPy passes it replaces, in their order (``scale`` is a power of two).
    """
    for i in range(values.shape[0]):
        v = (values[i] - mean) / std
        if not np.isfinite(v):
            v = 0.0
        v = min(max(v, -clip), clip)
        values[i] = np.rint(v * scale)


@numba.njit(nogil=True, cache=True)
def add_head(
    out: np.ndarray,
    bias: float,
    scale: float,
    standardized: np.ndarray,
    last: bool,
    ensemble: int,
    std: float,
    mean: float,
    result: np.ndarray,
) -> None:
    """A head's output into the standardized prediction: ``standardized += (out + bias) * scale``
    (``scale`` a power of two, as ``ldexp``); after the ``last`` head of an ensemble, ``result =
    standardized / ensemble * std + mean`` (no division for one head). The NumPy passes it replaces,
    their operations in their order, one rounding each (no ``contract`` here: ``* std + mean`` is
    not exact).
    """
    for i in range(out.shape[0]):
        s = standardized[i] + (out[i] + bias) * scale
        if last:
            if ensemble > 1:
                s = s / ensemble
            result[i] = s * std + mean
        else:
            standardized[i] = s
