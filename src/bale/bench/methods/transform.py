"""Error-bounded coding of float columns with an absolute-error codec (SZ3, ZFP), made to honour any bound.

A codec takes an array and an absolute tolerance. Per float column with an ``abs`` or ``rel`` bound:

* zeros, NaN and ±inf ("special" values, which must come back bit-exact) are set aside: a bit mask of
  their rows (packbits + zstd-19) and their values verbatim (zstd-19);
* ``domain="log"`` (``rel`` bounds only): the codec gets ``log|x|`` (computed in float64, handed over in
  the column's float type) with tolerance ``log1p(rel)·(1 − 1e-6)``, and the signs go in a bit mask;
  ``x·e^{±t}`` is within ``rel`` of ``x`` for ``t ≤ log1p(rel)``;
* ``domain="value"``: the codec gets the values with tolerance ``abs`` for an ``abs`` bound, and
  ``rel · min|x|`` (over the column's non-zero finite values) for a ``rel`` bound, the loosest absolute
  tolerance that implies it;
* the compressor decodes its own output and every value that still misses the bound (the codec's own
  slack, the cast back to float32, ``exp``) goes to an exception list: row indices (delta-coded) and
  values, zstd-19. So the output always meets the bound, and the exceptions are counted in the bytes.

Exact and integer columns are stored with zstd-19.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bale.bench.container import pack, unpack, zstd_decode, zstd_encode
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method
from bale.bounds import Bound, violations

__all__ = ["Codec", "decode_table", "encode_table", "transform_method"]


@dataclass(frozen=True)
class Codec:
    """An absolute-error codec of a 1-D float32/float64 array."""

    name: str
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[memoryview, np.dtype, int], np.ndarray]


def _codec_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)


def _reconstruct(decoded: np.ndarray, neg: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    if neg is None:
        return decoded.astype(dtype)
    with np.errstate(over="ignore"):
        v = np.exp(decoded.astype(np.float64))
    v[neg] = -v[neg]
    return v.astype(dtype)


def _mode(a: np.ndarray, bound: Bound, domain: str) -> str:
    if a.dtype.kind != "f" or bound.mode == "exact":
        return "x"
    return "l" if domain == "log" and bound.mode == "rel" else "v"


def encode_table(columns: Columns, bounds: Bounds, codec: Codec, domain: str) -> tuple[bytes, dict[str, Any]]:
    streams: list[bytes] = []
    modes = ""
    exceptions: dict[str, int] = {}
    for name, a in columns.items():
        bound = bounds[name]
        mode = _mode(a, bound, domain)
        modes += mode
        if mode == "x":
            streams.append(zstd_encode(a))
            continue
        special = ~np.isfinite(a) | (a == 0)
        reg = a[~special]
        cdt = _codec_dtype(a.dtype)
        neg: np.ndarray | None = None
        if mode == "l":
            neg = reg < 0
            values = np.log(np.abs(reg.astype(np.float64)))
            tol = math.log1p(bound.value) * (1 - 1e-6)
        else:
            values = reg
            tol = bound.value if bound.mode == "abs" else bound.value * float(np.min(np.abs(reg))) if reg.size else 0.0
        main = codec.encode(np.ascontiguousarray(values.astype(cdt)), tol) if reg.size else b""
        if reg.size:  # decode our own output: what still misses the bound becomes an exception
            y = _reconstruct(codec.decode(memoryview(main), cdt, reg.size), neg, a.dtype)
            bad = violations(reg, y, bound)
        else:
            bad = np.zeros(0, dtype=bool)
        index = np.flatnonzero(bad).astype(np.uint64)
        exceptions[name] = int(index.size)
        streams += [
            zstd_encode(np.packbits(special)),
            zstd_encode(a[special]),
            zstd_encode(np.packbits(neg)) if neg is not None else b"",
            main,
            zstd_encode(np.diff(index, prepend=np.uint64(0))),
            zstd_encode(reg[bad]),
        ]
    return pack(columns, streams, {"m": modes}), {
        "exceptions": sum(exceptions.values()),
        "exceptions_per_column": {k: v for k, v in exceptions.items() if v},
    }


def decode_table(blob: bytes, codec: Codec) -> Columns:
    parsed = unpack(blob)
    n = parsed.rows
    streams = iter(parsed.streams)
    out: Columns = {}
    for (name, dtype), mode in zip(parsed.columns, parsed.meta["m"], strict=True):
        if mode == "x":
            out[name] = np.frombuffer(zstd_decode(next(streams)), dtype=dtype, count=n)
            continue
        s_special, s_values, s_neg, s_main, s_index, s_exceptions = (next(streams) for _ in range(6))
        special = np.unpackbits(np.frombuffer(zstd_decode(s_special), np.uint8), count=n).astype(bool)
        m = n - int(special.sum())
        column = np.empty(n, dtype=dtype)
        column[special] = np.frombuffer(zstd_decode(s_values), dtype=dtype)
        if m:
            neg = (
                np.unpackbits(np.frombuffer(zstd_decode(s_neg), np.uint8), count=m).astype(bool)
                if mode == "l"
                else None
            )
            y = _reconstruct(codec.decode(s_main, _codec_dtype(dtype), m), neg, dtype)
            index = np.cumsum(np.frombuffer(zstd_decode(s_index), np.uint64)).astype(np.intp)
            y[index] = np.frombuffer(zstd_decode(s_exceptions), dtype=dtype)
            column[~special] = y
        out[name] = column
    return out


def _has_rel(columns: Columns, bounds: Bounds) -> str | None:
    if any(b.mode == "rel" and columns[k].dtype.kind == "f" for k, b in bounds.items()):
        return None
    return "no float column has a rel bound: the log transform is for rel bounds (see the value-domain row)"


def transform_method(
    name: str, family: str, codec: Codec, domain: str, description: str, requires: tuple[str, ...]
) -> Method:
    def compress(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
        blob, info = encode_table(columns, bounds, codec, domain)
        return Encoded(len(blob), blob, info)

    def decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
        return decode_table(encoded.payload, codec)

    return Method(
        name=name,
        family=family,
        description=description,
        compress=compress,
        decompress=decompress,
        requires=requires,
        applies=_has_rel if domain == "log" else None,
    )
