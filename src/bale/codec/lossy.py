"""Error-bounded coding of one float column around a prediction.

Every value falls in one class, coded per value:

- ``REGULAR``: finite, nonzero, normal; stored as a residual quantized to the bound
  around the prediction, in the *domain* where the bound is uniform: ``log|x|`` for a
  relative bound (with the sign relative to the predicted sign), ``x`` for an absolute one;
- ``FLIPPED``: as regular, but with the sign opposite to the predicted sign (relative mode);
- ``PLUS_ZERO`` / ``MINUS_ZERO``: exactly ±0;
- ``RAW``: stored bit-exact (NaN with payload, ±inf, denormals, and any value whose
  reconstruction would not meet the bound).

Reconstructed regular values are clipped to the range ``[lo, hi]`` of the chunk's regular
values when some would fall outside it (an optional fourth block holds ``lo, hi``):
a fraction stays ≤ 1, a sentinel minimum is never undershot, a positive mass under an
absolute bound never turns negative. Clipping only moves a value towards the truth, which
lies in that range, so the bound still holds.

The encoder reconstructs every value exactly as the decoder will and moves any value
that misses the bound to ``RAW``, so the bound holds by construction. The quantization
step is ``2 * B * (1 - MARGIN)`` and the check uses ``B * (1 - MARGIN / 2)``: a prediction
that differs by a few ulp on another machine shifts a value by that much and stays in
bound. Exact columns never pass through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bale.bounds import Bound
from bale.codec.context import ResidualContext, decode_in_context, encode_in_context
from bale.codec.uint_stream import STREAM_VERSION, decode_ints, decode_uints, encode_uints, zigzag
from bale.codec.varint import ByteReader, block
from bale.errors import BaleFormatError

__all__ = ["MARGIN", "Prediction", "decode_lossy", "domain_step", "encode_lossy", "to_domain"]

REGULAR, FLIPPED, PLUS_ZERO, MINUS_ZERO, RAW = 0, 1, 2, 3, 4
MARGIN = 0.01
_MAX_QUANT = float(2**50)


@dataclass
class Prediction:
    """A prediction in the bound's domain, and (relative mode) the predicted sign, +1 or -1."""

    value: np.ndarray | None = None  # float64, None for "predict zero"
    sign: np.ndarray | None = None  # int8 of ±1, None for "positive"
    delta: bool = False  # code differences of successive grid indices (no prediction)


def as_float64(values: np.ndarray) -> np.ndarray:
    """Widen to float64; a signalling NaN becomes quiet here (its bits are kept apart, as RAW)."""
    with np.errstate(invalid="ignore"):
        return values.astype(np.float64)


def domain_step(bound: Bound) -> float:
    half = np.log1p(bound.value) if bound.mode == "rel" else bound.value
    return float(2.0 * half * (1.0 - MARGIN))


def to_domain(values: np.ndarray, bound: Bound) -> np.ndarray:
    """The bound's domain: ``log|x|`` for relative bounds, ``x`` for absolute ones (float64)."""
    x = as_float64(values)
    if bound.mode == "rel":
        with np.errstate(divide="ignore", invalid="ignore"):
            logs: np.ndarray = np.log(np.abs(x))
            return logs
    return x


def _reconstruct(
    pred: np.ndarray, q: np.ndarray, step: float, signs: np.ndarray | None, bound: Bound, dtype: np.dtype
) -> np.ndarray:
    """The one formula both encoder and decoder use to turn residuals into values."""
    with np.errstate(over="ignore", invalid="ignore"):
        domain = q.astype(np.float64)  # in place from here: pred + q * step, exp, sign
        domain *= step
        domain += pred
        if bound.mode == "rel":
            np.exp(domain, out=domain)
            if signs is not None:
                domain *= signs
        return domain.astype(dtype, copy=False)


def _prediction_arrays(prediction: Prediction, n: int) -> tuple[np.ndarray, np.ndarray]:
    pred = np.zeros(n) if prediction.value is None else np.asarray(prediction.value, dtype=np.float64)
    pred = np.where(np.isfinite(pred), pred, 0.0)
    sign = np.ones(n, np.int8) if prediction.sign is None else np.where(prediction.sign < 0, -1, 1).astype(np.int8)
    return pred, sign


