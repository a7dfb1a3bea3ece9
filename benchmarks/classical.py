"""Classical-compressor baselines for a columnar table under a pointwise relative bound: a thin wrapper.

The methods live in the library, :mod:`bale.bench.methods` (``bale bench`` runs them all, at any bound);
this module keeps the interface ``benchmarks/core.py`` uses. The table is a ``dict[str, np.ndarray]`` of
1-D columns; float columns are compressed at ``rel`` (``|x' - x| <= rel * |x|``; zeros, NaN and ±inf
come back bit-exact), integer and bool columns exactly. Every byte needed to decode is counted, every
value is checked after decoding, everything runs single-threaded.

Methods: every classical peer of ``bale bench`` (see each module of ``bale.bench.methods``)
---------------------------------------------------------------------------------------
``zstd-3``, ``zstd-19``, ``lzma``, ``blosc2-shuffle-zstd``, ``blosc2-bitshuffle-zstd``, ``pcodec``   lossless
``bitround-<backend>``         numcodecs BitRound, the fewest keepbits meeting the bound per column, then a
                               lossless backend: zstd-19, blosc2 shuffle/bitshuffle + zstd, or pcodec
                               (level 12, FloatQuant on the zeroed bits where it is smaller); the keepbits
                               search is in the compress time
``sz3-abs``, ``sz3-log``, ``sz3-log-nopred``   SZ3 on the values / on log|x| (default / NOPRED algorithm),
                               exceptions listed
``zfp-abs``, ``zfp-log``       zfp accuracy mode on the values / on log|x|, exceptions listed
``fpzip``                      fpzip at the fewest precision bits meeting the bound

A method whose library is missing is left out of the results (``skipped_methods()`` says why).

CLI::

    python benchmarks/classical.py FILE.parquet [--rows N] [--rel 1e-3] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from bale.bench.methods import METHODS, get_method
from bale.bench.runner import run_methods
from bale.bounds import Bound, resolve_bounds
from bale.table import Table

CLASSICAL = [  # every registered method of the classical families (bale.bench.report.CLASSICAL_FAMILIES)
    "zstd-3",
    "zstd-19",
    "lzma",
    "blosc2-shuffle-zstd",
    "blosc2-bitshuffle-zstd",
    "pcodec",
    "bitround-zstd-19",
    "bitround-blosc2-shuffle-zstd",
    "bitround-blosc2-bitshuffle-zstd",
    "bitround-pcodec",
    "sz3-abs",
    "sz3-log",
    "sz3-log-nopred",
    "zfp-abs",
    "zfp-log",
    "fpzip",
]

Columns = dict[str, np.ndarray]


def classical_sizes(columns: Columns, rel: float = 1e-3, methods: list[str] | None = None) -> dict[str, dict]:
    """Compress the whole table with each classical method; sizes, timings and verified errors per method.

    Per method: ``bytes``, ``compress_s``, ``decompress_s``, ``max_rel_err``, ``violations``, ``ok`` (no
    violation, no failure) and what the method reports (``keepbits``, ``exceptions``); a failed method has
    ``bytes`` None, ``ok`` False and ``error``.
    """
    cols = {k: np.ascontiguousarray(np.asarray(v).reshape(-1)) for k, v in columns.items()}
    cols = {k: v.astype(v.dtype.newbyteorder("=")) if v.dtype.byteorder == ">" else v for k, v in cols.items()}
    table = Table(cols)
    bounds = resolve_bounds({k: v.dtype for k, v in cols.items()}, Bound("rel", rel))
    names = [m for m in (methods or CLASSICAL) if m in METHODS]
    per_setting, _ = run_methods(table, [(f"rel={rel:g}", bounds)], names, isolate=False, measure_memory=False)
    results: dict[str, dict] = {}
    for row in per_setting[0]["methods"]:
        if "error" in row or not row.get("applicable", True):
            why = row.get("error") or row.get("reason")
            results[row["name"]] = {"bytes": None, "compress_s": None, "decompress_s": None, "max_rel_err": None,
                                    "ok": False, "error": why}
            continue
        results[row["name"]] = {
            "bytes": row["bytes"],
            "compress_s": row["compress_s"],
            "decompress_s": row["decompress_s"],
            "max_rel_err": row["max_rel_err"],
            "violations": row["violations"],
            "ok": row["violations"] == 0,
            **row["info"],
        }
    return results


def skipped_methods(methods: list[str] | None = None) -> dict[str, str]:
    """Methods that cannot run in this environment, with the reason."""
    out = {}
    for name in methods or CLASSICAL:
        reason = get_method(name).missing()
        if reason:
            out[name] = reason
    return out


def read_parquet_numeric(path: str, rows: int | None = None) -> Columns:
    """The integer, float and bool columns of a Parquet file (integer/bool columns with nulls left out)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if rows is not None:
        table = table.slice(0, rows)
    out: Columns = {}
    for field in table.schema:
        t = field.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            continue
        col = table.column(field.name)
        if col.null_count and not pa.types.is_floating(t):
            print(f"skipping {field.name}: integer/bool column with nulls", file=sys.stderr)
            continue
        out[field.name] = np.ascontiguousarray(col.to_numpy())
    return out


def _fmt_table(res: dict[str, dict], raw: int) -> str:
    lines = [f"{'method':<32} {'bytes':>11} {'ratio':>7} {'comp MB/s':>10} {'decomp MB/s':>12} "
             f"{'max rel err':>12} {'ok':>5}"]
    for name, r in sorted(res.items(), key=lambda kv: -(raw / kv[1]["bytes"]) if kv[1]["bytes"] else math.inf):
        if r["bytes"] is None:
            lines.append(f"{name:<32} {'-':>11} {'-':>7} {'-':>10} {'-':>12} {'-':>12} {'False':>5}  {r['error']}")
            continue
        cs = raw / 1e6 / r["compress_s"] if r["compress_s"] else math.inf
        ds = raw / 1e6 / r["decompress_s"] if r["decompress_s"] else math.inf
        note = f"  exceptions={r['exceptions']}" if r.get("exceptions") else ""
        lines.append(f"{name:<32} {r['bytes']:>11,} {raw / r['bytes']:>7.3f} {cs:>10.1f} {ds:>12.1f} "
                     f"{r['max_rel_err']:>12.3e} {r['ok']!s:>5}{note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("file", help="Parquet file; all integer, float and bool columns are used")
    ap.add_argument("--rows", type=int, default=None, help="use only the first N rows")
    ap.add_argument("--rel", type=float, default=1e-3, help="pointwise relative error bound for floats")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    columns = read_parquet_numeric(args.file, args.rows)
    if not columns:
        ap.error("no numeric columns")
    raw = sum(v.nbytes for v in columns.values())
    res = classical_sizes(columns, args.rel)
    skipped = skipped_methods()
    n = len(next(iter(columns.values())))
    if args.json:
        print(json.dumps({"file": args.file, "rows": n, "rel": args.rel, "raw_bytes": raw,
                          "columns": {k: str(v.dtype) for k, v in columns.items()}, "methods": res,
                          "skipped": skipped}, indent=2, default=str))
        return
    floats = sum(v.dtype.kind == "f" for v in columns.values())
    print(f"{args.file}: {n:,} rows, {len(columns)} columns ({floats} float), raw {raw:,} bytes, rel={args.rel:g}")
    print(_fmt_table(res, raw))
    for k, why in skipped.items():
        print(f"skipped {k}: {why}")


if __name__ == "__main__":
    main()
