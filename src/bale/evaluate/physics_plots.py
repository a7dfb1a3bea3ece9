"""The physics figures of the report: relative mass difference, pair masses, response versus pt.

Drawn like the other figures (:mod:`bale.evaluate.plots`: mplhep style, no pyplot state) from what
:mod:`bale.evaluate.physics` measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bale.evaluate.plots import (
    DECOMPRESSED,
    ORIGINAL,
    finite_values,
    fmt,
    hist_edges,
    new_figure,
    overlay,
    power_of_ten,
)

__all__ = ["mass_difference_figure", "pair_mass_figure", "response_vs_pt_figure"]


def mass_difference_figure(label: str, rel: np.ndarray, stats: Mapping[str, Any]) -> Any:
    """The relative mass difference of each object, central 99 % shown, with its mean and spread."""
    import mplhep

    fig = new_figure(6.5, 4.2, {"left": 0.12, "right": 0.97, "bottom": 0.13, "top": 0.91})
    ax = fig.add_subplot()
    values = rel[np.isfinite(rel)]
    if values.size:
        lo, hi = np.quantile(values, [0.005, 0.995])
        reach = max(abs(lo), abs(hi), 1e-12)
        power = power_of_ten(reach)
        values = values / 10.0**power
        edges = np.linspace(-1.05 * reach, 1.05 * reach, 61) / 10.0**power
        counts, _ = np.histogram(values, edges)
        mplhep.histplot(counts, edges, ax=ax, color=DECOMPRESSED, histtype="fill", alpha=0.45)
        mplhep.histplot(counts, edges, ax=ax, color=DECOMPRESSED)
        outside = int(np.count_nonzero((values < edges[0]) | (values > edges[-1])))
        nonzero = counts[counts > 0]
        if nonzero.size and nonzero.max() / max(np.median(nonzero), 1) > 30:  # long tails: show them
            ax.set_yscale("log")
            ax.set_ylim(0.5, counts.max() * 20)
        else:
            ax.set_ylim(0, max(counts.max(), 1) * 1.5)
    else:
        outside, power = 0, 0
    text = (
        f"mean {fmt(stats['mean'])}\nspread (68 %) {fmt(stats['spread68'])}\nRMS {fmt(stats['rms'])}"
        f"\n{_plural(label)} {stats['n']}" + (f"\noutside plot {outside}" if outside else "")
    )
    if stats.get("unphysical"):
        text += f"\nm'$^2$ < 0: {stats['unphysical']}"
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=8, family="monospace")
    ax.set_xlabel("(m' − m) / m" + (f"  [×10$^{{{power}}}$]" if power else ""))
    ax.set_ylabel(_plural(label))
    ax.set_title(f"{label}: mass {stats['source']}", fontsize=10, loc="left")
    return fig


def pair_mass_figure(label: str, masses: Mapping[str, np.ndarray], result: Mapping[str, Any]) -> Any:
    """The pair's invariant mass before and after, their ratio, and the fitted Gaussian cores."""
    fig = new_figure(7.5, 5.2, {})
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1], left=0.11, right=0.97, bottom=0.1, top=0.93, hspace=0.05)
    ax = fig.add_subplot(grid[0])
    rax = fig.add_subplot(grid[1], sharex=ax)
    m0 = finite_values(masses["original"])
    m1 = finite_values(masses["decompressed"])
    if m0.size == 0:
        ax.text(0.5, 0.5, "no pairs", transform=ax.transAxes, ha="center")
        return fig
    lo, hi = np.quantile(m0, [0.005, 0.995])
    edges = np.linspace(lo, hi, 61) if hi > lo else hist_edges(m0)
    overlay(ax, rax, m0, m1, f"m({label}) [GeV]", edges)
    ax.set_yscale("linear")
    fit = result.get("fit")
    if fit:
        width = edges[1] - edges[0]
        for which, colour in (("original", ORIGINAL), ("decompressed", DECOMPRESSED)):
            f = fit[which]
            start, stop = f["window"]
            xs = np.linspace(start, stop, 200)
            scale = width / f["bin_width"]  # the fit's bins are not the plot's
            ys = scale * f["amplitude"] * np.exp(-0.5 * ((xs - f["mean"]) / f["sigma"]) ** 2)
            ax.plot(xs, ys, color=colour, lw=1.0, ls=":" if which == "decompressed" else "-")
        text = (
            f"orig.  μ={fit['original']['mean']:.4g}  σ={fit['original']['sigma']:.3g}\n"
            f"decomp. μ={fit['decompressed']['mean']:.4g}  σ={fit['decompressed']['sigma']:.3g}\n"
            f"Δμ={fit['peak_shift']:.2g}±{fit['peak_shift_error']:.1g}  "
            f"Δσ={fit['width_shift']:.2g}±{fit['width_shift_error']:.1g}"
        )
        ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8, family="monospace")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.set_title(f"invariant mass: {label}", fontsize=10, loc="left")
    return fig


def response_vs_pt_figure(label: str, response: Mapping[str, Any]) -> Any:
    """Per bin of original pt: the mean response (a bias; bars: its statistical error) and its spread (resolution)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig = new_figure(11, 4.0, {"left": 0.08, "right": 0.98, "bottom": 0.13, "top": 0.9, "wspace": 0.25})
    bias, resolution = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    edges = np.asarray(response["edges"], dtype=np.float64)
    if edges.size < 2:
        return fig
    centers = np.sqrt(edges[1:] * edges[:-1]) if edges[0] > 0 else (edges[1:] + edges[:-1]) / 2
    xerr = np.abs(np.stack([centers - edges[:-1], edges[1:] - centers]))
    colours = {"pt": ORIGINAL, "energy": "#f89c20", "mass": DECOMPRESSED}
    markers = {"pt": "o", "energy": "s", "mass": "^"}
    spreads = []
    for name, data in response["bins"].items():
        n = np.asarray(data["n"], dtype=np.float64)
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            error = std / np.sqrt(n)
        style = {"color": colours.get(name), "marker": markers.get(name, "o"), "ms": 4, "label": name}
        bias.errorbar(centers, mean, yerr=error, xerr=xerr, ls="none", capsize=2, **style)
        resolution.errorbar(centers, std, xerr=xerr, ls="none", **style)
        spreads.append(std[np.isfinite(std) & (std > 0)])
    bias.axhline(0, color="k", lw=0.8)
    bias.set_ylabel("mean of (q' − q)/q")
    resolution.set_ylabel("RMS of (q' − q)/q")
    values = np.concatenate(spreads) if spreads else np.zeros(0)
    if values.size and values.max() / values.min() > 30:
        resolution.set_yscale("log")
    else:
        resolution.set_ylim(0, values.max() * 1.4 if values.size else 1)
    for ax in (bias, resolution):
        if edges[0] > 0 and edges[-1] / edges[0] > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("original pt [GeV]")
        if ax.get_yscale() == "linear":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.legend(loc="center right" if ax.get_yscale() == "log" else "best")
    fig.suptitle(f"response vs pt: {label} (bins of equal population)", fontsize=11, x=0.01, ha="left")
    return fig


def _plural(label: str) -> str:
    """A collection's name as a count: ``Jet`` -> ``Jets``, ``muons`` stays."""
    return label if label.endswith("s") else f"{label}s"
