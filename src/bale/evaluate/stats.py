"""Is the compression error below the statistical uncertainty? KS and χ² against split-half baselines.

A physicist does not ask whether the decompressed distribution is identical to the
original (it never is), but whether it differs by more than the data's own statistical
fluctuation. That fluctuation is measured on the data itself: the same two tests between
two random halves of the original.

The flag rule (documented in ``docs/evaluate.md``):

* KS: ``D(original, decompressed)`` is compared with the median over
  :data:`SPLITS` seeded random splits of ``D(half A, half B)``, scaled by ``1/√2`` to the
  distance two independent samples of the full size would show (the KS distance falls as
  ``sqrt(1/n₁ + 1/n₂)``).
* χ²: the two-sample χ²/ndf of histograms in :data:`BINS` quantile bins of the original,
  compared with the median split-half χ²/ndf (about 1; it does not scale with the size).
* A column is flagged when either statistic of the compression exceeds its baseline:
  compression then moves the distribution by more than a statistically independent
  sample of the same size would. The flag's ``cause`` is ``levels`` when the column's
  values sat exactly on a few levels (a discrete column, or one value holding at least
  the KS distance's share of the rows: a default such as −1, a fraction of exactly 1)
  which now spread within the bound, and ``shape`` otherwise.

Original and decompressed values are paired (the same rows), so the usual p-values
(which assume independent samples) do not apply and are not reported.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from bale.evaluate.results import Distribution

__all__ = ["BINS", "SPLITS", "chi2_per_ndf", "compare_distributions", "ks_distance", "quantile_edges"]

log = logging.getLogger(__name__)

BINS = 50  # quantile bins of the χ² test: each holds about 2 % of the original
SPLITS = 5  # random splits of the original whose median is the statistical baseline


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov–Smirnov distance: the largest gap between the two empirical CDFs (exact, ties too)."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    a = np.sort(a)
    b = np.sort(b)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def quantile_edges(values: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Bin edges holding equal shares of ``values``; a discrete column gets one bin per value.

    Equal-population bins make every bin count in the χ², tails included, without
    choosing a range by hand. Edges lie halfway between two distinct values of the column.
    """
    unique = np.unique(values)
    if unique.size <= bins:
        if unique.size == 1:
            return np.array([unique[0] - 0.5, unique[0] + 0.5])
        mids = (unique[1:] + unique[:-1]) / 2
        return np.concatenate([[unique[0] - (mids[0] - unique[0])], mids, [unique[-1] + (unique[-1] - mids[-1])]])
    cuts = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    # an edge between two distinct values, never on one: values repeated many times (rounded
    # floats, defaults) would otherwise migrate across the edge with the smallest error
    above = np.minimum(np.searchsorted(unique, cuts, side="right"), unique.size - 1)
    inner = np.unique((unique[above - 1] + unique[above]) / 2)
    return np.concatenate([[unique[0] - 0.5 * (unique[1] - unique[0])], inner, [np.nextafter(unique[-1], np.inf)]])


def chi2_per_ndf(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> tuple[float, int]:
    """Two-sample χ² of unweighted histograms (totals may differ), divided by its degrees of freedom.

    ``χ² = Σ (n_i·√(M/N) − m_i·√(N/M))² / (n_i + m_i)`` over non-empty bins; ndf = bins − 1.
    Values outside ``edges`` go to the first and last bin, so that nothing is lost.
    """
    if a.size == 0 or b.size == 0 or edges.size < 3:
        return float("nan"), 0
    inner = edges[1:-1]
    n = np.bincount(np.searchsorted(inner, a, side="right"), minlength=edges.size - 1).astype(np.float64)
    m = np.bincount(np.searchsorted(inner, b, side="right"), minlength=edges.size - 1).astype(np.float64)
    total_n, total_m = n.sum(), m.sum()
    used = (n + m) > 0
    ndf = int(used.sum()) - 1
    if ndf <= 0:
        return float("nan"), 0
    scaled = n[used] * math.sqrt(total_m / total_n) - m[used] * math.sqrt(total_n / total_m)
    chi2 = np.sum(scaled**2 / (n + m)[used])
    return float(chi2 / ndf), ndf


def _cause(flagged: bool, discrete: bool, top_level: float, ks: float) -> str | None:
    """Why a column is flagged: ``levels`` when values that sat exactly on a few levels (a discrete
    column, a default like −1, a fraction of exactly 1) now spread within the bound around them,
    which alone explains the KS distance; ``shape`` otherwise.
    """
    if not flagged:
        return None
    return "levels" if discrete or top_level >= ks else "shape"


def compare_distributions(
    original: np.ndarray, decoded: np.ndarray, rng: np.random.Generator, splits: int = SPLITS
) -> Distribution:
    """KS and χ² of original against decompressed beside their split-half baselines, and the flag.

    Only rows where both values are finite take part (NaN and inf are compared bit for
    bit by the bound check). The caller passes a seeded subsample for large tables.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.asarray(original).astype(np.float64)
        y = np.asarray(decoded).astype(np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 4:
        nan = float("nan")
        return {
            "n": int(x.size),
            "ks": nan,
            "ks_split": nan,
            "chi2_ndf": nan,
            "chi2_split": nan,
            "ndf": 0,
            "flag": False,
        }
    edges = quantile_edges(x)
    ks = 0.0 if np.array_equal(x, y) else ks_distance(x, y)
    chi2, ndf = chi2_per_ndf(x, y, edges) if ks else (0.0, max(edges.size - 2, 0))
    ks_halves: list[float] = []
    chi2_halves: list[float] = []
    for _ in range(splits):
        order = rng.permutation(x.size)
        half_a, half_b = x[order[: x.size // 2]], x[order[x.size // 2 :]]
        ks_halves.append(ks_distance(half_a, half_b))
        chi2_halves.append(chi2_per_ndf(half_a, half_b, edges)[0])
    ks_split = float(np.median(ks_halves)) / math.sqrt(2)  # two independent samples of the full size
    _, counts = np.unique(x, return_counts=True)
    top_level = float(counts.max() / x.size)
    chi2_split = float(np.nanmedian(chi2_halves)) if np.isfinite(chi2_halves).any() else float("nan")
    flag_ks = ks > ks_split
    flag_chi2 = bool(np.isfinite(chi2) and np.isfinite(chi2_split) and chi2 > chi2_split)
    return {
        "n": int(x.size),
        "ks": ks,
        "ks_split": ks_split,
        "ks_ratio": ks / ks_split if ks_split > 0 else float("nan"),
        "chi2_ndf": chi2,
        "chi2_split": chi2_split,
        "ndf": ndf,
        "flag_ks": bool(flag_ks),
        "flag_chi2": flag_chi2,
        "flag": bool(flag_ks or flag_chi2),
        "discrete": bool(counts.size <= BINS),
        "top_level_fraction": top_level,
        "cause": _cause(flag_ks or flag_chi2, counts.size <= BINS, top_level, ks),
    }
