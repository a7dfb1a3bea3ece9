"""``run_bench``: every method on the same table at each bound of a curve, every value checked.

How one method is run, timed and its memory measured (a forked child per method by default):
:mod:`bale.bench.measure`. Verification (not timed) checks every value of every column with
:func:`bale.bounds.violations` and measures the errors reached (:mod:`bale.bench.metrics`); the
results are :class:`bale.bench.results.BenchResults`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from bale.api import as_dataset, as_table
from bale.bench.measure import in_child, jsonable, measure
from bale.bench.methods import METHODS, Bounds, Context, Method, get_method
from bale.bench.results import TABLE_FORMAT, BenchResults, Check, Measurement, MethodRow, Setting
from bale.bounds import Bound, parse_bound, resolve_bounds
from bale.config import BaleConfig, load_config
from bale.errors import BaleInputError
from bale.io import detect_format
from bale.table import Dataset, Table

__all__ = ["load_bench_table", "parse_settings", "run_bench", "run_methods"]

log = logging.getLogger(__name__)

FORMAT = TABLE_FORMAT


# -- input -------------------------------------------------------------------------------------------------


def load_bench_table(
    data: Any, *, columns: Iterable[str] | None = None, tree: str | None = None, max_rows: int | None = None
) -> tuple[Table, list[str]]:
    """The flat table to benchmark, and notes on what was left out.

    A ROOT tree with jagged collections gives its main table (one row per event: the flat branches and
    the counters); the collections are left out, and a note says so.
    """
    notes: list[str] = []
    if isinstance(data, Dataset):
        dataset: Dataset | None = data
    elif isinstance(data, (str, os.PathLike)) and detect_format(data) == "root":
        dataset = as_dataset(data, columns=columns, tree=tree)
    else:
        dataset = None
    if dataset is not None:
        table = dataset.main
        left = {k: t for k, t in dataset.tables.items() if k}
        if left:
            notes.append(
                f"flat branches only: {len(left)} jagged collection(s) left out "
                f"({sum(len(t.columns) for t in left.values())} branches, "
                f"{sum(t.nbytes for t in left.values()):,} bytes)"
            )
    else:
        table = as_table(data, columns=columns, tree=tree)
    if not table.columns:
        raise BaleInputError("no flat numeric columns to benchmark")
    if table.num_rows == 0:
        raise BaleInputError("the table is empty")
    if max_rows is not None and table.num_rows > max_rows:
        notes.append(f"subsampled: the first {max_rows:,} of {table.num_rows:,} rows")
        table = table.slice(0, max_rows)
    cols = {
        k: np.ascontiguousarray(v.astype(v.dtype.newbyteorder("=")) if v.dtype.byteorder == ">" else v)
        for k, v in table.columns.items()
    }
    return Table(cols, dict(table.source)), notes


def parse_settings(
    errors: Sequence[str], dtypes: dict[str, np.dtype], default: str = "rel=1e-3"
) -> list[tuple[str, Bounds]]:
    """The bound settings of a curve: each plain bound (``rel=1e-3``) is one point; ``COLUMN:BOUND``
    overrides one column at every point. Integer and bool columns are exact."""
    points: list[Bound] = []
    overrides: dict[str, Bound] = {}
    for option in errors:
        name, sep, spec = option.rpartition(":")
        if sep:
            if not name:
                raise BaleInputError(f"bad error bound {option!r}: empty column name")
            overrides[name] = parse_bound(spec)
        else:
            bound = parse_bound(option)
            if bound not in points:
                points.append(bound)
    if not points:
        points = [parse_bound(default)]
    suffix = "".join(f", {k}:{b}" for k, b in overrides.items())
    return [(f"{p}{suffix}", resolve_bounds(dtypes, p, overrides)) for p in points]


def run_methods(
    table: Table,
    settings: list[tuple[str, Bounds]],
    methods: Sequence[str] | None = None,
    *,
    config: BaleConfig | None = None,
    isolate: bool = True,
    measure_memory: bool = True,
    time_limit: float | None = None,
) -> tuple[list[Setting], dict[str, str]]:
    """Run ``methods`` (default: all registered) on ``table`` under each setting.

    Returns one list of result rows per setting (``[{"spec", "bounds", "methods": [...]}]``) and the
    methods skipped because a library is missing (name → reason).
    """
    selected = [get_method(n) for n in (methods if methods is not None else list(METHODS))]
    columns = dict(table.columns)
    raw = table.nbytes
    isolate = isolate and hasattr(os, "fork")
    skipped: dict[str, str] = {}
    out: list[Setting] = [
        {"spec": spec, "bounds": {k: str(b) for k, b in bounds.items()}, "methods": []} for spec, bounds in settings
    ]
    with tempfile.TemporaryDirectory(prefix="bale-bench-") as tmp:
        ctx = Context(Path(tmp), config or BaleConfig())
        for method in selected:
            reason = method.missing()
            if reason is not None:
                log.warning("skipping %s: %s", method.name, reason)
                skipped[method.name] = reason
                continue
            rows: dict[int, MethodRow] = {}
            groups: dict[Any, list[int]] = {}
            for i, (_, bounds) in enumerate(settings):
                why = method.applies(columns, bounds) if method.applies else None
                if why is not None:
                    rows[i] = _row(method, {"not_applicable": why}, None, raw)
                else:
                    groups.setdefault(method.cache_key(bounds), []).append(i)
            for members in groups.values():
                group = [settings[i][1] for i in members]
                log.info("%s under %s", method.name, ", ".join(settings[i][0] for i in members))
                started = time.perf_counter()
                if isolate:
                    result = in_child(method, columns, group, ctx, measure_memory, time_limit)
                else:
                    try:
                        result = jsonable(measure(method, columns, group, ctx, measure_memory))
                    except Exception as exc:  # a failing method is reported, never fatal
                        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                log.info("%s: %s in %.1f s", method.name, result.get("error", "done"), time.perf_counter() - started)
                for k, i in enumerate(members):
                    check = result["checks"][k] if "checks" in result else None
                    rows[i] = _row(method, result, check, raw)
                    if k:
                        rows[i]["same_run_as"] = settings[members[0]][0]
            for i, row in rows.items():
                out[i]["methods"].append(row)
    return out, skipped


def _rate(raw: int, seconds: Any) -> float | None:
    return raw / 1e6 / seconds if isinstance(seconds, (int, float)) and seconds > 0 else None


def _row(method: Method, result: Measurement, check: Check | None, raw: int) -> MethodRow:
    row: MethodRow = {"name": method.name, "family": method.family, "description": method.description}
    if "not_applicable" in result:
        return {**row, "applicable": False, "reason": result["not_applicable"]}
    if "error" in result:
        return {**row, "applicable": True, "error": result["error"]}
    peaks = [p for p in (result["compress_peak_mb"], result["decompress_peak_mb"]) if isinstance(p, (int, float))]
    row.update(
        {
            "applicable": True,
            "bytes": result["bytes"],
            "ratio": raw / result["bytes"] if result["bytes"] else None,
            "compress_s": result["compress_s"],
            "decompress_s": result["decompress_s"],
            "compress_mb_s": _rate(raw, result["compress_s"]),
            "decompress_mb_s": _rate(raw, result["decompress_s"]),
            "compress_peak_mb": result["compress_peak_mb"],
            "decompress_peak_mb": result["decompress_peak_mb"],
            "peak_mb": max(peaks) if peaks else None,
            "memory_measure": result["memory_measure"],
            "info": result["info"],
        }
    )
    prepare = result.get("prepare_s")
    if prepare is not None:
        row["prepare_s"] = prepare
    assert check is not None
    row.update(cast(MethodRow, {k: v for k, v in check.items() if k != "columns"}))  # the summary, in its order
    row["columns"] = check["columns"]
    return row


# -- the whole benchmark -----------------------------------------------------------------------------------


def run_bench(
    table_or_path: Any,
    errors: Sequence[str],
    *,
    methods: Sequence[str] | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    config: BaleConfig | str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    max_rows: int | None = None,
    isolate: bool = True,
    measure_memory: bool = True,
    time_limit: float | None = None,
    title: str | None = None,
) -> BenchResults:
    """Benchmark every method (default: all registered) on one table, at each bound of ``errors``.

    ``errors``: bounds as for ``bale compress --error``; each plain bound (``rel=1e-3``) is one point of the
    curve, ``COLUMN:BOUND`` applies to every point; integers are exact. With ``out_dir``, writes
    ``bench.json``, ``bench.md`` and ``pareto.png`` there. Returns the results, ready for JSON.
    """
    from bale.bench.report import machine_info, write_outputs

    cfg = config if isinstance(config, BaleConfig) else load_config(config)
    table, notes = load_bench_table(table_or_path, columns=columns, tree=tree, max_rows=max_rows)
    settings = parse_settings(list(errors), {k: v.dtype for k, v in table.columns.items()}, cfg.compress.error)
    started = time.perf_counter()
    per_setting, skipped = run_methods(
        table, settings, methods, config=cfg, isolate=isolate, measure_memory=measure_memory, time_limit=time_limit
    )
    source = os.fspath(table_or_path) if isinstance(table_or_path, (str, os.PathLike)) else "table in memory"
    results: BenchResults = jsonable(
        {
            "format": FORMAT,
            "title": title or (Path(source).name if isinstance(table_or_path, (str, os.PathLike)) else source),
            "source": source,
            "rows": table.num_rows,
            "columns": {k: str(v.dtype) for k, v in table.columns.items()},
            "raw_bytes": table.nbytes,
            "notes": notes,
            "isolated": isolate and hasattr(os, "fork"),
            "settings": per_setting,
            "skipped": skipped,
            "seconds": time.perf_counter() - started,
            "machine": machine_info(),
        }
    )
    if out_dir is not None:
        write_outputs(results, Path(out_dir))
    return results
