"""Reports of a benchmark: JSON, a markdown table per bound, a Pareto plot (ratio against error reached)."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from bale.fsutil import atomic_target, write_atomic

__all__ = [
    "CLASSICAL_FAMILIES",
    "cell",
    "headline",
    "machine_info",
    "pareto_plot",
    "to_json",
    "to_markdown",
    "write_outputs",
]

log = logging.getLogger(__name__)

CLASSICAL_FAMILIES = ("lossless", "bitround", "sz3", "zfp", "fpzip")
_PACKAGES = (
    "bale", "numpy", "torch", "zstandard", "blosc2", "numcodecs", "pcodec", "pysz", "zfpy", "fpzip", "matplotlib"
)
_FAMILY_COLORS = {
    "bale": "#d62728",
    "lossless": "#7f7f7f",
    "bitround": "#1f77b4",
    "sz3": "#2ca02c",
    "zfp": "#9467bd",
    "fpzip": "#8c564b",
    "autoencoder": "#ff7f0e",
}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and the versions of the libraries compared."""
    cpu, memory = platform.processor() or platform.machine(), None
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
        found = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = round(int(found.group(1)) / 2**20, 1) if found else None
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


# -- numbers -----------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("inf", "-inf", "nan"):
        return float(value)
    return None


def _fmt(value: Any, spec: str) -> str:
    v = _num(value)
    if v is None:
        return "–"
    if v != v or v in (float("inf"), float("-inf")):
        return str(value)
    return format(v, spec)


def _ok(row: dict[str, Any]) -> bool:
    return bool(row.get("applicable")) and "error" not in row and row.get("ratio") is not None


def headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per bound: bale, the best classical method that meets the bound, the best SZ3, ZFP, fpzip, Baler-AE."""
    out = []
    for setting in results["settings"]:
        rows = {r["name"]: r for r in setting["methods"] if _ok(r)}

        def best(families: tuple[str, ...], rows: dict[str, dict[str, Any]] = rows) -> dict[str, Any] | None:
            fits = [r for r in rows.values() if r["family"] in families and r["violations"] == 0]
            return max(fits, key=lambda r: r["ratio"]) if fits else None

        def brief(row: dict[str, Any] | None) -> dict[str, Any] | None:
            if row is None:
                return None
            keys = ("name", "ratio", "violations", "max_rel_err", "median_rel_err", "mean_rel_err")
            return {k: row.get(k) for k in keys}

        bale = rows.get("bale")
        external = rows.get("bale-external")
        classical = best(CLASSICAL_FAMILIES)
        entry = {
            "spec": setting["spec"],
            "bale": brief(bale),
            "bale_without_model": bale["info"].get("ratio_without_model") if bale else None,
            "bale_external": brief(external),
            "best_classical": brief(classical),
            "sz3": brief(best(("sz3",))),
            "zfp": brief(best(("zfp",))),
            "fpzip": brief(best(("fpzip",))),
            "bitround": brief(best(("bitround",))),
            "lossless": brief(best(("lossless",))),
            "baler_ae": brief(rows.get("baler-ae")),
            "bale_over_best_classical": bale["ratio"] / classical["ratio"] if bale and classical else None,
            "violations": {r["name"]: r["violations"] for r in rows.values() if r["violations"]},
        }
        out.append(entry)
    return out


# -- markdown ----------------------------------------------------------------------------------------------


def _note(row: dict[str, Any]) -> str:
    info = row.get("info") or {}
    parts = []
    if "ratio_without_model" in info:
        parts.append(f"without model {info['ratio_without_model']:.2f} (model {info['model_bytes']:,} B)")
    if "ratio_with_model" in info:
        parts.append(f"with model {info['ratio_with_model']:.2f}")
    if "train_s" in info:
        parts.append(f"train {info['train_s']:.1f} s")
    if info.get("exceptions"):
        parts.append(f"{info['exceptions']:,} exceptions")
    if "latent_per_row" in info:
        parts.append(f"latent {info['latent_per_row']}/row")
    if row.get("same_run_as"):
        parts.append(f"same run as {row['same_run_as']}")
    return "; ".join(parts)


def cell(text: str) -> str:
    """Text for a markdown table cell: pipes escaped, one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def _setting_table(setting: dict[str, Any]) -> list[str]:
    lines = [
        "| method | family | ratio | bytes | violations | max rel err (column) | median rel err | mean rel err | "
        "compress MB/s | decompress MB/s | peak MB (c / d) | notes |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|---|",
    ]
    # the methods that meet the bound first, best ratio first; then those that miss it
    done = sorted((r for r in setting["methods"] if _ok(r)), key=lambda r: (r["violations"] > 0, -r["ratio"]))
    for r in done:
        viol = f"**{r['violations']:,}** ⚠" if r["violations"] else "0"
        peak = f"{_fmt(r.get('compress_peak_mb'), '.0f')} / {_fmt(r.get('decompress_peak_mb'), '.0f')}"
        name = f"**{r['name']}**" if r["family"] == "bale" else r["name"]
        lines.append(
            f"| {name} | {r['family']} | {r['ratio']:.2f} | {r['bytes']:,} | {viol} | "
            f"{_fmt(r['max_rel_err'], '.2e')} ({r['worst_column']}) | {_fmt(r.get('median_rel_err'), '.1e')} | "
            f"{_fmt(r['mean_rel_err'], '.1e')} | "
            f"{_fmt(r['compress_mb_s'], '.3g')} | {_fmt(r['decompress_mb_s'], '.3g')} | {peak} | {cell(_note(r))} |"
        )
    for r in setting["methods"]:
        if not r.get("applicable", True):
            lines.append(f"| {r['name']} | {r['family']} | not applicable: {cell(r['reason'])} ||||||||||")
        elif "error" in r:
            lines.append(f"| {r['name']} | {r['family']} | **failed**: {cell(r['error'][:200])} ||||||||||")
    return lines


