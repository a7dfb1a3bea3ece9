"""Checking a decoded table against the original: errors reached and bound violations, per column."""

from __future__ import annotations

import numpy as np

from bale.bench.results import ColumnCheck, ErrorSummary
from bale.bounds import Bound, violations

__all__ = ["column_check", "summarize"]


def column_check(original: np.ndarray, decoded: np.ndarray | None, bound: Bound) -> ColumnCheck:
    """Max, mean and median relative error (over finite non-zero values), max absolute error, violations.

    A missing column, another shape or another dtype counts every value as a violation.
    """
    if decoded is None or decoded.shape != original.shape or decoded.dtype != original.dtype:
        problem = "missing" if decoded is None else f"came back as {decoded.dtype}{list(decoded.shape)}"
        return {
            "bound": str(bound),
            "max_rel_err": float("inf"),
            "mean_rel_err": float("inf"),
            "median_rel_err": float("inf"),
            "max_abs_err": float("inf"),
            "violations": int(original.size),
            "problem": problem,
        }
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x = original.astype(np.float64)
        y = decoded.astype(np.float64)
        finite = np.isfinite(x)
        diff = np.abs(y[finite] - x[finite])
        diff[~np.isfinite(diff)] = np.inf  # a finite value that came back NaN or inf
        nonzero = x[finite] != 0
        rel = diff[nonzero] / np.abs(x[finite][nonzero])
    return {
        "bound": str(bound),
        "max_rel_err": float(rel.max()) if rel.size else 0.0,
        "mean_rel_err": float(rel.mean()) if rel.size else 0.0,
        "median_rel_err": float(np.median(rel)) if rel.size else 0.0,
        "max_abs_err": float(diff.max()) if diff.size else 0.0,
        "violations": int(violations(original, decoded, bound).sum()),
    }


def _normalized(check: ColumnCheck, bound: Bound) -> float:
    """The error reached over the bound's own measure: ≤ 1 when the bound holds on finite values."""
    if bound.mode == "rel":
        return float(check["max_rel_err"]) / bound.value
    if bound.mode == "abs":
        return float(check["max_abs_err"]) / bound.value
    return 0.0 if check["violations"] == 0 else float("inf")


def summarize(checks: dict[str, ColumnCheck], bounds: dict[str, Bound]) -> ErrorSummary:
    """Table-wide figures of the per-column checks."""
    lossy = [c for c, b in bounds.items() if b.mode != "exact"] or list(bounds)
    worst = max(lossy, key=lambda c: checks[c]["max_rel_err"])
    return {
        "violations": sum(int(c["violations"]) for c in checks.values()),
        "columns_violated": sorted(c for c, v in checks.items() if v["violations"]),
        "max_rel_err": max(float(c["max_rel_err"]) for c in checks.values()),
        "worst_column": worst,
        "mean_rel_err": float(np.mean([checks[c]["mean_rel_err"] for c in lossy])),
        "median_rel_err": max(float(checks[c]["median_rel_err"]) for c in lossy),
        "max_abs_err": max(float(checks[c]["max_abs_err"]) for c in lossy),
        "max_err_over_bound": max(_normalized(checks[c], bounds[c]) for c in bounds),
    }
