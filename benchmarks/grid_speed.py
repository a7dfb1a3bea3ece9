"""Grid speed: bale's grid codec against SZ3 on the CFD animation, in one run (issue 19, part 5).

The methods are ``bale bench --grid``'s (:mod:`bale.bench.grid`): bale through its ``.bale`` file,
written (and fsynced) and read back, and SZ3 with each of its algorithms; their ratios and bound
checks come from one :func:`~bale.bench.grid.run_grid_bench` per bound (every value checked, SZ3's
misses patched at their cost). Then each method is timed ``--repeats`` times, one round of all
methods after another, so a shared machine's noise falls on all of them alike: median MB/s by the
wall clock (and the best), and by this process's CPU time (what a busy machine's wall clock hides).
"bale codec alone" is :func:`bale.grid.codec.encode_grid` / ``decode_grid`` without the file.
``--stages`` adds where bale's time goes, per stage (timers around the codec's steps; medians).

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

import bale.bounds
import bale.grid.codec as codec
from bale.bench.grid import GRID_METHODS, run_grid_bench
from bale.bounds import Bound
from bale.config import BaleConfig

try:
    import bale.grid.plans as plans
except ImportError:  # bale before the codec was split: no stages to time there
    plans = codec

# bale before the one range= parser (to measure the old code with the same script): the codec's own
parse_field_bound = getattr(bale.bounds, "parse_field_bound", None) or codec.parse_grid_bound

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOUNDS = ("range=1e-2", "range=1e-3", "range=1e-4")
METHODS = ["bale-grid", "sz3", "sz3-interp", "sz3-lorenzo-reg"]
# the stages timed, where the codec calls them: encoding (write_plan, the coding of the plan kept, holds
# encode_residuals and the raw values), then decoding
STAGES = (("plans", "interp_code"), ("plans", "lorenzo_residuals"), ("plans", "estimate"), ("codec", "write_plan"),
          ("plans", "encode_residuals"), ("codec", "decode_residuals"), ("codec", "interp_rebuild"),
          ("codec", "lorenzo_rebuild"), ("codec", "to_values"))  # fmt: skip


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
    modules = {"plans": plans, "codec": codec}
    where = [(modules[m], n) for m, n in STAGES if hasattr(modules[m], n)] if stages else []
    names = [n for _, n in where]
    originals = {n: getattr(m, n) for m, n in where}
    try:
        for _ in range(repeats):
            spent: dict[str, float] = defaultdict(float)
            for m, n in where:
                setattr(m, n, _timed(n, originals[n], spent))
            started = time.perf_counter()
            encoded = codec.encode_grid(a, bound)
            totals["encode"].append(time.perf_counter() - started)
            started = time.perf_counter()
            decoded = codec.decode_grid(encoded.sections, a.shape, a.dtype, bound)
            totals["decode"].append(time.perf_counter() - started)
            for n in names:
                per_stage[n].append(spent[n])
    finally:
        for m, n in where:
            setattr(m, n, originals[n])
    if not np.array_equal(decoded.view(np.uint64), encoded.decoded.view(np.uint64)):
        raise AssertionError("decode_grid does not give what encode_grid promised")
    out: dict[str, Any] = {k: statistics.median(v) for k, v in totals.items()}
    out["bytes"] = sum(map(len, encoded.sections.values()))
    out["stages"] = {n: statistics.median(v) for n, v in per_stage.items()}
    return out


def _speeds(method: str, a: np.ndarray, bound: Bound, repeats: int) -> dict[str, float]:
    """Median and best MB/s of one method, by the wall clock and by this process's CPU time."""
    m, cfg, mb = GRID_METHODS[method], BaleConfig(), a.nbytes / 1e6
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        _, payload = m.compress(a, bound, cfg, None)
        times["c_wall"].append(time.perf_counter() - wall)
        times["c_cpu"].append(time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        m.decompress(payload, a)
        times["d_wall"].append(time.perf_counter() - wall)
        times["d_cpu"].append(time.process_time() - cpu)
    out = {}
    for key, values in times.items():
        out[key] = mb / statistics.median(values)
        out[key + "_best"] = mb / min(values)
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
    results: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype), "repeats": args.repeats, "bounds": {}}
    print(f"CFD_animation {a.shape} {a.dtype} ({mb:.2f} MB), {args.repeats} repeats each, methods interleaved.")
    print("MB/s: median by the wall clock (best), and median by this process's CPU time [cpu]\n")
    print("| bound | method | ratio | compress MB/s | decompress MB/s |")
    print("|---|---|--:|--:|--:|")
    for spec in BOUNDS:
        checked = run_grid_bench(a, [spec], methods=METHODS)["settings"][0]  # ratios, every value checked
        rows: dict[str, Any] = {}
        for r in checked["methods"]:
            if "ratio" not in r:
                rows[r["method"]] = {"error": r.get("error") or r.get("skipped")}
            elif r["violations"]:
                raise AssertionError(f"{r['method']} breaks {spec}")
            else:
                rows[r["method"]] = {"ratio": r["ratio"]}
        bound = parse_field_bound(spec, a).bound
        timed: dict[str, list[dict[str, float]]] = defaultdict(list)
        for _ in range(args.repeats):  # one round of every method, then again: the noise falls on all
            for m in METHODS:
                if "ratio" in rows[m]:
                    timed[m].append(_speeds(m, a, bound, 1))
        for m in METHODS:
            if "ratio" not in rows[m]:
                print(f"| {spec} | {m} | {rows[m]['error']} | | |")
                continue
            for key in ("c_wall", "c_cpu", "d_wall", "d_cpu"):
                rows[m][key] = statistics.median(t[key] for t in timed[m])
                rows[m][key + "_best"] = max(t[key] for t in timed[m])
            r = rows[m]
            comp = f"{r['c_wall']:.1f} ({r['c_wall_best']:.1f}) [{r['c_cpu']:.1f}]"
            print(f"| {spec} | {m} | {r['ratio']:.2f} | {comp} | {r['d_wall']:.1f} ({r['d_wall_best']:.1f}) "
                  f"[{r['d_cpu']:.1f}] |")  # fmt: skip
        own = codec_times(a, spec, args.repeats, args.stages)
        rows["bale codec"] = {"bytes": own["bytes"], "c_wall": mb / own["encode"], "d_wall": mb / own["decode"],
                              "stages_ms": {k: round(v * 1e3, 3) for k, v in own["stages"].items()}}  # fmt: skip
        print(f"| {spec} | bale codec alone (no file) | {a.nbytes / own['bytes']:.2f} | {mb / own['encode']:.1f} | "
              f"{mb / own['decode']:.1f} |")  # fmt: skip
        sz3 = [rows[m]["ratio"] for m in METHODS if m.startswith("sz3") and "ratio" in rows[m]]
        if sz3 and "ratio" in rows["bale-grid"]:
            rows["bale / SZ3 best ratio"] = round(rows["bale-grid"]["ratio"] / max(sz3), 3)
        results["bounds"][spec] = rows
    print("\nbale / SZ3's best ratio: " + ", ".join(
        f"{spec} {rows.get('bale / SZ3 best ratio')}" for spec, rows in results["bounds"].items()))  # fmt: skip
    if args.stages:
        print("\nbale codec per stage, median ms (write_plan holds encode_residuals; the rest of encode_grid "
              "is the lattice, the miss checks and glue)\n")  # fmt: skip
        for spec, rows in results["bounds"].items():
            print(f"- {spec}: {rows['bale codec']['stages_ms']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
