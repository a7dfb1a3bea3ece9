"""Where decoding a table file spends its time: nanoseconds per value of each stage, one thread.

Every chunk of FILE is decoded with :func:`bale.chunks.decode_chunk` on this thread, ``--repeat``
times after one warm-up; each stage's time is the thread's CPU time inside its functions and
not inside a deeper stage's (a stack of timers around the library functions, wrapped for this
run only), from the run of least total CPU time (the machine may be shared).
ns/value = seconds / (rows x columns). Then the whole ``bale.decompress`` of the file, with one
worker and with the default workers, as MB/s of raw column bytes (best of ``--repeat``).

    python benchmarks/decode_stages.py FILE.bale [--model MODEL] [--repeat 5]
    python benchmarks/decode_stages.py --make 200000 [--data-dir ../shared/data]   # first rows of the tt̄ jets

The second form compresses the first rows of ``pythia_ttbar_jets.parquet`` (default training)
into a temporary file first. Run it with ``PYTHONPATH=<other checkout>/src`` on the same file
to compare two versions of the decoder.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import bale
from bale.api.training import _open_model
from bale.chunks import decode_chunk
from bale.container import BaleReader

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# (stage, module, attribute): the functions whose exclusive time makes a stage; absent ones are skipped
STAGES: list[tuple[str, str, str]] = [
    ("entropy decode (rANS, extra bits)", "bale.codec.rans", "decode_values"),
    ("stream headers (histogram, tables)", "bale.codec.uint_stream", "_decode"),
    ("exact columns (inverse transform)", "bale.chunks", "decode_exact"),
    ("network features", "bale.models.conditional", "ConditionalNetwork.feature"),
    ("network heads", "bale.models.conditional", "ConditionalNetwork.predict"),
    ("relation predictions", "bale.chunks", "relation_prediction"),
    ("lossy: dequantize, exp, sign, clip", "bale.chunks", "decode_lossy"),
    ("lossy: dequantize, exp, sign, clip", "bale.codec.lossy", "reconstruct_block"),
    ("quantities", "bale.chunks", "decode_quantity"),
]


class Timers:
    """Exclusive time per stage: a stage's clock stops while a deeper stage runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.inclusive: dict[str, float] = {}
        self.stack: list[list[Any]] = []  # [stage, start, time of deeper stages]

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [stage, time.thread_time(), 0.0]
            self.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                spent = time.thread_time() - frame[1]
                self.seconds[stage] = self.seconds.get(stage, 0.0) + spent - frame[2]
                self.inclusive[stage] = self.inclusive.get(stage, 0.0) + spent
                if self.stack:
                    self.stack[-1][2] += spent

        return timed


def install(timers: Timers) -> None:
    for stage, module_name, attr in STAGES:
        module = importlib.import_module(module_name)
        owner: Any = module
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, timers.wrap(stage, getattr(owner, name)))


def make_file(rows: int, data_dir: Path, tmp: Path) -> Path:
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "pythia_ttbar_jets.parquet").slice(0, rows)
    columns = {name: table[name].to_numpy() for name in table.column_names}
    path = tmp / f"ttbar_jets_{rows}.bale"
    bale.compress(columns, path, error="rel=1e-3")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("file", type=Path, nargs="?")
    ap.add_argument("--model", type=Path, default=None, help="the model, if not embedded in FILE")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--make", type=int, default=None, metavar="ROWS", help="compress the first ROWS tt̄ jets first")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(args.make, args.data_dir, Path(tmp)) if args.make else args.file
        if path is None:
            ap.error("give a FILE or --make ROWS")
        run(path, args.model, args.repeat)


def run(path: Path, model_path: Path | None, repeat: int) -> None:
    model = bale.load_model(model_path) if model_path else None
    with BaleReader(path) as reader:
        coder = _open_model(reader, model)[0]
        chunks = list(reader.iter_chunks())
        version = reader.version
        raw_bytes = sum(reader.num_rows * np.dtype(c["dtype"]).itemsize for c in reader.tables[0]["schema"])
    rows = sum(info.rows for info, _ in chunks)
    values = rows * len(coder.columns)
    for info, sections in chunks:  # warm-up: numba's kernels loaded, caches filled
        decode_chunk(sections, info.rows, coder, version)
    speeds = []
    for workers in (1, 2):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            bale.decompress(path, model=model, workers=workers)
            best = min(best, time.perf_counter() - t0)
        speeds.append(f"bale.decompress, {workers} worker(s): {best:.3f} s, {raw_bytes / best / 1e6:.0f} MB/s")
    timers = Timers()
    install(timers)
    total = timers.wrap("(total)", decode_chunk)
    runs = []
    for _ in range(repeat):  # the run of least CPU time: the one the other processes disturbed least
        timers.seconds, timers.inclusive = {}, {}
        for info, sections in chunks:
            total(sections, info.rows, coder, version)
        runs.append((timers.inclusive["(total)"], dict(timers.seconds)))
    whole, spent = min(runs, key=lambda run: run[0])
    spent.pop("(total)")
    spent["other (chunk bookkeeping)"] = whole - sum(spent.values())
    print(
        f"{path}: {rows:,} rows x {len(coder.columns)} columns, {len(chunks)} chunk(s), one thread, "
        f"CPU time of the best of {repeat} runs"
    )
    print(f"{'stage':<38}{'ns/value':>10}{'share':>8}")
    for stage, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<38}{1e9 * seconds / values:>10.2f}{100 * seconds / whole:>7.1f}%")
    print(f"{'total':<38}{1e9 * whole / values:>10.2f}{100.0:>7.1f}%")
    for line in speeds:
        print(f"{line} (best of {repeat}, before the timers were put in)")


if __name__ == "__main__":
    main()
