"""Grid speed: bale's grid codec against SZ3 on the CFD animation, in one run (issue 19, part 5).

Each repeat runs ``bale bench --grid``'s methods (:func:`bale.bench.grid.run_grid_bench`: bale through
its ``.bale`` file, written and read back; SZ3 with each of its algorithms) at range=1e-2, 1e-3 and
1e-4, one after the other, so the machine's noise falls on all of them alike; the table gives each
method's ratio and its median (and best) compress and decompress MB/s over the repeats. "bale codec"
is :func:`bale.grid.codec.encode_grid` / ``decode_grid`` alone (no file). ``--stages`` adds where
bale's time goes, per stage (timers around the codec's steps; medians).

    python benchmarks/grid_speed.py [--data-dir DIR] [--repeats N] [--stages] [--json PATH]

Goal (issue 19): compress ≥ 30 MB/s, decompress ≥ 100 MB/s, ratio ≥ SZ3's best algorithm.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import bale.grid.codec as codec
from bale.bench.grid import run_grid_bench

try:
    from bale.bounds import parse_field_bound
except ImportError:  # bale before the one range= parser: measure the old code with the same script
    from bale.grid.codec import parse_grid_bound as parse_field_bound

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOUNDS = ("range=1e-2", "range=1e-3", "range=1e-4")
METHODS = ["bale-grid", "sz3", "sz3-interp", "sz3-lorenzo-reg"]
ENCODE_STAGES = ("interp_code", "lorenzo_residuals", "estimate", "encode_residuals", "_raw_part", "_write_plan")
DECODE_STAGES = ("decode_residuals", "interp_rebuild", "lorenzo_rebuild", "to_values")


def _timed(name: str, fn: Callable[..., Any], spent: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    return wrapper


def codec_times(a: np.ndarray, spec: str, repeats: int, stages: bool) -> dict[str, Any]:
    """Median seconds of encode_grid and decode_grid alone, and (``stages``) of each stage inside them."""
    bound = parse_field_bound(spec, a).bound
    encoded = codec.encode_grid(a, bound)
    totals: dict[str, list[float]] = defaultdict(list)
    per_stage: dict[str, list[float]] = defaultdict(list)
    names = [n for n in (*ENCODE_STAGES, *DECODE_STAGES) if hasattr(codec, n)] if stages else []
    originals = {n: getattr(codec, n) for n in names}
    try:
        for _ in range(repeats):
            spent: dict[str, float] = defaultdict(float)
            for n in names:
                setattr(codec, n, _timed(n, originals[n], spent))
            started = time.perf_counter()
            encoded = codec.encode_grid(a, bound)
            totals["encode"].append(time.perf_counter() - started)
            started = time.perf_counter()
            decoded = codec.decode_grid(encoded.sections, a.shape, a.dtype, bound)
            totals["decode"].append(time.perf_counter() - started)
            for n in names:
                per_stage[n].append(spent[n])
    finally:
        for n, fn in originals.items():
            setattr(codec, n, fn)
    if not np.array_equal(decoded.view(np.uint64), encoded.decoded.view(np.uint64)):
        raise AssertionError("decode_grid does not give what encode_grid promised")
    out: dict[str, Any] = {k: statistics.median(v) for k, v in totals.items()}
    out["bytes"] = sum(map(len, encoded.sections.values()))
    out["stages"] = {n: statistics.median(v) for n, v in per_stage.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--stages", action="store_true", help="time each stage of bale's codec too")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with np.load(args.data_dir / "CFD_animation.npz") as z:
        a = np.ascontiguousarray(z["data"])
    mb = a.nbytes / 1e6
    run_grid_bench(a[:4], BOUNDS[:1], methods=METHODS)  # compile and warm up (numba, SZ3)
    runs = [run_grid_bench(a, BOUNDS, methods=METHODS) for _ in range(args.repeats)]
    results: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype), "repeats": args.repeats, "bounds": {}}
    print(f"CFD_animation {a.shape} {a.dtype} ({mb:.2f} MB), {args.repeats} repeats: median (best) MB/s\n")
    print("| bound | method | ratio | compress MB/s | decompress MB/s |")
    print("|---|---|--:|--:|--:|")
    for i, spec in enumerate(BOUNDS):
        rows: dict[str, Any] = {}
        for m in METHODS:
            seen = [next(r for r in run["settings"][i]["methods"] if r["method"] == m) for run in runs]
            if any("ratio" not in r for r in seen):
                rows[m] = {"error": seen[0].get("error") or seen[0].get("skipped")}
                print(f"| {spec} | {m} | {rows[m]['error']} | | |")
                continue
            if any(r["violations"] for r in seen):
                raise AssertionError(f"{m} breaks {spec}")
            comp = [r["compress_mb_s"] for r in seen]
            dec = [r["decompress_mb_s"] for r in seen]
            rows[m] = {"ratio": seen[0]["ratio"], "compress_mb_s": statistics.median(comp), "compress_best": max(comp),
                       "decompress_mb_s": statistics.median(dec), "decompress_best": max(dec)}  # fmt: skip
            r = rows[m]
            print(f"| {spec} | {m} | {r['ratio']:.2f} | {r['compress_mb_s']:.1f} ({r['compress_best']:.1f}) | "
                  f"{r['decompress_mb_s']:.1f} ({r['decompress_best']:.1f}) |")  # fmt: skip
        own = codec_times(a, spec, args.repeats, args.stages)
        rows["bale codec"] = {"bytes": own["bytes"], "compress_mb_s": mb / own["encode"],
                              "decompress_mb_s": mb / own["decode"], "stages_ms": {
                                  k: round(v * 1e3, 3) for k, v in own["stages"].items()}}  # fmt: skip
        print(f"| {spec} | bale codec (no file) | {a.nbytes / own['bytes']:.2f} | {mb / own['encode']:.1f} | "
              f"{mb / own['decode']:.1f} |")  # fmt: skip
        sz3 = [rows[m] for m in METHODS if m.startswith("sz3") and "ratio" in rows[m]]
        if sz3 and "ratio" in rows["bale-grid"]:
            best = max(r["ratio"] for r in sz3)
            rows["bale / SZ3 best ratio"] = round(rows["bale-grid"]["ratio"] / best, 3)
        results["bounds"][spec] = rows
    if args.stages:
        print("\nbale codec per stage, median ms (encode: " + ", ".join(ENCODE_STAGES) + "; decode: "
              + ", ".join(DECODE_STAGES) + "; the rest is lattice, checks and glue)\n")  # fmt: skip
        for spec, rows in results["bounds"].items():
            print(f"- {spec}: {rows['bale codec']['stages_ms']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
