"""bale demo: compress a real jet table, decompress it, print the ratio, the largest error and where the bytes go.

Runs on the 10,000-jet Pythia sample committed in examples/data (large enough that the network
is trained and kept: relations, the network and classical coding all show), or on any table:
    python examples/demo.py [TABLE] [--error rel=1e-3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import bale
from bale.api import as_table
from bale.bounds import check_bound, parse_bound

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "data" / "ttbar_jets_10k.parquet"
WHAT = {
    "exact": "lossless (integers)",
    "grid": "quantized, nothing to predict from",
    "delta": "quantized difference to the previous row",
    "relation": "closed-form relation of other columns",
    "learned": "predicted by the network",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", default=str(SAMPLE))
    parser.add_argument("--error", default="rel=1e-3")
    args = parser.parse_args()
    bound = parse_bound(args.error)
    with tempfile.TemporaryDirectory() as tmp:
        packed = Path(tmp) / "demo.bale"
        restored = Path(tmp) / f"demo_out{Path(args.table).suffix}"
        report = bale.compress(args.table, packed, error=args.error)
        bale.decompress(packed, restored)
        original, decoded = as_table(args.table), as_table(restored)
    print(f"{args.table}: {original.num_rows} rows, {len(original.columns)} columns, {original.nbytes:,} raw bytes")
    print(
        f"compressed to {report['file_bytes']:,} bytes: ratio {report['ratio']:.2f} with every byte counted "
        f"(model included), {report['ratio_without_model']:.2f} without the model"
    )
    print(f"{'column':<16}{'predictor':<11}{'bound':<12}{'max error':>12}  {'bits/value':>10}  violations")
    for name, values in original.columns.items():
        column = report["per_column"][name]
        col_bound = bound if values.dtype.kind == "f" else parse_bound("exact")
        with np.errstate(all="ignore"):
            diff = np.abs(decoded[name].astype(np.float64) - values.astype(np.float64))
            if col_bound.mode == "rel":
                diff = diff / np.abs(values.astype(np.float64))
        worst = float(np.nanmax(diff)) if len(diff) else 0.0
        kind = "rel" if col_bound.mode == "rel" else "abs"
        print(
            f"{name:<16}{column['predictor']:<11}{column['bound']:<12}{worst:>12.3e}  "
            f"{column['bits_per_value']:>10.2f}  {check_bound(values, decoded[name], col_bound)}  ({kind})"
        )
    print("where the bytes go, by predictor:")
    total = report["file_bytes"]
    for kind, what in WHAT.items():
        names = [n for n, c in report["per_column"].items() if c["predictor"] == kind]
        size = sum(report["per_column"][n]["bytes"] for n in names)
        if names:
            print(f"  {kind:<9} {len(names):>2} columns {size:>9,} B  {100 * size / total:5.1f} %  {what}")
    other = {k: v for k, v in report["bytes"].items() if k in ("header", "model", "latents", "index")}
    print("  " + ", ".join(f"{k} {v:,} B" for k, v in other.items()) + " (the rest of the file)")


if __name__ == "__main__":
    main()
