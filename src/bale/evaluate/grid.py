"""``bale evaluate`` for grids: errors against the bound, images of a few frames, residual histogram.

``bale evaluate FILE.bale --against ORIGINAL`` (a grid file) or ``bale evaluate ORIGINAL
DECOMPRESSED --grid -e range=1e-3`` writes ``metrics.json``, ``plots/*.png`` and one
self-contained ``report.html``: per grid the bound, max error and max error over the bound,
the values that break it (with bale's check: NaN, ±inf and ±0 bit-exact), RMSE, PSNR
(``20·log10(range / RMSE)``) and, for a ``.bale`` file, the ratio; per frame the max error;
the original, decompressed and difference images of the first, middle and last frames;
and the histogram of ``(x′ − x)/bound``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path
from typing import Any, Final

import numpy as np

from bale.bounds import Bound, parse_bound, violations
from bale.container import FIELDS_KIND
from bale.errors import BaleInputError
from bale.evaluate.results import GridEvaluation, GridFileFacts, GridMetrics
from bale.fsutil import write_atomic
from bale.grid.api import decompress_grid, grid_info
from bale.grid.codec import as_3d, parse_grid_bound
from bale.grid.files import read_grids

__all__ = ["evaluate_grid_files", "evaluate_grids"]

log = logging.getLogger(__name__)

STEM: Final = "grid"  # the figures' file stem of a field whose name has no letter or digit


def _metrics(original: np.ndarray, decoded: np.ndarray, bound: Bound) -> GridMetrics:
    if original.shape != decoded.shape:
        raise BaleInputError(f"shapes differ: {original.shape} and {decoded.shape}")
    x = original.reshape(as_3d(original.shape)).astype(np.float64)
    y = decoded.reshape(as_3d(decoded.shape)).astype(np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite, y - x, 0.0)
    bad = violations(original.ravel(), decoded.ravel(), bound)
    span = float(x[np.isfinite(x)].max() - x[np.isfinite(x)].min()) if np.isfinite(x).any() else 0.0
    rmse = float(np.sqrt(np.mean(err[finite] ** 2))) if finite.any() else 0.0
    if bound.mode == "rel":
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(finite & (x != 0), np.abs(err) / np.abs(x), 0.0)
    else:
        scaled = np.abs(err)
    per_frame = [float(np.max(scaled[i], initial=0.0)) / bound.value for i in range(x.shape[0])]
    return {
        "shape": list(original.shape),
        "dtype": str(original.dtype),
        "bound": str(bound),
        "max_abs_error": float(np.abs(err).max(initial=0.0)),
        "max_error_over_bound": float(scaled.max(initial=0.0)) / bound.value,
        "violations": int(bad.sum()),
        "mean_error": float(err[finite].mean()) if finite.any() else 0.0,
        "rmse": rmse,
        "psnr_db": float(20 * np.log10(span / rmse)) if rmse > 0 and span > 0 else None,
        "value_range": span,
        "non_finite": int((~np.isfinite(x)).sum()),
        "per_frame_max_over_bound": per_frame,
    }


def _frames(n: int) -> list[int]:
    return sorted({0, n // 2, n - 1})


def _save(fig: Any, path: str) -> None:
    """A figure as PNG, written atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    write_atomic(path, buffer.getvalue())


def _plots(name: str, original: np.ndarray, decoded: np.ndarray, bound: Bound, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = original.reshape(as_3d(original.shape)).astype(np.float64)
    y = decoded.reshape(as_3d(decoded.shape)).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(np.isfinite(x) & np.isfinite(y), y - x, 0.0)
    files: dict[str, str] = {}
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or STEM
    frames = _frames(x.shape[0])
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scale = bound.value if bound.mode == "abs" else float(np.abs(diff).max(initial=0.0)) or 1.0
    fig, axes = plt.subplots(len(frames), 3, figsize=(10.5, 3.2 * len(frames)), squeeze=False)
    for row, f in enumerate(frames):
        for col, (title, img, kw) in enumerate(
            [
                ("original", x[f], {"vmin": lo, "vmax": hi, "cmap": "viridis"}),
                ("decompressed", y[f], {"vmin": lo, "vmax": hi, "cmap": "viridis"}),
                ("difference" + (" / bound" if bound.mode == "abs" else ""), diff[f] / scale,
                 {"vmin": -1, "vmax": 1, "cmap": "RdBu_r"}),
            ]
        ):  # fmt: skip
            ax = axes[row][col]
            im = ax.imshow(img, origin="lower", interpolation="nearest", **kw)
            ax.set_title(f"frame {f}: {title}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    files["frames"] = str(out / f"{safe}_frames.png")
    _save(fig, files["frames"])
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.4))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = diff / bound.value if bound.mode == "abs" else np.where(x != 0, diff / np.abs(x), 0.0) / bound.value
    ax1.hist(r.ravel(), bins=101, range=(-1.05, 1.05), color="#4477aa")
    for v in (-1, 1):
        ax1.axvline(v, color="#cc3311", lw=1, ls="--")
    ax1.set_xlabel("(x' - x) / bound" if bound.mode == "abs" else "(x' - x) / |x| / bound")
    ax1.set_ylabel("values")
    ax1.set_title("residuals against the bound", fontsize=9)
    per_frame = [float(np.max(np.abs(r[i]), initial=0.0)) for i in range(r.shape[0])]
    ax2.plot(per_frame, marker=".", color="#228833")
    ax2.axhline(1.0, color="#cc3311", lw=1, ls="--")
    ax2.set_ylim(0, 1.1)
    ax2.set_xlabel("frame")
    ax2.set_ylabel("max |error| / bound")
    ax2.set_title("max error per frame", fontsize=9)
    fig.tight_layout()
    files["residuals"] = str(out / f"{safe}_residuals.png")
    _save(fig, files["residuals"])
    plt.close(fig)
    return files