def encode_lossy(
    values: np.ndarray,
    bound: Bound,
    prediction: Prediction,
    context: ResidualContext | None = None,
    row_symbols: np.ndarray | None = None,
) -> tuple[bytes, np.ndarray]:
    """Code ``values`` within ``bound``; returns the bytes and the values the decoder will produce.

    ``context``: code the residuals with one histogram per bucket of earlier columns' integers.
    ``row_symbols`` (int64, one per row), when given, gets each row's quantized symbol (the grid
    index for delta coding; 0 where a value is not regular): a later column's context.
    """
    from bale.codec.lossy_encode import FUSED_DTYPES, check_and_collect, quantize  # numba, when first coding

    if values.dtype not in FUSED_DTYPES or not len(values):
        return encode_lossy_numpy(values, bound, prediction, context, row_symbols)
    dtype = values.dtype
    n = len(values)
    values = np.ascontiguousarray(values)
    pred, pred_sign = _prediction_arrays(prediction, n)
    relative = bound.mode == "rel"
    cls = np.empty(n, np.uint8)
    q = np.empty(n, np.int64)
    signs = np.empty(n, np.int8)
    flipped = np.empty(n, np.bool_)
    pre = np.empty(n, np.float64)
    quantize(values, to_domain(values, bound), pred, pred_sign, domain_step(bound), float(np.finfo(dtype).tiny),
             _MAX_QUANT, prediction.delta, relative, cls, q, signs, flipped, pre)  # fmt: skip
    if relative:
        with np.errstate(over="ignore", invalid="ignore"):
            np.exp(pre, out=pre)  # NumPy's exp, as the decoder's (_reconstruct)
    decoded = np.empty(n, dtype)
    symbols = np.empty(n, np.int64)
    limit = bound.value * (1.0 - MARGIN / 2)
    k, outside = check_and_collect(values, pre, signs, flipped, q, relative, prediction.delta, limit, cls,
                                   decoded, symbols)  # fmt: skip
    if row_symbols is not None:
        np.copyto(row_symbols, np.where(cls <= FLIPPED, q, 0))
    return _blocks(values, cls, symbols[:k], decoded, outside, context), decoded


def encode_lossy_numpy(
    values: np.ndarray,
    bound: Bound,
    prediction: Prediction,
    context: ResidualContext | None = None,
    row_symbols: np.ndarray | None = None,
) -> tuple[bytes, np.ndarray]:
    """:func:`encode_lossy` in NumPy passes: float16 columns, and the reference the fused path is tested against."""
    dtype = values.dtype
    n = len(values)
    x = as_float64(values)
    pred, pred_sign = _prediction_arrays(prediction, n)
    step = domain_step(bound)
    cls = np.full(n, RAW, dtype=np.uint8)
    zero = x == 0
    cls[zero & ~np.signbit(x)] = PLUS_ZERO
    cls[zero & np.signbit(x)] = MINUS_ZERO
    regular = np.isfinite(x) & ~zero & (np.abs(x) >= np.finfo(dtype).tiny)
    domain = to_domain(values, bound)
    with np.errstate(invalid="ignore", over="ignore"):
        if prediction.delta:
            scaled = domain / step
        else:
            scaled = (domain - pred) / step
    regular &= np.abs(scaled) < _MAX_QUANT
    q = np.rint(np.where(regular, scaled, 0.0)).astype(np.int64)
    signs = None
    if bound.mode == "rel":
        flipped = regular & (np.sign(x) != pred_sign)
        signs = np.where(flipped, -pred_sign, pred_sign).astype(np.int8)
    base = np.zeros(n) if prediction.delta else pred
    decoded = _reconstruct(base, q, step, signs, bound, dtype)
    limit = bound.value * (1.0 - MARGIN / 2)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(as_float64(decoded) - x)
        ok = err <= (limit * np.abs(x) if bound.mode == "rel" else limit)
    regular &= ok
    cls[regular] = REGULAR
    if bound.mode == "rel":
        cls[regular & flipped] = FLIPPED
    symbols = q[regular]
    if row_symbols is not None:
        np.copyto(row_symbols, np.where(regular, q, 0))
    if prediction.delta:
        symbols = np.diff(symbols, prepend=np.int64(0))
    decoded[~regular] = values[~regular]
    outside = False
    if regular.any():
        inside = decoded[regular]
        outside = bool((inside < values[regular].min()).any() or (inside > values[regular].max()).any())
    return _blocks(values, cls, symbols, decoded, outside, context), decoded


def _blocks(
    values: np.ndarray,
    cls: np.ndarray,
    symbols: np.ndarray,
    decoded: np.ndarray,
    clip: bool,
    context: ResidualContext | None = None,
) -> bytes:
    """The column's blocks: classes, symbols, raw values and, with ``clip``, the range of the regular
    values, to which ``decoded`` is clipped here as the decoder will."""
    if context is not None and context.values:
        coded = encode_in_context(symbols, context.of(cls <= FLIPPED), context.buckets)
    else:
        coded = encode_uints(zigzag(symbols))
    payload = block(encode_uints(cls)) + block(coded) + block(values[cls == RAW].tobytes())
    if clip:
        regular = cls <= FLIPPED
        lo, hi = values[regular].min(), values[regular].max()
        decoded[regular] = np.clip(decoded[regular], lo, hi)
        payload += block(np.array([lo, hi], dtype=values.dtype).tobytes())
    return payload


