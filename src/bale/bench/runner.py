"""``run_bench``: every method on the same table, timed, its memory measured and every value checked.

Each method runs in a forked child process (``isolate=True``, the default where ``os.fork`` exists), so
that a crash in a compression library, its memory and its threads stay there, and the peak memory is the
child's own. Before each step (compress, then decompress) the child touches the whole input, gives freed
heap memory back (``malloc_trim``) and resets its peak resident set size (``/proc/self/clear_refs``); the
peak reported is the step's VmHWM above the resident size before it: the memory the step needs beyond
the input (and, for decompress, the compressed bytes) already in memory. With ``isolate=False`` the same
is measured in this process. Where the peak cannot be reset, tracemalloc measures instead (NumPy's and
Python's allocations only; libraries' own ``malloc`` is not seen).

Timing is ``time.perf_counter`` around one compress and one decompress call of the whole table, one run,
single-threaded. MB/s = raw bytes of the table / 10⁶ / seconds. Verification (not timed) checks every value
of every column with :func:`bale.bounds.violations` and measures the errors reached
(:mod:`bale.bench.metrics`).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import json
import logging
import os
import re
import signal
import tempfile
import time
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bale.api import as_dataset, as_table
from bale.bench.methods import METHODS, Bounds, Columns, Context, Method, get_method
from bale.bench.metrics import column_check, summarize
from bale.bounds import Bound, parse_bound, resolve_bounds
from bale.config import BaleConfig, load_config
from bale.errors import BaleInputError
from bale.io import detect_format
from bale.table import Dataset, Table

__all__ = ["load_bench_table", "parse_settings", "run_bench", "run_methods"]

log = logging.getLogger(__name__)

FORMAT = "bale-bench/1"


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


# -- measuring one method in one process -------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+)", f.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _release_free_memory() -> None:
    """Give freed heap memory back to the system, so that the next step's peak is its own, not hidden by
    pages an earlier step freed but the allocator kept resident (glibc ``malloc_trim``)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)


class _Memory:
    """Peak memory of a step: VmHWM above the resident size before it, or tracemalloc's peak."""

    def __init__(self, enabled: bool) -> None:
        self.mode = "none"
        if enabled:
            try:
                self._reset_hwm()
                self.mode = "vmhwm"
            except OSError:
                self.mode = "tracemalloc"
        self._base = 0

    @staticmethod
    def _reset_hwm() -> None:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def start(self) -> None:
        _release_free_memory()
        if self.mode == "vmhwm":
            self._reset_hwm()
            self._base = _status_kb("VmRSS")
        elif self.mode == "tracemalloc":
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            tracemalloc.start()

    def peak_mb(self) -> float | None:
        if self.mode == "vmhwm":
            return max(_status_kb("VmHWM") - self._base, 0) / 1024
        if self.mode == "tracemalloc":
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return peak / 2**20
        return None


def _touch(columns: Columns) -> None:
    for a in columns.values():
        if a.nbytes:
            np.frombuffer(a.data, dtype=np.uint8)[::4096].sum()


