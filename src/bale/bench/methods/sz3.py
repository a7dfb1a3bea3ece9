"""SZ3 (pysz), made error-bounded per value by :mod:`bale.bench.methods.transform`.

``sz3-abs``        SZ3's ABS mode on the values (``rel`` bounds: tolerance ``rel · min|x|``).
``sz3-log``        pointwise relative through a log transform: ABS mode on ``log|x|`` (``rel`` columns;
                   ``abs`` columns as in ``sz3-abs``), SZ3's default algorithm.
``sz3-log-nopred`` the same with SZ3's NOPRED algorithm: no prediction across rows, which on the rows
                   of an unordered table is SZ3's smallest setting.

Each column is its own 1-D SZ3 stream. SZ3's OpenMP is left off (single-threaded).
"""

from __future__ import annotations

import numpy as np

from bale.bench.methods.base import Method
from bale.bench.methods.transform import Codec, transform_method

__all__ = ["methods", "sz3_codec"]


def sz3_codec(algorithm: str | None) -> Codec:
    def encode(values: np.ndarray, tol: float) -> bytes:
        from pysz import sz, szAlgorithm, szConfig, szErrorBoundMode

        cfg = szConfig(values.shape)
        cfg.errorBoundMode = szErrorBoundMode.ABS
        cfg.absErrorBound = tol
        if algorithm is not None:
            cfg.cmprAlgo = getattr(szAlgorithm, algorithm)
        compressed, _ = sz.compress(values, cfg)
        return bytes(compressed.tobytes())

    def decode(data: memoryview, dtype: np.dtype, n: int) -> np.ndarray:
        from pysz import sz

        out, _ = sz.decompress(np.frombuffer(data, dtype=np.uint8), dtype, (n,))
        return np.asarray(out).reshape(-1)

    return Codec(f"sz3-{algorithm or 'default'}", encode, decode)


def methods() -> list[Method]:
    return [
        transform_method(
            "sz3-abs",
            "sz3",
            sz3_codec(None),
            "value",
            "SZ3 ABS mode on the values (rel bound: tolerance rel*min|x|), exceptions listed",
            ("pysz",),
        ),
        transform_method(
            "sz3-log",
            "sz3",
            sz3_codec(None),
            "log",
            "SZ3 ABS mode on log|x| (pointwise rel), default algorithm, exceptions listed",
            ("pysz",),
        ),
        transform_method(
            "sz3-log-nopred",
            "sz3",
            sz3_codec("NOPRED"),
            "log",
            "SZ3 ABS mode on log|x| (pointwise rel), NOPRED algorithm, exceptions listed",
            ("pysz",),
        ),
    ]
