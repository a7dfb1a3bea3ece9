"""Per-column error statistics: residuals, responses, the largest error against the bound, correlations.

A bound is a promise about every single value, so the bound check (violations and the
largest error divided by the bound) runs on every value, however large the table. The
aggregate numbers answer a different question, the physicist's: a bias (the mean of the
residuals) adds up over millions of events while a single large error does not, and the
RMS is what smears a distribution. The correlation matrices show whether compressing
each column within its own bound kept the relations between columns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from bale.bounds import Bound, violations
from bale.evaluate.results import BoundCheck, ColumnResult, Correlation, ErrorStats, ValueRange

__all__ = [
    "bound_check",
    "column_metrics",
    "correlation_difference",
    "error_stats",
    "residuals",
    "responses",
    "value_range",
]

log = logging.getLogger(__name__)


def _as_float(values: np.ndarray) -> np.ndarray:
    """Values as float64, so that differences of float32 or integer columns are not rounded or wrapped."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(values).astype(np.float64)


def residuals(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """``x' - x`` where both are finite: NaN and ±inf are checked bit for bit by the bound, not averaged."""
    x, y = _as_float(original), _as_float(decoded)
    keep = np.isfinite(x) & np.isfinite(y)
    out: np.ndarray = y[keep] - x[keep]
    return out


def responses(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """``(x' - x) / x`` where both are finite and ``x != 0`` (zeros come back exact, their response is undefined)."""
    x, y = _as_float(original), _as_float(decoded)
    keep = np.isfinite(x) & np.isfinite(y) & (x != 0)
    out: np.ndarray = (y[keep] - x[keep]) / x[keep]
    return out


def error_stats(values: np.ndarray) -> ErrorStats:
    """Mean, RMS, standard deviation and largest magnitude; NaN (written as null) when there are no values."""
    n = int(values.size)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "rms": float("nan"), "std": float("nan"), "max_abs": float("nan")}
    return {
        "n": n,
        "mean": float(np.mean(values)),
        "rms": float(np.sqrt(np.mean(np.square(values)))),
        "std": float(np.std(values)),
        "max_abs": float(np.max(np.abs(values))),
    }


def bound_check(original: np.ndarray, decoded: np.ndarray, bound: Bound | None) -> BoundCheck:
    """Violations of ``bound`` and the largest error divided by the bound, over every value.

    ``max_error_over_bound`` is the largest ``|x'-x| / (b |x|)`` for a ``rel=b`` bound and
    ``|x'-x| / b`` for ``abs=b``: at most 1 when the bound holds, and how much headroom is
    left otherwise. An exact column has 0 when it is bit-exact and no ratio (NaN) when not.
    Without a known bound (two plain files compared) only the errors are reported.
    """
    if bound is None:
        return {"bound": None, "violations": None, "max_error_over_bound": float("nan"), "pass": None}
    bad = int(np.count_nonzero(violations(np.asarray(original), np.asarray(decoded), bound)))
    if bound.mode == "exact":
        ratio = 0.0 if bad == 0 else float("nan")
    else:
        values = responses(original, decoded) if bound.mode == "rel" else residuals(original, decoded)
        ratio = float(np.max(np.abs(values)) / bound.value) if values.size else 0.0
    return {"bound": str(bound), "violations": bad, "max_error_over_bound": ratio, "pass": bad == 0}


EDGE_MIN_VALUES = 10  # values on the minimum or maximum that make it an edge ...
EDGE_MIN_SHARE = 0.01  # ... or this share of the column, in a small one


def _is_edge(count: int, size: int) -> bool:
    """Whether ``count`` values sitting exactly on the extreme make it a hard edge, not a chance duplicate."""
    return count >= EDGE_MIN_VALUES or (count >= 2 and count >= EDGE_MIN_SHARE * size)


def value_range(original: np.ndarray, decoded: np.ndarray) -> ValueRange:
    """Both sides' finite minimum and maximum, and decoded values beyond the original's range.

    ``outside`` counts every decoded value beyond the original's [min, max]; the extremes
    themselves may move by their bound, so a few are expected. ``beyond_edge`` counts only
    those beyond an *edge*: a minimum or maximum that at least 10 original values (or 1 %
    of a small column, two at least) sit on exactly, like jets whose leading constituent
    carries a fraction of exactly 1. A value within its bound can still cross such a physical edge (1 → 1.0004), and an
    analysis cutting there sees it.
    """
    x = original[np.isfinite(original)]
    y = decoded[np.isfinite(decoded)]
    if x.size == 0 or y.size == 0:
        nan = float("nan")
        return {"original": [nan, nan], "decompressed": [nan, nan], "outside": 0, "beyond_edge": 0, "edges": []}
    lo, hi = float(x.min()), float(x.max())
    edges = [edge for edge in (lo, hi) if _is_edge(int(np.count_nonzero(x == edge)), x.size)]
    below, above = y < lo, y > hi
    beyond = int(np.count_nonzero(below)) * (lo in edges) + int(np.count_nonzero(above)) * (hi in edges)
    return {
        "original": [lo, hi],
        "decompressed": [float(y.min()), float(y.max())],
        "outside": int(np.count_nonzero(below | above)),
        "beyond_edge": int(beyond),
        "edges": edges,
    }


def column_metrics(original: np.ndarray, decoded: np.ndarray, bound: Bound | None) -> ColumnResult:
    """Everything about one column's errors that needs every value: bound check, residual and response statistics."""
    x = np.asarray(original)
    y = np.asarray(decoded)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    with np.errstate(invalid="ignore"):
        fx, fy = _as_float(x), _as_float(y)
    nonfinite_moved = int(np.count_nonzero(np.isfinite(fx) != np.isfinite(fy)))
    check = bound_check(x, y, bound)
    return {
        "dtype": str(x.dtype),
        "rows": int(x.size),
        "bound": check["bound"],
        "violations": check["violations"],
        "max_error_over_bound": check["max_error_over_bound"],
        "pass": check["pass"],
        "nonfinite_changed": nonfinite_moved,
        "range": value_range(fx, fy),
        "residual": error_stats(residuals(x, y)),
        "response": error_stats(responses(x, y)),
    }


def correlation_difference(
    original: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    names: Sequence[str],
    rows: np.ndarray | None = None,
) -> Correlation:
    """Pearson correlation matrices of both tables and their difference, on rows where every column is finite.

    Columns that are constant (no correlation is defined) are left out. ``rows`` restricts
    the computation to a (seeded) subsample of a large table.
    """
    picked: list[str] = []
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for name in names:
        x = _as_float(original[name])
        y = _as_float(decoded[name])
        if rows is not None:
            x, y = x[rows], y[rows]
        xs.append(x)
        ys.append(y)
        picked.append(name)
    if len(picked) < 2:
        return {"columns": picked, "rows": 0, "max_abs_diff": float("nan"), "diff": []}
    X = np.stack(xs, axis=1)
    Y = np.stack(ys, axis=1)
    finite = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
    X, Y = X[finite], Y[finite]
    varying = (np.ptp(X, axis=0) > 0) & (np.ptp(Y, axis=0) > 0) if len(X) > 1 else np.zeros(len(picked), bool)
    picked = [n for n, keep in zip(picked, varying, strict=True) if keep]
    if len(picked) < 2:
        return {"columns": picked, "rows": len(X), "max_abs_diff": float("nan"), "diff": []}
    corr_x = np.corrcoef(X[:, varying], rowvar=False)
    corr_y = np.corrcoef(Y[:, varying], rowvar=False)
    diff = corr_y - corr_x
    i, j = np.unravel_index(int(np.argmax(np.abs(diff))), diff.shape)
    return {
        "columns": picked,
        "rows": len(X),
        "max_abs_diff": float(np.abs(diff).max()),
        "largest": [picked[i], picked[j]],
        "original": corr_x.tolist(),
        "diff": diff.tolist(),
    }
