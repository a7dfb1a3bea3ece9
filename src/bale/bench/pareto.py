"""The Pareto plot of a benchmark: ratio against the error reached, one series per method across the bounds."""

from __future__ import annotations

import logging
from pathlib import Path

from bale.bench.results import BenchResults, as_float, ran, ratio_of, setting_bounds
from bale.fsutil import atomic_target

__all__ = ["pareto_plot"]

log = logging.getLogger(__name__)

_FAMILY_COLORS = {
    "bale": "#d62728",
    "lossless": "#7f7f7f",
    "bitround": "#1f77b4",
    "sz3": "#2ca02c",
    "zfp": "#9467bd",
    "fpzip": "#8c564b",
    "autoencoder": "#ff7f0e",
}


def _error_axis(results: BenchResults) -> tuple[str, str]:
    modes = {b.split("=")[0] for s in results["settings"] for b in setting_bounds(s) if b != "exact"}
    if modes == {"rel"}:
        return "max_rel_err", "max relative error reached (worst column)"
    if modes == {"abs"}:
        return "max_abs_err", "max absolute error reached (worst column)"
    return "max_err_over_bound", "max error reached / bound (worst column)"


def _asked(results: BenchResults, key: str) -> list[float]:
    if key == "max_err_over_bound":
        return [1.0]
    return sorted({float(b.split("=")[1]) for s in results["settings"] for b in setting_bounds(s) if b != "exact"})


def pareto_plot(results: BenchResults, path: Path) -> Path | None:
    """Ratio against the error reached, one series per method across the bounds; ✕ marks a violation."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # matplotlib is optional
        log.warning("no plot: matplotlib not importable (%s)", exc)
        return None
    key, label = _error_axis(results)
    series: dict[str, list[tuple[float, float, bool, str]]] = {}
    families: dict[str, str] = {}
    lossless: dict[str, float] = {}
    means: dict[str, list[tuple[float, float]]] = {}
    for setting in results["settings"]:
        for r in setting["methods"]:
            if not ran(r):
                continue
            families[r["name"]] = r["family"]
            if r["family"] == "lossless":
                lossless[r["name"]] = max(lossless.get(r["name"], 0.0), ratio_of(r))
                continue
            err = as_float(r.get(key))
            if err is None or err != err:
                continue
            series.setdefault(r["name"], []).append((err, ratio_of(r), bool(r["violations"]), setting["spec"]))
            mean = as_float(r.get("median_rel_err"))
            if r["violations"] and key == "max_rel_err" and mean is not None and mean == mean:
                means.setdefault(r["name"], []).append((mean, ratio_of(r)))
    asked = _asked(results, key)
    errs = [e for pts in series.values() for e, *_ in pts if 0 < e < float("inf")]
    errs += [e for pts in means.values() for e, _ in pts if 0 < e < float("inf")]
    floor = min(errs) / 3 if errs else 1e-8
    ceiling = 100 * max(asked) if asked else float("inf")  # far-off errors are drawn at the edge, labelled
    fig, ax = plt.subplots(figsize=(9, 5.5))
    markers = "osD^v<>pPh*"
    for i, (name, pts) in enumerate(series.items()):
        color = _FAMILY_COLORS.get(families[name], "black")
        pts = sorted(pts)
        xs = [min(max(e, floor), ceiling) for e, *_ in pts]
        ys = [ratio for _, ratio, *_ in pts]
        width = 2.5 if families[name] == "bale" else 1.2
        ax.plot(xs, ys, marker=markers[i % len(markers)], color=color, lw=width, ms=6, label=name, alpha=0.85)
        for (e, ratio, *_), x in zip(pts, xs, strict=True):
            if e > ceiling:
                ax.annotate(
                    f"{e:.1e} →", (x, ratio), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=7
                )
        bad = [(x, y) for x, y, (_, _, v, _) in zip(xs, ys, pts, strict=True) if v]
        if bad:
            bad_x, bad_y = zip(*bad, strict=True)
            ax.scatter(bad_x, bad_y, marker="x", s=40, color="red", zorder=5, linewidths=1.2)
    for name, typical in means.items():  # the typical error of a method that misses the bound
        color = _FAMILY_COLORS.get(families[name], "black")
        xs = [min(max(e, floor), ceiling) for e, _ in typical]
        ax.scatter(
            xs,
            [ratio for _, ratio in typical],
            marker="o",
            s=60,
            facecolors="none",
            edgecolors=color,
            zorder=4,
            label=f"{name}: median rel err (worst column)",
        )
        for (e, ratio), x in zip(typical, xs, strict=True):
            if e > ceiling:
                ax.annotate(
                    f"median {e:.1e} →",
                    (x, ratio),
                    textcoords="offset points",
                    xytext=(-8, -12),
                    ha="right",
                    fontsize=7,
                )
    if lossless:
        best = max(lossless, key=lambda k: lossless[k])
        ax.axhline(lossless[best], color=_FAMILY_COLORS["lossless"], ls=":", label=f"{best} (lossless)")
    for v in asked:
        ax.axvline(v, color="#bbbbbb", ls="--", lw=0.8)
    ax.scatter([], [], marker="x", color="red", label="bound violated")
    ax.set_xscale("log")
    ax.set_xlabel(label + "; dashed: the bounds asked for")
    ax.set_ylabel("compression ratio (every byte counted)")
    ax.set_title(f"{results['title']}: ratio against error ({results['rows']:,} rows)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
