"""Many files with one model: ``bale.batch.compress_many`` on Dask against a plain loop.

Builds ``--files`` Parquet files of ``--rows-per-file`` rows each from a tiled copy of the Pythia
tt-bar jets (each slice starts elsewhere, so no two files are equal), trains one model on a sample
drawn across them (``bale.batch.sample_rows``, the sampler of ``bale train``), then times:

* a plain Python loop over ``bale.compress(..., workers=1)`` in this process (the reference);
* ``compress_many`` on a local Dask cluster of 1 worker process, then of 2, ...;
* the same on a cluster started beforehand (``local_client``, passed as ``client=``): the steady state;
* a re-run into a folder already done, where every file is skipped after its checksums.

The plain ``compress_many`` times include starting and closing the cluster. MB/s is of raw table bytes
(what bale's ratio is measured against). Every output is checked to be byte-identical to the loop's.

    python benchmarks/dask_many_files.py [--files 20] [--rows-per-file 100000] [--workers 1 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import bale
from bale.batch import compress_many, local_client, sample_rows
from bale.config import BaleConfig

ERROR = "rel=1e-3"
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pythia_ttbar_jets.parquet"


def make_inputs(source: Path, folder: Path, files: int, rows: int) -> list[Path]:
    """``files`` Parquet files of ``rows`` rows, slices of ``source`` tiled as often as needed."""
    table = pq.read_table(source)
    numeric = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    table = table.select(numeric).replace_schema_metadata(None)
    n = table.num_rows
    step = max(1, n // files)  # each file starts at another row of the original
    tiles = -(-((files - 1) * step + rows) // n)
    tiled = pa.concat_tables([table] * tiles)
    paths = []
    for i in range(files):
        path = folder / f"jets_{i:03d}.parquet"
        pq.write_table(tiled.slice(i * step, rows), path)
        paths.append(path)
    return paths


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plain_loop(inputs: list[Path], out: Path, model: Path) -> float:
    out.mkdir()
    started = time.perf_counter()
    for path in inputs:
        bale.compress(path, out / f"{path.stem}.bale", model=model, error=ERROR, workers=1)
    return time.perf_counter() - started


def timed_many(
    inputs: list[Path], out: Path, model: Path, workers: int, client: object = None
) -> tuple[float, bale.batch.BatchReport]:
    started = time.perf_counter()
    report = compress_many(inputs, out, model=model, workers=workers, client=client, progress=False, error=ERROR)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(report.summary())
    return seconds, report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Parquet table to tile")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--rows-per-file", type=int, default=100_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Dask worker processes to time")
    ap.add_argument("--train-rows", type=int, default=50_000, help="rows sampled across the files for training")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"bale {bale.__version__}, {os.cpu_count()} cores, {args.files} files of {args.rows_per_file} rows")
    results: dict = {"version": bale.__version__, "cores": os.cpu_count(), "error": ERROR, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bale-many-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "in").mkdir()
        inputs = make_inputs(args.data, tmp / "in", args.files, args.rows_per_file)
        input_bytes = sum(p.stat().st_size for p in inputs)
        raw_bytes = sum(bale.api.as_table(p).nbytes for p in inputs)

        started = time.perf_counter()
        cfg = BaleConfig()
        cfg.train.epochs = args.epochs
        cfg.train.max_rows = args.train_rows
        sample = sample_rows(inputs, max_rows=args.train_rows, seed=0)
        model = tmp / "model.safetensors"
        bale.save_model(bale.train(sample, error=ERROR, config=cfg), model)
        results["train"] = {"rows": sample.num_rows, "seconds": round(time.perf_counter() - started, 2)}
        print(f"trained on {sample.num_rows} rows sampled across the files in {results['train']['seconds']:.1f} s")

        # warm this process (numba's compiled coder, first reads) so the loop is not charged for it
        bale.compress(inputs[0], tmp / "warm.bale", model=model, error=ERROR, workers=1)

        loop_seconds = plain_loop(inputs, tmp / "loop", model)
        reference = {p.name: sha256(p) for p in (tmp / "loop").glob("*.bale")}
        output_bytes = sum(p.stat().st_size for p in (tmp / "loop").glob("*.bale"))
        runs = [{"mode": "python loop", "workers": 1, "seconds": loop_seconds, "done": len(inputs)}]
        last_out = None
        for workers in args.workers:
            last_out = tmp / f"dask{workers}"
            seconds, report = timed_many(inputs, last_out, model, workers)
            same = {p.name: sha256(p) for p in last_out.glob("*.bale")} == reference
            runs.append(
                {
                    "mode": "compress_many",
                    "workers": workers,
                    "seconds": seconds,
                    "done": len(report.done),
                    "identical": same,
                }
            )
        for workers in args.workers:  # the processes started (and bale imported) before the clock starts
            started = time.perf_counter()
            with local_client(workers) as client:
                client.run(importlib.import_module, "bale.api")
                startup = time.perf_counter() - started
                out = tmp / f"up{workers}"
                seconds, report = timed_many(inputs, out, model, workers, client)
            same = {p.name: sha256(p) for p in out.glob("*.bale")} == reference
            runs.append(
                {
                    "mode": "cluster up",
                    "workers": workers,
                    "seconds": seconds,
                    "done": len(report.done),
                    "identical": same,
                    "startup_seconds": round(startup, 2),
                }
            )
        if last_out is not None:
            seconds, report = timed_many(inputs, last_out, model, args.workers[-1])
            runs.append(
                {
                    "mode": "re-run (skips)",
                    "workers": args.workers[-1],
                    "seconds": seconds,
                    "done": len(report.done),
                    "skipped": len(report.skipped),
                }
            )

    print(
        f"\ninput {input_bytes / 1e6:.1f} MB of Parquet, {raw_bytes / 1e6:.1f} MB raw -> "
        f"{output_bytes / 1e6:.1f} MB of .bale (ratio {raw_bytes / output_bytes:.2f}, model not counted)\n"
    )
    header = f"{'mode':<16}{'workers':>8}{'files':>7}{'raw MB':>9}{'seconds':>9}{'MB/s':>8}{'speed-up':>10}  note"
    print(header)
    print("-" * len(header))
    for run in runs:
        run["files"] = len(inputs)
        run["raw_mb"] = round(raw_bytes / 1e6, 2)
        run["mb_per_s"] = round(raw_bytes / 1e6 / run["seconds"], 2)
        run["speedup"] = round(loop_seconds / run["seconds"], 2)
        run["seconds"] = round(run["seconds"], 2)
        note = ""
        if "identical" in run:
            note = "outputs identical to the loop's" if run["identical"] else "OUTPUTS DIFFER from the loop's"
        if "startup_seconds" in run:
            note += f" (start: {run['startup_seconds']:.1f} s, not counted)"
        if "skipped" in run:
            note = f"{run['skipped']} skipped, {run['done']} redone"
        print(
            f"{run['mode']:<16}{run['workers']:>8}{run['files']:>7}{run['raw_mb']:>9.1f}{run['seconds']:>9.2f}"
            f"{run['mb_per_s']:>8.1f}{run['speedup']:>9.2f}x  {note}"
        )
    results.update(
        files=len(inputs), input_bytes=input_bytes, raw_bytes=raw_bytes, output_bytes=output_bytes, runs=runs
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":  # needed: the Dask worker processes are spawned and import this module
    main()
