"""One method on one table: timed, its memory measured, its output checked, in a child process or here.

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
import os
import re
import signal
import time
import tracemalloc
from typing import Any, cast

import numpy as np

from bale.bench.methods import Bounds, Columns, Context, Method
from bale.bench.metrics import column_check, summarize
from bale.bench.results import Check, Measurement

__all__ = ["in_child", "jsonable", "measure"]


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


def measure(method: Method, columns: Columns, settings: list[Bounds], ctx: Context, memory: bool) -> Measurement:
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
    checks: list[Check] = []
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


def jsonable(obj: Any) -> Any:
    """Plain JSON types; non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
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


def in_child(
    method: Method, columns: Columns, settings: list[Bounds], ctx: Context, memory: bool, time_limit: float | None
) -> Measurement:
    """:func:`measure` in a forked child, its result sent back as JSON; a crash or a timeout is an ``error``."""
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
                result = jsonable(measure(method, columns, settings, ctx, memory))
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
        return cast(Measurement, json.loads(text))
    except json.JSONDecodeError:
        return {"error": f"the method's process exited with status {os.WEXITSTATUS(status)} and no result"}