def evaluate_grids(
    originals: dict[str, np.ndarray],
    decoded: dict[str, np.ndarray],
    bounds: dict[str, Bound],
    out_dir: str | Path,
    *,
    plots: bool = True,
    extra: GridFileFacts | None = None,
) -> GridEvaluation:
    """Metrics (and figures, report) of decoded grids against the originals; writes ``out_dir``."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    missing = sorted(set(decoded) - set(originals))
    if missing:
        raise BaleInputError(f"grid(s) {missing} are not in the original")
    metrics: GridEvaluation = {"kind": FIELDS_KIND, "grids": {}}
    facts = extra or GridFileFacts()
    if "file" in facts:
        metrics["file"] = facts["file"]
    if "ratio" in facts:
        metrics["ratio"] = facts["ratio"]
    if "file_bytes" in facts:
        metrics["file_bytes"] = facts["file_bytes"]
    if "errors" in facts:
        metrics["errors"] = facts["errors"]
    images: dict[str, dict[str, str]] = {}
    for name, y in decoded.items():
        metrics["grids"][name] = _metrics(originals[name], y, bounds[name])
        if plots:
            images[name] = _plots(name, originals[name], y, bounds[name], out / "plots")
    metrics["summary"] = {
        "grids": len(decoded),
        "failed": sum(1 for m in metrics["grids"].values() if m["violations"]),
    }
    write_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
    write_atomic(out / "report.html", _html(metrics, images))
    return metrics


def evaluate_grid_files(
    first: str | Path,
    second: str | Path | None,
    out_dir: str | Path,
    *,
    against: str | Path | None = None,
    model: str | Path | None = None,
    error: str | None = None,
    plots: bool = True,
) -> GridEvaluation:
    """``FILE.bale --against ORIGINAL`` or ``ORIGINAL DECOMPRESSED`` (with ``error``, e.g. ``range=1e-3``)."""
    extra: GridFileFacts
    decoded: dict[str, np.ndarray]
    if against is not None:
        originals, _ = read_grids(against)
        decoded = decompress_grid(first, model=model)
        info = grid_info(first, model=model)
        bounds = {n: parse_bound(info["grids"][n]["bound"]) for n in decoded}
        extra = {"file": str(first), "ratio": info["ratio"], "file_bytes": info["file_bytes"],
                 "errors": {n: info["grids"][n]["error"] for n in decoded}}  # fmt: skip
    else:
        if second is None:
            raise BaleInputError("give ORIGINAL DECOMPRESSED, or FILE.bale --against ORIGINAL")
        originals, _ = read_grids(first)
        decoded, _ = read_grids(second)
        spec = error or "range=1e-3"
        bounds = {n: parse_grid_bound(spec, originals[n]).bound for n in decoded if n in originals}
        extra = {"errors": dict.fromkeys(decoded, spec)}
    return evaluate_grids(originals, decoded, bounds, out_dir, plots=plots, extra=extra)


def _img(path: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(metrics: GridEvaluation, images: dict[str, dict[str, str]]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>bale evaluate: grids</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;text-align:right}"
        ".bad{color:#b00}.ok{color:#070}</style></head><body><h1>bale evaluate: grids</h1>",
    ]
    if "ratio" in metrics:
        parts.append(f"<p>{e(str(metrics.get('file')))}: ratio {metrics['ratio']:.3f} "
                     f"({metrics['file_bytes']:,} bytes, every byte counted)</p>")  # fmt: skip
    failed = metrics["summary"]["failed"]
    verdict = "every value within its bound" if not failed else f"{failed} grid(s) break their bound"
    parts.append(f"<p class='{'bad' if failed else 'ok'}'><b>{e(verdict)}</b></p>")
    parts.append(
        "<table><tr><th>grid</th><th>shape</th><th>bound</th><th>max err / bound</th><th>violations</th>"
        "<th>RMSE</th><th>PSNR dB</th><th>non-finite</th></tr>"
    )
    for name, m in metrics["grids"].items():
        psnr = f"{m['psnr_db']:.2f}" if m["psnr_db"] is not None else "—"
        parts.append(
            f"<tr><td>{e(name)}</td><td>{'x'.join(map(str, m['shape']))}</td><td>{e(m['bound'])} "
            f"({e(str(metrics.get('errors', {}).get(name, '')))})</td><td>{m['max_error_over_bound']:.4f}</td>"
            f"<td class='{'bad' if m['violations'] else 'ok'}'>{m['violations']}</td><td>{m['rmse']:.4g}</td>"
            f"<td>{psnr}</td><td>{m['non_finite']}</td></tr>"
        )
    parts.append("</table>")
    for name, files in images.items():
        parts.append(f"<h2>{e(name)}</h2>")
        parts += [_img(files["frames"]), _img(files["residuals"])]
    parts.append("</body></html>")
    return "\n".join(parts)
