"""pcodec (PyPI ``pcodec``, the Pco format): lossless, and after BitRound, at its best compression level.

``pcodec``           every column through pcodec's standalone format (``simple_compress``) at compression
                     level :data:`LEVEL` (12, the highest pcodec accepts), mode and delta chosen by pcodec
                     (``ModeSpec.auto()``, ``DeltaSpec.auto()``). Lossless: one run serves every bound.
``bitround-pcodec``  per float column with an ``abs`` or ``rel`` bound, numcodecs BitRound to the fewest
                     keepbits that meet the bound on every value (:func:`bale.bench.methods.bitround.min_keepbits`,
                     inside the compress timing; NaN and ±inf put back verbatim), then pcodec at level 12. The
                     rounded floats have their ``m − keepbits`` low mantissa bits zero (m = 10, 23, 52 for
                     float16/32/64): pcodec's FloatQuant mode stores the remaining bits without them.
                     Both ``ModeSpec.try_float_quant(m − keepbits)`` and ``ModeSpec.auto()`` are tried, and
                     the smaller stream is kept (the mode is recorded per column in ``info``).

Columns pcodec does not take (bool) go through zstd-19; 8-bit integers through whichever of pcodec
(``enable_8_bit``) and zstd-19 is smaller. Each column is its own standalone pcodec stream in the blob of
:mod:`bale.bench.container` (JSON header, length-prefixed streams: every byte counted). Decoding reads only
the blob. pcodec is single-threaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bale.bench.container import pack, unpack, zstd_decode, zstd_encode
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method
from bale.bench.methods.bitround import MANTISSA_BITS, bitround, min_keepbits

__all__ = ["LEVEL", "methods", "pcodec_decode", "pcodec_encode"]

LEVEL = 12  # pcodec's highest compression level ("compression level may not exceed 12")

_PCO_KINDS = "iuf"  # bool and anything else: zstd-19


def pcodec_encode(a: np.ndarray, level: int = LEVEL, float_quant: int | None = None) -> bytes:
    """``a`` (1-D, native byte order) as one standalone pcodec stream; ``float_quant``: FloatQuant's shift."""
    from pcodec import ChunkConfig, ModeSpec, standalone

    mode = ModeSpec.auto() if float_quant is None else ModeSpec.try_float_quant(float_quant)
    config = ChunkConfig(compression_level=level, mode_spec=mode, enable_8_bit=a.dtype.itemsize == 1)
    return bytes(standalone.simple_compress(np.ascontiguousarray(a), config))


def pcodec_decode(data: memoryview | bytes, dtype: np.dtype, n: int) -> np.ndarray:
    from pcodec import standalone

    out = np.empty(n, dtype=dtype)
    if n:
        standalone.simple_decompress_into(bytes(data), out)
    return out


def _native(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder == ">" else a


def _encode_column(a: np.ndarray, float_quant: int | None = None) -> tuple[str, bytes, str]:
    """The smallest stream for one column: (container mode, bytes, pcodec mode tried that won)."""
    a = _native(a)
    if a.dtype.kind not in _PCO_KINDS or a.size == 0:
        return "z", zstd_encode(a), "zstd-19"
    candidates = {"auto": pcodec_encode(a)}
    if float_quant:
        candidates[f"float_quant({float_quant})"] = pcodec_encode(a, float_quant=float_quant)
    name = min(candidates, key=lambda k: len(candidates[k]))
    best = ("p", candidates[name], name)
    if a.dtype.itemsize == 1:  # pcodec warns that 8-bit types often do better elsewhere
        z = zstd_encode(a)
        if len(z) < len(best[1]):
            return "z", z, "zstd-19"
    return best


def _blob(columns: Columns, float_quant: dict[str, int]) -> tuple[bytes, dict[str, str]]:
    modes, streams, chosen = "", [], {}
    for name, a in columns.items():
        mode, data, how = _encode_column(a, float_quant.get(name))
        modes += mode
        streams.append(data)
        chosen[name] = how
    return pack(columns, streams, {"m": modes}), chosen


def _decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
    parsed = unpack(encoded.payload)
    out: Columns = {}
    for (name, dtype), mode, stream in zip(parsed.columns, parsed.meta["m"], parsed.streams, strict=True):
        native = dtype.newbyteorder("=")
        if mode == "p":
            column = pcodec_decode(stream, native, parsed.rows)
        else:
            column = np.frombuffer(zstd_decode(stream), dtype=native, count=parsed.rows)
        out[name] = column.astype(dtype, copy=False)
    return out


def _compress_lossless(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    blob, chosen = _blob(columns, {})
    return Encoded(len(blob), blob, {"modes": chosen})


def _compress_bitround(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    keepbits: dict[str, int] = {}
    shifts: dict[str, int] = {}
    rounded: Columns = {}
    for name, a in columns.items():
        a = _native(a)
        if a.dtype.kind == "f" and bounds[name].mode != "exact" and a.dtype.itemsize in MANTISSA_BITS:
            keepbits[name] = min_keepbits(a, bounds[name])
            rounded[name] = bitround(a, keepbits[name])
            shifts[name] = MANTISSA_BITS[a.dtype.itemsize] - keepbits[name]
        else:
            rounded[name] = a
    blob, chosen = _blob(rounded, shifts)
    return Encoded(len(blob), blob, {"keepbits": keepbits, "modes": {k: chosen[k] for k in keepbits}})


def methods() -> list[Method]:
    return [
        Method(
            name="pcodec",
            family="lossless",
            description=f"every column through pcodec (Pco, level {LEVEL}, mode and delta auto), losslessly",
            compress=_compress_lossless,
            decompress=_decompress,
            requires=("pcodec",),
            bound_independent=True,
            lossless=True,
        ),
        Method(
            name="bitround-pcodec",
            family="bitround",
            description=(
                "numcodecs BitRound, fewest keepbits meeting the bound per column, then pcodec "
                f"(level {LEVEL}; FloatQuant on the zeroed mantissa bits or auto mode, the smaller)"
            ),
            compress=_compress_bitround,
            decompress=_decompress,
            requires=("numcodecs", "pcodec"),
        ),
    ]
