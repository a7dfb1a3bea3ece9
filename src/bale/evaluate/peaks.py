"""Fitting a mass peak: a Gaussian to its core, the decompressed peak in the original's window and bins."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from bale.evaluate.results import PeakFit

__all__ = ["FIT_MIN_ENTRIES", "fit_peak"]

log = logging.getLogger(__name__)

FIT_MIN_ENTRIES = 50


def _gauss(x: np.ndarray, amplitude: float, mean: float, sigma: float) -> np.ndarray:
    return amplitude * np.exp(-0.5 * ((x - mean) / sigma) ** 2)


def fit_peak(
    values: np.ndarray,
    *,
    window: Sequence[float] | None = None,
    edges: np.ndarray | None = None,
    start: PeakFit | None = None,
) -> PeakFit | None:
    """A Gaussian fitted to the core of a peak; ``None`` for too few entries or a failed fit.

    Without a window: a histogram of ``2·√n`` bins (20 to 100) between the 1st and 99th percentiles, the
    mode of its 3-bin smoothed counts, a first width from the half-maximum crossing, and a
    fit in ``mode ± 1.5·width``, then once more in ``mean ± 1.5·sigma`` of that fit (a
    core fit: resolution tails and a Breit–Wigner's wings stay out). Errors are the
    fit's (Poisson weights). With ``window`` and ``edges`` (those of the original's fit) and
    ``start`` (its result) the fit is made once, in the same window, from the same
    starting point, so that a shift comes from the data and not from another local minimum.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < FIT_MIN_ENTRIES:
        return None
    if edges is None:
        lo, hi = np.quantile(x, [0.01, 0.99])
        if not hi > lo:
            return None
        edges = np.linspace(lo, hi, int(np.clip(2 * np.sqrt(x.size), 20, 100)) + 1)
    counts, _ = np.histogram(x, edges)
    centers = (edges[1:] + edges[:-1]) / 2
    width = edges[1] - edges[0]
    if window is None:
        smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
        top = int(np.argmax(smooth))
        half = smooth[top] / 2
        left = top - int(np.argmax(smooth[top::-1] < half)) if (smooth[: top + 1] < half).any() else 0
        right = top + int(np.argmax(smooth[top:] < half)) if (smooth[top:] < half).any() else len(smooth) - 1
        guess_sigma = max((right - left) * width / 2.355, width)
        window = (centers[top] - 1.5 * guess_sigma, centers[top] + 1.5 * guess_sigma)
        initial = (float(smooth[top]), float(centers[top]), float(guess_sigma))
        refine = True
    else:
        inside = (centers >= window[0]) & (centers <= window[1])
        if start is not None:
            initial = (float(start["amplitude"]), float(start["mean"]), float(start["sigma"]))
        else:
            height = float(counts[inside].max()) if inside.any() else 1.0
            initial = (height, float(np.mean(window)), float(np.ptp(window) / 3))
        refine = False
    passes = 2 if refine else 1
    for attempt in range(passes):
        inside = (centers >= window[0]) & (centers <= window[1])
        if np.count_nonzero(inside) < 4:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)  # an undetermined covariance gives inf errors
                params, cov = curve_fit(
                    _gauss,
                    centers[inside],
                    counts[inside],
                    p0=initial,
                    sigma=np.sqrt(np.maximum(counts[inside], 1.0)),
                    absolute_sigma=True,
                    maxfev=5000,
                )
        except (RuntimeError, ValueError) as exc:
            log.info("peak fit failed: %s", exc)
            return None
        errors = np.sqrt(np.abs(np.diag(cov)))
        initial = (float(params[0]), float(params[1]), float(abs(params[2])))
        if attempt < passes - 1:
            window = (initial[1] - 1.5 * initial[2], initial[1] + 1.5 * initial[2])
    residual = (counts[inside] - _gauss(centers[inside], *params)) / np.sqrt(np.maximum(counts[inside], 1.0))
    return {
        "mean": float(params[1]),
        "mean_error": float(errors[1]),
        "sigma": float(abs(params[2])),
        "sigma_error": float(errors[2]),
        "amplitude": float(params[0]),
        "chi2_ndf": float(np.sum(residual**2) / max(int(inside.sum()) - 3, 1)),
        "window": [float(window[0]), float(window[1])],
        "entries": int(x.size),
        "bin_width": float(width),
        "edges": edges,
    }
