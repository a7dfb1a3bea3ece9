"""The report's figures, in HEP style (mplhep), drawn without pyplot's global state.

Figures are :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas, so that
nothing here depends on a display or changes the caller's matplotlib backend. Each figure
is written as a PNG (for the report and for reuse on slides) and optionally appended to a
PDF.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bale.evaluate.results import NoFigure, WrittenFigure
from bale.evaluate.units import with_unit
from bale.fsutil import finish_output, write_atomic

__all__ = [
    "Figures",
    "column_figure",
    "correlation_figure",
    "finite_values",
    "fmt",
    "hist_edges",
    "history_figure",
    "new_figure",
    "overlay",
    "power_of_ten",
]

log = logging.getLogger(__name__)

ORIGINAL = "#5790fc"  # mplhep's first two colours (colour-blind safe)
DECOMPRESSED = "#e42536"
BAND = "#c8c8c8"
_RC = {
    "font.size": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.linewidth": 1.0,
    "xtick.major.size": 5,
    "xtick.minor.size": 2.5,
    "ytick.major.size": 5,
    "ytick.minor.size": 2.5,
    "lines.linewidth": 1.4,
    "savefig.dpi": 90,
}


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib.style
    import mplhep

    with matplotlib.style.context([mplhep.style.ROOT, _RC]):
        yield


def new_figure(width: float, height: float, margins: Mapping[str, float] | None = None) -> Any:
    """A figure; fixed ``margins`` (``subplots_adjust`` fractions) are much faster to draw than a constrained layout."""
    from matplotlib.figure import Figure

    if margins is None:
        return Figure(figsize=(width, height), layout="constrained")
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(**margins)
    return fig


class Figures:
    """Where figures go: a PNG each under ``directory``, optionally a PDF page each, and base64 for the HTML."""

    def __init__(self, directory: Path, pdf_path: Path | None = None, enabled: bool = True) -> None:
        self.directory = directory
        self.enabled = enabled
        if enabled:
            directory.mkdir(parents=True, exist_ok=True)
        self._pdf: Any = None
        if pdf_path is not None and enabled:
            from matplotlib.backends.backend_pdf import PdfPages

            self._pdf_path = pdf_path
            self._pdf_tmp = pdf_path.with_name(f".{pdf_path.name}.{os.getpid()}.tmp")  # renamed into place on close
            self._pdf = PdfPages(self._pdf_tmp)
        self.written: list[WrittenFigure] = []
        self._names: set[str] = set()

    def add(self, name: str, build: Callable[[], Any], caption: str) -> WrittenFigure | NoFigure:
        """Build a figure with ``build()`` in the report's style and render it.

        Returns ``{"name", "file", "caption", "png_base64"}``, or ``{"name": None}`` when
        figures are disabled (nothing is built: drawing is the slow part of an evaluation).
        """
        if not self.enabled:
            return {"name": None}
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"
        unique, i = stem, 1
        while unique in self._names:
            i += 1
            unique = f"{stem}_{i}"
        self._names.add(unique)
        buffer = io.BytesIO()
        with _style():
            fig = build()
            fig.savefig(buffer, format="png")
            if self._pdf is not None:
                self._pdf.savefig(fig)
        data = buffer.getvalue()
        path = self.directory / f"{unique}.png"
        write_atomic(path, data)
        entry: WrittenFigure = {
            "name": unique,
            "file": str(path),
            "caption": caption,
            "png_base64": base64.b64encode(data).decode("ascii"),
        }
        self.written.append(entry)
        return entry

    def add_text_page(self, title: str, lines: Sequence[str]) -> None:
        """A PDF page of text (the summary table), for readers of the PDF only."""
        if self._pdf is None:
            return
        per_page = 80
        for start in range(0, max(len(lines), 1), per_page):
            fig = new_figure(8.27, 11.69)
            fig.text(0.05, 0.97, title, fontsize=13, weight="bold", va="top")
            fig.text(0.05, 0.94, "\n".join(lines[start : start + per_page]), family="monospace", fontsize=7, va="top")
            self._pdf.savefig(fig)

    def close(self) -> None:
        if self._pdf is not None:
            try:
                self._pdf.close()
                finish_output(self._pdf_tmp, self._pdf_path)
            finally:
                self._pdf_tmp.unlink(missing_ok=True)
                self._pdf = None


def hist_edges(values: np.ndarray, bins: int = 60) -> np.ndarray:
    """Histogram edges over the central 99 % of ``values``, or one bin per value for a discrete column."""
    unique = np.unique(values)
    if unique.size <= bins:
        if unique.size == 1:
            return np.array([unique[0] - 0.5, unique[0] + 0.5])
        mids = (unique[1:] + unique[:-1]) / 2
        return np.concatenate([[2 * unique[0] - mids[0]], mids, [2 * unique[-1] - mids[-1]]])
    lo, hi = np.quantile(values, [0.005, 0.995])
    if not hi > lo:
        lo, hi = float(unique[0]), float(unique[-1])
    return np.linspace(lo, hi, bins + 1)


def finite_values(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.asarray(values).astype(np.float64)
    return v[np.isfinite(v)]


def fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3g}"


def overlay(ax: Any, rax: Any, x: np.ndarray, y: np.ndarray, xlabel: str, edges: np.ndarray | None = None) -> None:
    """Original and decompressed histograms, and their ratio with the original's statistical band."""
    import mplhep

    edges = hist_edges(x) if edges is None else edges
    n0, _ = np.histogram(x, edges)  # the central 99 %: tails would squash the picture
    n1, _ = np.histogram(y, edges)
    mplhep.histplot(n0, edges, ax=ax, label="original", color=ORIGINAL, lw=2.0)
    mplhep.histplot(n1, edges, ax=ax, label="decompressed", color=DECOMPRESSED, ls="--", lw=1.4)
    nonzero = n0[n0 > 0]
    if nonzero.size and nonzero.max() / max(np.median(nonzero), 1) > 30:
        ax.set_yscale("log")
    ax.set_ylabel("entries")
    ax.legend(loc="best")
    ax.tick_params(labelbottom=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(n0 > 0, n1 / n0, np.nan)
        band = np.where(n0 > 0, 1 / np.sqrt(n0), np.nan)
    rax.stairs(1 + band, edges, baseline=1 - band, fill=True, color=BAND, label="stat. (original)")
    rax.axhline(1, color="k", lw=0.8)
    centers = (edges[1:] + edges[:-1]) / 2
    rax.plot(centers, ratio, "o", ms=2.5, color=DECOMPRESSED)
    deviation = np.nanmax(np.abs(ratio - 1)) if np.isfinite(ratio).any() else 0.0
    typical = np.nanmedian(band) if np.isfinite(band).any() else 0.01
    reach = float(min(max(deviation, typical, 1e-4) * 1.3, 0.5))
    rax.set_ylim(1 - reach, 1 + reach)
    cut = [int(np.count_nonzero((v < edges[0]) | (v > edges[-1]))) for v in (x, y)]
    if any(cut):  # the axis shows the central 99 %: say what lies beyond it
        ax.text(0.99, 0.02, f"outside the axis: {cut[0]} original, {cut[1]} decompressed", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7)  # fmt: skip
    rax.set_ylabel("decomp./orig.")
    rax.set_xlabel(xlabel)
    rax.legend(loc="upper right", fontsize=7)


def power_of_ten(reach: float) -> int:
    """The power of ten to write an axis in, so that its numbers are short and need no offset text."""
    if not np.isfinite(reach) or reach <= 0 or 1e-2 <= reach < 1e3:
        return 0
    return int(np.floor(np.log10(reach)))


def _error_hist(ax: Any, values: np.ndarray, xlabel: str, limit: float | None, stats: Mapping[str, Any]) -> None:
    """A histogram of residuals or responses with its mean, RMS and max, and the bound as dashed lines."""
    import mplhep

    reach = float(np.max(np.abs(values))) if values.size else 0.0
    if limit is not None:
        reach = max(reach, limit)
    if reach == 0:
        ax.text(0.5, 0.5, "all zero (exact)", transform=ax.transAxes, ha="center")
        ax.set_xlabel(xlabel)
        return
    power = power_of_ten(reach)
    scale = 10.0**power
    edges = np.linspace(-1.05 * reach, 1.05 * reach, 61) / scale
    counts, _ = np.histogram(values / scale, edges)
    mplhep.histplot(counts, edges, ax=ax, color=DECOMPRESSED, histtype="fill", alpha=0.45)
    mplhep.histplot(counts, edges, ax=ax, color=DECOMPRESSED)
    if limit is not None:
        for sign in (-1, 1):
            ax.axvline(sign * limit / scale, color="k", ls="--", lw=1)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, counts.max() * 1.45 if counts.size and counts.max() else 1)
    ax.set_xlabel(xlabel + (f"  [×10$^{{{power}}}$]" if power else ""))
    ax.set_ylabel("entries")
    text = f"mean {fmt(stats['mean'])}\nRMS {fmt(stats['rms'])}\nmax |·| {fmt(stats['max_abs'])}"
    if limit is not None:
        text += f"\nbound ±{fmt(limit)}"
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=8, family="monospace")


