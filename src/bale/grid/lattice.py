"""The quantization lattice of a grid, and the conv model's tiles on it.

``step = 2·B·(1 − m)`` (``m = 0.01``, as for tables: :mod:`bale.codec.lossy`); the domain is the
value itself for an absolute bound, ``log|x|`` with the sign apart for a pointwise relative
one. :func:`to_values` is the one formula encoder and decoder share from reconstructed domain
values to values; :func:`misses` is the encoder's check against ``B·(1 − m/2)``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bale.bounds import Bound
from bale.codec.lossy import MARGIN

__all__ = [
    "MAX_QUANT",
    "GridPredictor",
    "conv_lattice",
    "domain",
    "misses",
    "step_of",
    "tiles_of",
    "to_values",
    "untile",
]

MAX_QUANT = float(2**50)


class GridPredictor(Protocol):
    """A learned predictor of 2-D tiles from per-tile latents (the ``conv`` model family)."""

    tile: int
    latent_dim: int

    def encode_tiles(self, tiles: np.ndarray) -> np.ndarray: ...  # (n, T, T) float -> (n, L) int latents

    def decode_tiles(self, latents: np.ndarray) -> np.ndarray: ...  # (n, L) int -> (n, T, T) float64, exact


def step_of(bound: Bound) -> float:
    half = np.log1p(bound.value) if bound.mode == "rel" else bound.value
    return float(2.0 * half * (1.0 - MARGIN))


def to_values(rec: np.ndarray, negative: np.ndarray | None, bound: Bound, dtype: np.dtype) -> np.ndarray:
    """The one formula encoder and decoder share: reconstructed domain values to values."""
    with np.errstate(over="ignore", invalid="ignore"):
        if bound.mode == "rel":
            v = np.exp(rec)
            if negative is not None:
                v[negative] = -v[negative]
        else:
            v = rec
        out: np.ndarray = v.astype(dtype)
        return out


def domain(x: np.ndarray, bound: Bound) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Domain values (float64), the mask of values always stored raw, and the negative mask (relative)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        v = x.astype(np.float64)
        special = ~np.isfinite(v)
        if bound.mode == "rel":
            special |= (v == 0) | (np.abs(v) < np.finfo(x.dtype).tiny)
            negative = np.signbit(v) & ~special
            v = np.log(np.abs(v))
        else:
            special |= (v == 0) & np.signbit(v)  # -0.0 comes back bit-exact, as raw
            negative = np.zeros(v.shape, dtype=bool)
    v[special] = 0.0
    return v, special, negative


def misses(x: np.ndarray, decoded: np.ndarray, bound: Bound) -> np.ndarray:
    """Where the decoder's value would miss ``B·(1 − m/2)`` (NaN counts as a miss), or a zero not come back ±0."""
    limit = bound.value * (1.0 - MARGIN / 2)
    with np.errstate(invalid="ignore", over="ignore"):
        xv = x.astype(np.float64, copy=False)
        dv = decoded.astype(np.float64, copy=False)
        err = np.abs(dv - xv)
        bad = ~(err <= (limit * np.abs(xv) if bound.mode == "rel" else limit))
        bad |= (xv == 0) & ((dv != 0) | (np.signbit(dv) != np.signbit(xv)))
        return bad


def tiles_of(values: np.ndarray, tile: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(frames·th·tw, T, T) tiles of a (frames, h, w) block, edge-padded to whole tiles."""
    f, h, w = values.shape
    th, tw = -(-h // tile), -(-w // tile)
    padded = np.pad(values, ((0, 0), (0, th * tile - h), (0, tw * tile - w)), mode="edge")
    tiles = padded.reshape(f, th, tile, tw, tile).transpose(0, 1, 3, 2, 4).reshape(-1, tile, tile)
    return tiles, (f, th, tw)


def untile(tiles: np.ndarray, layout: tuple[int, int, int], tile: int, h: int, w: int) -> np.ndarray:
    f, th, tw = layout
    full = tiles.reshape(f, th, tw, tile, tile).transpose(0, 1, 3, 2, 4).reshape(f, th * tile, tw * tile)
    return full[:, :h, :w]


def conv_lattice(prediction: np.ndarray, step: float) -> np.ndarray:
    """A float prediction put on the lattice (abs bounds only); rint of exact values: reproducible."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = prediction / step
    scaled = np.where(np.isfinite(scaled) & (np.abs(scaled) < MAX_QUANT), scaled, 0.0)
    return np.rint(scaled).astype(np.int64)
