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

from bale.bench.pareto import pareto_plot
from bale.bench.results import (
    BenchResults,
    Brief,
    Headline,
    Machine,
    MethodRow,
    Setting,
    as_float,
    ran,
    ratio_of,
    setting_bounds,
)
from bale.fsutil import write_atomic

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
    "bale",
    "numpy",
    "torch",
    "zstandard",
    "blosc2",
    "numcodecs",
    "pcodec",
    "pysz",
    "zfpy",
    "fpzip",
    "matplotlib",
)


def machine_info() -> Machine:
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


def _fmt(value: Any, spec: str) -> str:
    v = as_float(value)
    if v is None:
        return "–"
    if v != v or v in (float("inf"), float("-inf")):
        return str(value)
    return format(v, spec)


def headline(results: BenchResults) -> list[Headline]:
    """Per bound: bale, the best classical method that meets the bound, the best SZ3, ZFP, fpzip, Baler-AE."""
    out: list[Headline] = []
    for setting in results["settings"]:
        rows = {r["name"]: r for r in setting["methods"] if ran(r)}

        def best(families: tuple[str, ...], rows: dict[str, MethodRow] = rows) -> MethodRow | None:
            fits = [r for r in rows.values() if r["family"] in families and r["violations"] == 0]
            return max(fits, key=ratio_of) if fits else None

        def brief(row: MethodRow | None) -> Brief | None:
            if row is None:
                return None
            return {
                "name": row.get("name"),
                "ratio": row.get("ratio"),
                "violations": row.get("violations"),
                "max_rel_err": row.get("max_rel_err"),
                "median_rel_err": row.get("median_rel_err"),
                "mean_rel_err": row.get("mean_rel_err"),
            }

        bale = rows.get("bale")
        external = rows.get("bale-external")
        classical = best(CLASSICAL_FAMILIES)
        entry: Headline = {
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
            "bale_over_best_classical": ratio_of(bale) / ratio_of(classical) if bale and classical else None,
            "violations": {r["name"]: r["violations"] for r in rows.values() if r["violations"]},
        }
        out.append(entry)
    return out


# -- markdown ----------------------------------------------------------------------------------------------


def _note(row: MethodRow) -> str:
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


def _setting_table(setting: Setting) -> list[str]:
    lines = [
        "| method | family | ratio | bytes | violations | max rel err (column) | median rel err | mean rel err | "
        "compress MB/s | decompress MB/s | peak MB (c / d) | notes |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|---|",
    ]
    # the methods that meet the bound first, best ratio first; then those that miss it
    done = sorted((r for r in setting["methods"] if ran(r)), key=lambda r: (r["violations"] > 0, -ratio_of(r)))
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


def _count(row: MethodRow) -> int:
    return int(row.get("columns_violated_count", len(row["columns_violated"])))


def to_markdown(results: BenchResults, *, heading: str = "##", plot: str | None = None) -> str:
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
        bad = [r for r in setting["methods"] if ran(r) and r["violations"]]
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


# -- files -------------------------------------------------------------------------------------------------


def to_json(results: BenchResults, *, max_columns: int | None = None) -> str:
    """JSON text; with ``max_columns``, per-column details are kept only for tables up to that width."""
    if max_columns is not None and len(results["columns"]) > max_columns:

        def brief(row: MethodRow) -> dict[str, Any]:
            out: dict[str, Any] = {k: v for k, v in row.items() if k != "columns"}
            if isinstance(row.get("info"), dict):  # per-column settings (keepbits …): how many columns each
                out["info"] = {
                    k: {"columns_per_value": _histogram(v)} if isinstance(v, dict) and len(v) > max_columns else v
                    for k, v in row["info"].items()
                }
            if len(row.get("columns_violated", [])) > 20:
                out["columns_violated_count"] = len(row["columns_violated"])
                out["columns_violated"] = row["columns_violated"][:20]
            return out

        compact: dict[str, Any] = {
            **results,
            "settings": [
                {
                    "spec": s["spec"],
                    "bounds_count": {b: list(setting_bounds(s)).count(b) for b in sorted(set(setting_bounds(s)))},
                    "methods": [brief(r) for r in s["methods"]],
                }
                for s in results["settings"]
            ],
            "per_column_left_out": f"more than {max_columns} columns: per-column details left out, bounds counted",
        }
        return json.dumps(compact, indent=1, allow_nan=False)
    return json.dumps(results, indent=1, allow_nan=False)


def _histogram(values: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values.values():
        counts[str(v)] = counts.get(str(v), 0) + 1
    return dict(sorted(counts.items()))


def write_outputs(results: BenchResults, out_dir: Path) -> dict[str, Path]:
    """``bench.json``, ``bench.md`` and ``pareto.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / "bench.json", "markdown": out_dir / "bench.md"}
    write_atomic(written["json"], to_json(results))
    plot = pareto_plot(results, out_dir / "pareto.png")
    write_atomic(written["markdown"], to_markdown(results, heading="#", plot="pareto.png" if plot else None))
    if plot:
        written["plot"] = plot
    return written
