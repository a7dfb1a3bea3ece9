"""Compiled (numba) forward pass of one conditional head, for decoding speed.

The arithmetic is the fixed-point arithmetic of :class:`bale.models.conditional.ConditionalNetwork`:
integer-valued float64 products and sums far below 2**53, scaled by powers of two and
floored, so the result is exact and equals the NumPy/BLAS path bit for bit (tested in
``tests/test_determinism.py``). No transcendental function is evaluated here: those stay
in NumPy, so both paths see the same features.

Rows are processed in blocks of ``_BLOCK`` with the row index innermost, so every loop
runs over contiguous memory and vectorizes; the hidden activations of a block stay in L1.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["head_forward"]

_BLOCK = 256


@numba.njit(nogil=True, cache=True, inline="always")
def _requantize(acc: np.ndarray, scale: float, clip: float) -> None:
    for r in range(acc.shape[0]):
        acc[r] = min(max(np.floor(acc[r] * scale), 0.0), clip)


@numba.njit(nogil=True, cache=True, inline="always")
def _multiply_add(acc: np.ndarray, values: np.ndarray, weight: float) -> None:
    # slices indexed from 0: numba's negative-index handling would otherwise keep LLVM from vectorizing
    for r in range(acc.shape[0]):
        acc[r] += values[r] * weight


@numba.njit(nogil=True, cache=True, inline="always")
def _add_clipped(acc: np.ndarray, values: np.ndarray, clip: float) -> None:
    for r in range(acc.shape[0]):
        acc[r] = min(acc[r] + values[r], clip)


@numba.njit(nogil=True, cache=True)
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
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        m = stop - start
        for u in range(hidden):
            acc = h1[u, :m]
            acc[:] = b1[u]
            for j in range(columns.shape[0]):
                _multiply_add(acc, features[columns[j], start:stop], w1_features[u, j])
            for j in range(latent.shape[0]):
                _multiply_add(acc, latent[j, start:stop], w1_latent[u, j])
            _requantize(acc, scale1, clip)
        for u in range(hidden):
            acc = h2[u, :m]
            acc[:] = b2[u]
            for i in range(hidden):
                _multiply_add(acc, h1[i, :m], w2[u, i])
            _requantize(acc, scale2, clip)
            if skip:  # same fixed-point scale on both sides: the sum is exact
                _add_clipped(acc, h1[u, :m], clip)
        result = out[start:stop]
        result[:] = 0.0
        for u in range(hidden):
            _multiply_add(result, h2[u, :m], w3[u])
