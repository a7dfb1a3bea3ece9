"""What a bound on the rebuilt jet mass costs, and what it buys (issue 20, part 1).

Each jet table is compressed twice with the same settings: ``-e rel=1e-3`` alone, then with
``-q 'mass(energy,px,py,pz):rel=1e-3'`` too; with ``--drop mass`` the stored ``mass`` column
is left out first (then nothing in the table predicts the rebuilt mass but the network).
Every file is decompressed; the rebuilt mass of every jet is compared with the original's,
and every column checked against its bound. The ratio counts every byte of the file, the
embedded model included.

    python benchmarks/quantities.py [--data-dir DIR] [--files NAME ...] [--drop COLUMN] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

import bale
from bale.bounds import Bound, check_bound, violations
from bale.models.quantities import quantity_values

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = ["pythia_ttbar_jets.parquet", "pythia_qcd_jets.parquet"]
MASS = "mass(energy,px,py,pz):rel=1e-3"
FOUR = ["energy", "px", "py", "pz"]


def _one(columns: dict[str, np.ndarray], out: Path, quantities: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    report = bale.compress(columns, out, error="rel=1e-3", quantities=quantities)
    seconds = time.perf_counter() - started
    decoded = bale.decompress(out).columns
    broken = sum(
        check_bound(v, decoded[c], Bound("rel", 1e-3) if v.dtype.kind == "f" else Bound("exact"))
        for c, v in columns.items()
    )
    before = quantity_values("mass_epxpypz", [columns[c] for c in FOUR])
    after = quantity_values("mass_epxpypz", [decoded[c] for c in FOUR])
    with np.errstate(all="ignore"):
        rel = np.abs(after - before) / np.abs(before)
    return {
        "ratio": report["ratio"],
        "file_bytes": report["file_bytes"],
        "energy_bytes": report["per_column"]["energy"]["bytes"],
        "seconds": round(seconds, 1),
        "column_violations": int(broken),
        "mass_violations": int(violations(before, after, Bound("rel", 1e-3)).sum()),
        "mass_rel_error_median": float(np.nanmedian(rel)),
        "mass_rel_error_max": float(np.nanmax(rel)),
        "massless_after": int(np.count_nonzero((after == 0) & (before != 0))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", nargs="*", default=FILES)
    parser.add_argument("--drop", nargs="*", default=[], help="columns to leave out first (e.g. mass)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.files:
            table = pq.read_table(args.data_dir / name)
            columns = {c: table[c].to_numpy() for c in table.column_names if c not in args.drop}
            plain = _one(columns, Path(tmp) / "plain.bale", [])
            bounded = _one(columns, Path(tmp) / "mass.bale", [MASS])
            cost = 1 - bounded["ratio"] / plain["ratio"]
            results[name] = {"plain": plain, "mass bound": bounded, "ratio cost": round(cost, 4)}
            print(
                f"{name}{' without ' + ','.join(args.drop) if args.drop else ''}: ratio {plain['ratio']:.3f} -> "
                f"{bounded['ratio']:.3f} ({100 * cost:+.2f} % of the ratio); energy section "
                f"{plain['energy_bytes']:,} -> {bounded['energy_bytes']:,} B; rebuilt mass off bound on "
                f"{plain['mass_violations']:,} -> {bounded['mass_violations']:,} of {len(columns['energy']):,} jets "
                f"(median error {plain['mass_rel_error_median']:.2e} -> {bounded['mass_rel_error_median']:.2e}, "
                f"massless {plain['massless_after']} -> {bounded['massless_after']}); column violations "
                f"{plain['column_violations']} / {bounded['column_violations']}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