def _count(row: dict[str, Any]) -> int:
    return int(row.get("columns_violated_count", len(row["columns_violated"])))


def to_markdown(results: dict[str, Any], *, heading: str = "##", plot: str | None = None) -> str:
    """The results as markdown: a table per bound, skipped methods, violations called out."""
    cols = results["columns"]
    floats = sum(1 for d in cols.values() if d.startswith("float"))
    lines = [
        f"{heading} {results['title']}",
        "",
        f"`{results['source']}`: {results['rows']:,} rows × {len(cols)} columns ({floats} float), "
        f"raw {results['raw_bytes']:,} bytes.",
    ]
    lines += [f"Note: {n}." for n in results.get("notes", [])]
    if plot:
        lines += ["", f"![ratio against error reached: {results['title']}]({plot})"]
    for setting in results["settings"]:
        lines += ["", f"{heading}# {setting['spec']}", ""]
        lines += _setting_table(setting)
        bad = [r for r in setting["methods"] if _ok(r) and r["violations"]]
        if bad:
            lines += [
                "",
                "Bound violations: "
                + "; ".join(
                    f"{r['name']} {r['violations']:,} in {_count(r)} column(s) "
                    f"({', '.join(r['columns_violated'][:4])}{', …' if len(r['columns_violated']) > 4 else ''})"
                    for r in bad
                )
                + ".",
            ]
    if results.get("skipped"):
        lines += ["", "Skipped (library missing): " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items())]
    return "\n".join(lines) + "\n"


# -- plot --------------------------------------------------------------------------------------------------


def _bounds(setting: dict[str, Any]) -> list[str]:
    """The bound of every column of a setting (or each distinct bound, from a compact JSON)."""
    if "bounds" in setting:
        return list(setting["bounds"].values())
    return list(setting.get("bounds_count", {}))


def _error_axis(results: dict[str, Any]) -> tuple[str, str]:
    modes = {b.split("=")[0] for s in results["settings"] for b in _bounds(s) if b != "exact"}
    if modes == {"rel"}:
        return "max_rel_err", "max relative error reached (worst column)"
    if modes == {"abs"}:
        return "max_abs_err", "max absolute error reached (worst column)"
    return "max_err_over_bound", "max error reached / bound (worst column)"


