"""fpzip at the matching precision: per float column, the fewest bits that meet the bound, verified.

fpzip's precision ``P`` keeps the leading ``P`` bits of each value (sign, exponent, mantissa); ``P`` equal
to the width (32 or 64) is lossless. Per float32/float64 column with an ``abs`` or ``rel`` bound, the
smallest ``P`` (float64: even, as fpzip asks) whose output meets the bound on every finite value is found
by bisection and then checked (raised a step at a time if the check fails), inside the compress timing.
Values that still miss the bound (NaN or ±inf whose bits truncation changed) go to an exception list.
Exact, integer and float16 columns are stored with zstd-19. Each column is its own 1-D fpzip stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bale.bench.container import pack, unpack, zstd_decode, zstd_encode
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method
from bale.bounds import Bound, violations

__all__ = ["fpzip_roundtrip", "methods", "min_precision"]


def _encode(a: np.ndarray, precision: int) -> bytes:
    import fpzip

    data = np.array(a, copy=True)  # fpzip wants a writeable buffer
    return bytes(fpzip.compress(data, precision=0 if precision >= 8 * a.itemsize else precision))


def _decode(data: memoryview | bytes, dtype: np.dtype, n: int) -> np.ndarray:
    import fpzip

    return np.asarray(fpzip.decompress(bytes(data))).reshape(-1).astype(dtype, copy=False)[:n]


def fpzip_roundtrip(a: np.ndarray, precision: int) -> tuple[bytes, np.ndarray]:
    data = _encode(a, precision)
    return data, _decode(data, a.dtype, a.size)


def min_precision(a: np.ndarray, bound: Bound) -> int:
    """The fewest bits fpzip keeps for ``a`` to meet ``bound`` on every finite value."""
    width = 8 * a.itemsize
    candidates = list(range(2, 33)) if width == 32 else list(range(4, 65, 2))  # what fpzip accepts
    finite = np.isfinite(a)

    def ok(i: int) -> bool:
        return not violations(a[finite], fpzip_roundtrip(a, candidates[i])[1][finite], bound).any()

    lo, hi = 0, len(candidates) - 1  # ok(hi) holds: lossless
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    while lo < len(candidates) - 1 and not ok(lo):  # bisection assumes monotony: make sure
        lo += 1
    return candidates[lo]


def _lossy(a: np.ndarray, bound: Bound) -> bool:
    return a.dtype in (np.dtype(np.float32), np.dtype(np.float64)) and bound.mode != "exact"


def _compress(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    streams: list[bytes] = []
    modes = ""
    precision: dict[str, int] = {}
    exceptions = 0
    for name, a in columns.items():
        if not _lossy(a, bounds[name]) or a.size == 0:
            modes += "x"
            streams.append(zstd_encode(a))
            continue
        modes += "f"
        precision[name] = min_precision(a, bounds[name])
        main, y = fpzip_roundtrip(a, precision[name])
        index = np.flatnonzero(violations(a, y, bounds[name])).astype(np.uint64)
        exceptions += index.size
        streams += [main, zstd_encode(np.diff(index, prepend=np.uint64(0))), zstd_encode(a[index.astype(np.intp)])]
    blob = pack(columns, streams, {"m": modes})
    return Encoded(len(blob), blob, {"precision": precision, "exceptions": exceptions})


def _decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
    parsed = unpack(encoded.payload)
    streams = iter(parsed.streams)
    out: Columns = {}
    for (name, dtype), mode in zip(parsed.columns, parsed.meta["m"], strict=True):
        if mode == "x":
            out[name] = np.frombuffer(zstd_decode(next(streams)), dtype=dtype, count=parsed.rows)
            continue
        y = _decode(next(streams), dtype, parsed.rows).copy()
        index = np.cumsum(np.frombuffer(zstd_decode(next(streams)), np.uint64)).astype(np.intp)
        y[index] = np.frombuffer(zstd_decode(next(streams)), dtype=dtype)
        out[name] = y
    return out


def methods() -> list[Method]:
    return [
        Method(
            name="fpzip",
            family="fpzip",
            description="fpzip per column at the fewest precision bits that meet the bound (verified)",
            compress=_compress,
            decompress=_decompress,
            requires=("fpzip",),
        )
    ]
