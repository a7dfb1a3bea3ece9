"""ZFP (zfpy) in fixed-accuracy mode, made error-bounded per value by :mod:`bale.bench.methods.transform`.

``zfp-abs``  accuracy mode on the values: tolerance ``abs`` (``rel`` bounds: ``rel · min|x|``).
``zfp-log``  accuracy mode on ``log|x|`` with tolerance ``log1p(rel)·(1 − 1e-6)`` (pointwise relative).

Each column is its own 1-D zfp stream (with its header); zfpy is serial.
"""

from __future__ import annotations

import numpy as np

from bale.bench.methods.base import Method
from bale.bench.methods.transform import Codec, transform_method

__all__ = ["methods", "zfp_codec"]


def zfp_codec() -> Codec:
    def encode(values: np.ndarray, tol: float) -> bytes:
        import zfpy

        return bytes(zfpy.compress_numpy(values, tolerance=tol, write_header=True))

    def decode(data: memoryview, dtype: np.dtype, n: int) -> np.ndarray:
        import zfpy

        return np.asarray(zfpy.decompress_numpy(bytes(data))).reshape(-1).astype(dtype, copy=False)

    return Codec("zfp-accuracy", encode, decode)


def methods() -> list[Method]:
    return [
        transform_method(
            "zfp-abs",
            "zfp",
            zfp_codec(),
            "value",
            "zfp accuracy mode on the values (rel bound: tolerance rel*min|x|), exceptions listed",
            ("zfpy",),
        ),
        transform_method(
            "zfp-log",
            "zfp",
            zfp_codec(),
            "log",
            "zfp accuracy mode on log|x| (pointwise rel), exceptions listed",
            ("zfpy",),
        ),
    ]