def _asked(results: dict[str, Any], key: str) -> list[float]:
    if key == "max_err_over_bound":
        return [1.0]
    return sorted({float(b.split("=")[1]) for s in results["settings"] for b in _bounds(s) if b != "exact"})


def pareto_plot(results: dict[str, Any], path: Path) -> Path | None:
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
            if not _ok(r):
                continue
            families[r["name"]] = r["family"]
            if r["family"] == "lossless":
                lossless[r["name"]] = max(lossless.get(r["name"], 0.0), r["ratio"])
                continue
            err = _num(r.get(key))
            if err is None or err != err:
                continue
            series.setdefault(r["name"], []).append((err, r["ratio"], bool(r["violations"]), setting["spec"]))
            mean = _num(r.get("median_rel_err"))
            if r["violations"] and key == "max_rel_err" and mean is not None and mean == mean:
                means.setdefault(r["name"], []).append((mean, r["ratio"]))
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
        ys = [r for _, r, *_ in pts]
        width = 2.5 if families[name] == "bale" else 1.2
        ax.plot(xs, ys, marker=markers[i % len(markers)], color=color, lw=width, ms=6, label=name, alpha=0.85)
        for (e, r, *_), x in zip(pts, xs, strict=True):
            if e > ceiling:
                ax.annotate(f"{e:.1e} →", (x, r), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=7)
        bad = [(x, y) for x, y, (_, _, v, _) in zip(xs, ys, pts, strict=True) if v]
        if bad:
            bad_x, bad_y = zip(*bad, strict=True)
            ax.scatter(bad_x, bad_y, marker="x", s=40, color="red", zorder=5, linewidths=1.2)
    for name, typical in means.items():  # the typical error of a method that misses the bound
        color = _FAMILY_COLORS.get(families[name], "black")
        xs = [min(max(e, floor), ceiling) for e, _ in typical]
        ax.scatter(
            xs,
            [r for _, r in typical],
            marker="o",
            s=60,
            facecolors="none",
            edgecolors=color,
            zorder=4,
            label=f"{name}: median rel err (worst column)",
        )
        for (e, r), x in zip(typical, xs, strict=True):
            if e > ceiling:
                ax.annotate(
                    f"median {e:.1e} →", (x, r), textcoords="offset points", xytext=(-8, -12), ha="right", fontsize=7
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


# -- files -------------------------------------------------------------------------------------------------


def to_json(results: dict[str, Any], *, max_columns: int | None = None) -> str:
    """JSON text; with ``max_columns``, per-column details are kept only for tables up to that width."""
    if max_columns is not None and len(results["columns"]) > max_columns:

        def brief(row: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in row.items() if k != "columns"}
            if isinstance(row.get("info"), dict):  # per-column settings (keepbits …): how many columns each
                out["info"] = {
                    k: {"columns_per_value": _histogram(v)} if isinstance(v, dict) and len(v) > max_columns else v
                    for k, v in row["info"].items()
                }
            if len(row.get("columns_violated", [])) > 20:
                out["columns_violated_count"] = len(row["columns_violated"])
                out["columns_violated"] = row["columns_violated"][:20]
            return out

        results = {
            **results,
            "settings": [
                {
                    "spec": s["spec"],
                    "bounds_count": {b: list(_bounds(s)).count(b) for b in sorted(set(_bounds(s)))},
                    "methods": [brief(r) for r in s["methods"]],
                }
                for s in results["settings"]
            ],
            "per_column_left_out": f"more than {max_columns} columns: per-column details left out, bounds counted",
        }
    return json.dumps(results, indent=1, allow_nan=False)


def _histogram(values: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values.values():
        counts[str(v)] = counts.get(str(v), 0) + 1
    return dict(sorted(counts.items()))


def write_outputs(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """``bench.json``, ``bench.md`` and ``pareto.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / "bench.json", "markdown": out_dir / "bench.md"}
    write_atomic(written["json"], to_json(results))
    plot = pareto_plot(results, out_dir / "pareto.png")
    write_atomic(written["markdown"], to_markdown(results, heading="#", plot="pareto.png" if plot else None))
    if plot:
        written["plot"] = plot
    return written