def column_figure(name: str, original: np.ndarray, decoded: np.ndarray, bound: Any, metrics: Mapping[str, Any]) -> Any:
    """Three panels: distributions with their ratio, residuals ``x'−x``, responses ``(x'−x)/x``."""
    from bale.evaluate.metrics import residuals, responses

    fig = new_figure(13, 4.2, {})
    grid = fig.add_gridspec(
        2, 3, height_ratios=[3, 1], left=0.06, right=0.99, bottom=0.13, top=0.91, wspace=0.22, hspace=0.06
    )
    ax = fig.add_subplot(grid[0, 0])
    rax = fig.add_subplot(grid[1, 0], sharex=ax)
    x = finite_values(original)
    y = finite_values(decoded)
    overlay(ax, rax, x, y, with_unit(name, name))
    mode = getattr(bound, "mode", None)
    value = getattr(bound, "value", None)
    _error_hist(
        fig.add_subplot(grid[:, 1]),
        residuals(original, decoded),
        with_unit(f"{name}' − {name}", name),
        value if mode == "abs" else None,
        metrics["residual"],
    )
    _error_hist(
        fig.add_subplot(grid[:, 2]),
        responses(original, decoded),
        f"({name}' − {name}) / {name}",
        value if mode == "rel" else None,
        metrics["response"],
    )
    fig.suptitle(f"{name}   bound {metrics.get('bound') or 'unknown'}", fontsize=12, x=0.01, ha="left")
    return fig