def _measure(method: Method, columns: Columns, settings: list[Bounds], ctx: Context, memory: bool) -> dict[str, Any]:
    """Run ``method`` once under ``settings[0]`` and check its output against every setting."""
    state = None
    prepare_s = None
    if method.prepare is not None:
        started = time.perf_counter()
        state = method.prepare(columns, settings[0], ctx)
        prepare_s = time.perf_counter() - started
    _touch(columns)
    mem = _Memory(memory)
    mem.start()
    started = time.perf_counter()
    encoded = method.compress(columns, settings[0], ctx, state)
    compress_s = time.perf_counter() - started
    compress_peak = mem.peak_mb()
    mem.start()
    started = time.perf_counter()
    decoded = method.decompress(encoded, ctx, state)
    decompress_s = time.perf_counter() - started
    decompress_peak = mem.peak_mb()
    checks = []
    for bounds in settings:
        per_column = {name: column_check(a, decoded.get(name), bounds[name]) for name, a in columns.items()}
        extra = sorted(set(decoded) - set(columns))
        checks.append({"columns": per_column, **summarize(per_column, bounds), "unexpected_columns": extra})
    return {
        "bytes": int(encoded.nbytes),
        "compress_s": compress_s,
        "decompress_s": decompress_s,
        "prepare_s": prepare_s,
        "compress_peak_mb": compress_peak,
        "decompress_peak_mb": decompress_peak,
        "memory_measure": mem.mode,
        "info": encoded.info,
        "checks": checks,
    }


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if np.isfinite(value) else str(value)
    if isinstance(obj, (str, type(None))):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _in_child(
    method: Method, columns: Columns, settings: list[Bounds], ctx: Context, memory: bool, time_limit: float | None
) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, send the JSON result, exit without running the parent's cleanup
        code = 0
        try:
            os.close(read_fd)
            faulthandler.disable()  # a crash is reported by the parent, without the child's traceback
            if time_limit:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(max(1, int(time_limit)))
            try:
                result = _jsonable(_measure(method, columns, settings, ctx, memory))
            except BaseException as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            with os.fdopen(write_fd, "w") as out:
                json.dump(result, out)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        why = f"timed out after {time_limit:g} s" if sig == signal.SIGALRM else f"killed by signal {sig}"
        return {"error": f"the method's process was {why}"}
    try:
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    except json.JSONDecodeError:
        return {"error": f"the method's process exited with status {os.WEXITSTATUS(status)} and no result"}


def run_methods(
    table: Table,
    settings: list[tuple[str, Bounds]],
    methods: Sequence[str] | None = None,
    *,
    config: BaleConfig | None = None,
    isolate: bool = True,
    measure_memory: bool = True,
    time_limit: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run ``methods`` (default: all registered) on ``table`` under each setting.

    Returns one list of result rows per setting (``[{"spec", "bounds", "methods": [...]}]``) and the
    methods skipped because a library is missing (name → reason).
    """
    selected = [get_method(n) for n in (methods if methods is not None else list(METHODS))]
    columns = dict(table.columns)
    raw = table.nbytes
    isolate = isolate and hasattr(os, "fork")
    skipped: dict[str, str] = {}
    out: list[dict[str, Any]] = [
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
            rows: dict[int, dict[str, Any]] = {}
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
                    result = _in_child(method, columns, group, ctx, measure_memory, time_limit)
                else:
                    try:
                        result = _jsonable(_measure(method, columns, group, ctx, measure_memory))
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


def _row(method: Method, result: dict[str, Any], check: dict[str, Any] | None, raw: int) -> dict[str, Any]:
    row: dict[str, Any] = {"name": method.name, "family": method.family, "description": method.description}
    if "not_applicable" in result:
        return {**row, "applicable": False, "reason": result["not_applicable"]}
    if "error" in result:
        return {**row, "applicable": True, "error": result["error"]}
    peaks = [p for p in (result["compress_peak_mb"], result["decompress_peak_mb"]) if isinstance(p, (int, float))]
    row.update(
        applicable=True,
        bytes=result["bytes"],
        ratio=raw / result["bytes"] if result["bytes"] else None,
        compress_s=result["compress_s"],
        decompress_s=result["decompress_s"],
        compress_mb_s=_rate(raw, result["compress_s"]),
        decompress_mb_s=_rate(raw, result["decompress_s"]),
        compress_peak_mb=result["compress_peak_mb"],
        decompress_peak_mb=result["decompress_peak_mb"],
        peak_mb=max(peaks) if peaks else None,
        memory_measure=result["memory_measure"],
        info=result["info"],
    )
    if result.get("prepare_s") is not None:
        row["prepare_s"] = result["prepare_s"]
    assert check is not None
    row.update({k: v for k, v in check.items() if k != "columns"})
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
) -> dict[str, Any]:
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
    results: dict[str, Any] = _jsonable(
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
