"""Mantissa rounding, as CMS NanoAOD does: numcodecs BitRound to the fewest bits that meet the bound.

Per float column with an ``abs`` or ``rel`` bound, the keepbits are searched from 0 up (inside the
compress timing) and the first that meets the bound on every value of the column is kept (checked with
:func:`bale.bounds.violations`; the full mantissa is the identity, so a bound is always met). NaN and
±inf are put back verbatim after rounding (rounding a NaN's payload could turn it into inf). The rounded
columns then go through a lossless backend: zstd-19 or blosc2 shuffle/bitshuffle + zstd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method
from bale.bench.methods.lossless import BACKENDS, Backend, decode_columns, encode_columns
from bale.bounds import Bound, violations

__all__ = ["MANTISSA_BITS", "bitround", "methods", "min_keepbits"]

MANTISSA_BITS = {2: 10, 4: 23, 8: 52}


def bitround(a: np.ndarray, keepbits: int) -> np.ndarray:
    from numcodecs import BitRound

    if keepbits >= MANTISSA_BITS[a.dtype.itemsize]:
        return a
    rounded = np.asarray(BitRound(keepbits).encode(a)).view(a.dtype).reshape(a.shape)
    special = ~np.isfinite(a)
    if special.any():
        rounded = rounded.copy()
        rounded[special] = a[special]
    return rounded


def min_keepbits(a: np.ndarray, bound: Bound) -> int:
    """Fewest keepbits meeting ``bound`` on every value of ``a``."""
    maxbits = MANTISSA_BITS[a.dtype.itemsize]
    for k in range(maxbits):
        if not violations(a, bitround(a, k), bound).any():
            return k
    return maxbits


def _method(backend: Backend) -> Method:
    def compress(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
        keepbits: dict[str, int] = {}
        rounded: Columns = {}
        for name, a in columns.items():
            if a.dtype.kind == "f" and bounds[name].mode != "exact" and a.dtype.itemsize in MANTISSA_BITS:
                keepbits[name] = min_keepbits(a, bounds[name])
                rounded[name] = bitround(a, keepbits[name])
            else:
                rounded[name] = a
        blob = encode_columns(rounded, backend)
        return Encoded(len(blob), blob, {"keepbits": keepbits})

    def decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
        return decode_columns(encoded.payload, backend)

    return Method(
        name=f"bitround-{backend.name}",
        family="bitround",
        description=f"numcodecs BitRound, fewest keepbits meeting the bound per column, then {backend.name}",
        compress=compress,
        decompress=decompress,
        requires=("numcodecs", *backend.requires),
    )


def methods() -> list[Method]:
    return [_method(BACKENDS[n]) for n in ("zstd-19", "blosc2-shuffle-zstd", "blosc2-bitshuffle-zstd")]
