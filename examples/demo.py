"""bale demo: compress a real jet table, decompress it, print the ratio and the largest error.

Runs on the 2,000-jet Pythia sample committed in tests/data, or on any table given:
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
SAMPLE = HERE.parent / "tests" / "data" / "ttbar_jets_2k.parquet"


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
    print(f"{'column':<16}{'predictor':<11}{'bound':<12}{'max error':>12}  violations")
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
            f"{check_bound(values, decoded[name], col_bound)}  ({kind})"
        )


if __name__ == "__main__":
    main()