def correlation_figure(title: str, columns: Sequence[str], diff: Sequence[Sequence[float]]) -> Any:
    """The difference of the correlation matrices, decompressed minus original, on a symmetric colour scale."""
    matrix = np.asarray(diff, dtype=np.float64)
    n = len(columns)
    size = float(min(max(4.5, 0.28 * n + 2.5), 14))
    fig = new_figure(size + 1.2, size)
    ax = fig.add_subplot()
    reach = float(np.nanmax(np.abs(matrix))) if matrix.size else 0.0
    reach = reach if reach > 0 else 1e-12
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-reach, vmax=reach, interpolation="nearest")
    fontsize = 8 if n <= 25 else 6
    ax.set_xticks(range(n), columns, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), columns, fontsize=fontsize)
    ax.minorticks_off()
    ax.tick_params(top=False, right=False)
    fig.colorbar(image, ax=ax, label="ρ(decompressed) − ρ(original)", shrink=0.8)
    ax.set_title(title, fontsize=11, loc="left")
    return fig


_LOSS_WORDS = {
    "bits": "bits to code a row's residuals (estimate)",
    "l1": "mean |residual| (standardized)",
    "mse": "mean squared residual (standardized)",
    "huber": "Huber loss of the residuals (standardized)",
}


def history_figure(histories: Mapping[str, Mapping[str, Any]]) -> Any:
    """Training and validation loss per epoch, per table's network, with the kept (best) epoch marked."""
    fig = new_figure(7.5, 4.5, {"left": 0.11, "right": 0.97, "bottom": 0.12, "top": 0.92})
    ax = fig.add_subplot()
    palette = [ORIGINAL, "#f89c20", DECOMPRESSED, "#964a8b", "#9c9ca1", "#7a21dd"]
    for i, (table, record) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in record["history"]]
        colour = palette[i % len(palette)]
        name = f"{table or 'table'}: " if len(histories) > 1 else ""
        marker = "o" if len(epochs) <= 30 else None
        train = [h["train"] for h in record["history"]]
        ax.plot(epochs, train, color=colour, marker=marker, ms=3, label=f"{name}train")
        val = [h["val"] for h in record["history"]]
        ax.plot(epochs, val, color=colour, ls="--", marker=marker, ms=3, label=f"{name}validation")
        best = record.get("best_epoch")
        if best is not None:
            ax.axvline(best, color=colour, lw=0.8, ls=":")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    kinds = {str(record.get("loss")) for record in histories.values()}
    words = _LOSS_WORDS.get(kinds.pop(), "lower is better") if len(kinds) == 1 else "lower is better"
    ax.set_ylabel(f"training loss: {words}")
    ax.legend(loc="best")
    ax.set_title("training history (dotted: epoch kept)", fontsize=10, loc="left")
    return fig