def _clip_range(raw: memoryview, dtype: np.dtype) -> tuple[np.generic, np.generic]:
    """The optional fourth block: the range reconstructed values are clipped to."""
    if len(raw) != 2 * dtype.itemsize:
        raise BaleFormatError("clip-range block has the wrong length")
    lo, hi = np.frombuffer(raw, dtype=dtype)
    if not lo <= hi:  # also refuses NaN
        raise BaleFormatError("clip-range block is not a range")
    return lo, hi


def decode_lossy(
    data: bytes | memoryview,
    n: int,
    dtype: np.dtype,
    bound: Bound,
    prediction: Prediction,
    version: int = STREAM_VERSION,
    context: ResidualContext | None = None,
    row_symbols: np.ndarray | None = None,
) -> np.ndarray:
    """Inverse of :func:`encode_lossy`; ``version`` is the container's format version.

    ``context`` and ``row_symbols`` as :func:`encode_lossy` was given them.

    The same values as :func:`_reconstruct` gives the encoder, bit for bit, in compiled
    passes (:mod:`bale.codec.dequantize`) with NumPy's ``exp`` between them.
    """
    from bale.codec.dequantize import census, dequantize, finish  # numba, imported when first decoding

    dtype = np.dtype(dtype)
    reader = ByteReader(data)
    cls = decode_uints(reader.block(), n, version)
    counts = census(cls)
    if counts[5]:
        raise BaleFormatError("unknown value class in lossy column")
    m = int(counts[REGULAR] + counts[FLIPPED])
    if context is not None and context.values:
        select = None if m == n else cls <= FLIPPED  # every value regular, most often: no mask to apply
        symbols = decode_in_context(reader.block(), m, context.values, version, select=select)
    else:
        symbols = decode_ints(reader.block(), m, version)
    if row_symbols is not None:
        rows = np.cumsum(symbols) if prediction.delta else symbols
        if m == n:
            row_symbols[:] = rows
        else:
            row_symbols[:] = 0
            row_symbols[cls <= FLIPPED] = rows
    raw = reader.block()
    if len(raw) != int(counts[RAW]) * dtype.itemsize:
        raise BaleFormatError("raw-value block has the wrong length")
    clip = _clip_range(reader.block(), dtype) if reader.remaining else None
    empty = np.empty(0)
    pred = empty if prediction.value is None or prediction.delta else np.ascontiguousarray(prediction.value, np.float64)
    sign = np.empty(0, np.int8) if prediction.sign is None else np.ascontiguousarray(prediction.sign)
    if len(pred) not in (0, n) or len(sign) not in (0, n):
        raise ValueError("prediction of the wrong length")
    domain = np.empty(n)
    dequantize(cls, symbols, pred, len(pred) > 0, prediction.delta, domain_step(bound), domain)
    if bound.mode == "rel":
        with np.errstate(over="ignore", invalid="ignore"):
            np.exp(domain, out=domain)
    if dtype not in _COMPILED:
        return _finish_numpy(cls, domain, sign, bound, clip, raw, dtype)
    out = np.empty(n, dtype=dtype)
    bits = f"u{dtype.itemsize}"
    lo, hi = (float(clip[0]), float(clip[1])) if clip is not None else (0.0, 0.0)
    raw_bits = np.frombuffer(raw, dtype=bits).copy()  # aligned, as the kernel's one signature wants
    rel = bound.mode == "rel"
    regular = int(counts[REGULAR] + counts[FLIPPED]) == n
    finish(cls, domain, sign, len(sign) > 0, rel, lo, hi, clip is not None, raw_bits, out, out.view(bits), regular)
    return out


_COMPILED = (np.dtype(np.float32), np.dtype(np.float64))


def _finish_numpy(
    cls: np.ndarray,
    domain: np.ndarray,
    sign: np.ndarray,
    bound: Bound,
    clip: tuple[np.generic, np.generic] | None,
    raw: memoryview,
    dtype: np.dtype,
) -> np.ndarray:
    """:func:`bale.codec.dequantize.finish` in NumPy, for float dtypes other than float32 and float64."""
    regular = cls <= FLIPPED
    values = domain[regular]
    if bound.mode == "rel":
        s = np.where(sign[regular] < 0, -1, 1) if len(sign) else np.ones(len(values), np.int64)
        values *= np.where(cls[regular] == FLIPPED, -s, s)
    out = np.empty(len(cls), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        inside = values.astype(dtype)
    out[regular] = inside if clip is None else np.clip(inside, *clip)
    out[cls == PLUS_ZERO] = 0.0
    out[cls == MINUS_ZERO] = -0.0
    out[cls == RAW] = np.frombuffer(raw, dtype=dtype)
    return out
