"""Estimates of coded size, used to choose a predictor per column without encoding."""

from __future__ import annotations

import numpy as np

from bale.bounds import Bound
from bale.codec.lossy import Prediction, domain_step, to_domain
from bale.codec.uint_stream import tokenize, zigzag

__all__ = ["binary_entropy", "estimated_bits", "estimated_cost"]


def estimated_bits(symbols: np.ndarray) -> float:
    """Bits per value that :func:`bale.codec.uint_stream.encode_uints` spends on ``zigzag(symbols)``."""
    if len(symbols) == 0:
        return 0.0
    tokens, _, widths = tokenize(zigzag(symbols.astype(np.int64)))
    counts = np.bincount(tokens).astype(np.float64)
    p = counts[counts > 0] / len(tokens)
    return float(-(p * np.log2(p)).sum() + widths.mean())


def binary_entropy(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def estimated_cost(values: np.ndarray, bound: Bound, prediction: Prediction) -> float:
    """Estimated bits per value of coding ``values`` around ``prediction``.

    Zeros cost their share of the class stream; NaN, inf and values the prediction
    cannot serve (non-finite prediction) are charged at their raw size, so a prediction
    that fails often loses.
    """
    n = len(values)
    if n == 0:
        return 0.0
    raw_bits = 8.0 * values.dtype.itemsize
    domain = to_domain(values, bound)
    pred = np.zeros(n) if prediction.value is None else prediction.value
    zero = values == 0
    regular = np.isfinite(domain) & ~zero
    ok = regular & np.isfinite(pred)
    share = float(ok.mean())
    classes = np.array([share, float(zero.mean()), 1.0 - share - float(zero.mean())])
    classes = classes[classes > 0]
    class_bits = float(-(classes * np.log2(classes)).sum())
    if share == 0.0:
        return class_bits + (1.0 - float(zero.mean())) * raw_bits
    with np.errstate(all="ignore"):
        scaled = domain[ok] / domain_step(bound) if prediction.delta else (domain[ok] - pred[ok]) / domain_step(bound)
    if np.abs(scaled).max(initial=0) > 2**50:
        return raw_bits
    q = np.rint(scaled).astype(np.int64)
    if prediction.delta:
        q = np.diff(q, prepend=np.int64(0))
    bits = estimated_bits(q)
    if bound.mode == "rel":
        sign = np.ones(int(ok.sum())) if prediction.sign is None else prediction.sign[ok]
        bits += binary_entropy(float(np.mean(np.sign(values[ok]) != sign)))
    return bits * share + class_bits + (1.0 - share - float(zero.mean())) * raw_bits
