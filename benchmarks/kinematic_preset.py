"""The ``kinematic`` preset against plain ``rel=1e-3`` on the shared HEP tables.

Each file is compressed twice with the same training settings: ``-e rel=1e-3`` alone, then
``--preset kinematic -e rel=1e-3`` (abs=1e-3 on eta/phi, rel=1e-3 on momenta, energies and
masses, exact on counts and flags, rel=1e-3 on the rest). Every value of every column is
decompressed and checked against its bound; the ratio counts every byte of the ``.bale`` file,
the model included.

    python benchmarks/kinematic_preset.py [--data-dir DIR] [--files NAME ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import bale
from bale.api import as_dataset
from bale.bounds import check_bound, parse_bound
from bale.preset_rules import KINEMATIC
from bale.presets import describe_preset

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = {  # file -> ROOT tree (None for a flat table)
    "pythia_ttbar_jets.parquet": None,
    "pythia_qcd_jets.parquet": None,
    "uproot-Zmumu.root": "events",
    "uproot-HZZ.root": "events",
}
DEFAULT = "rel=1e-3"


def _one(path: Path, tree: str | None, preset: str | None, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    report = bale.compress(path, out, error=DEFAULT, preset=preset, tree=tree)
    seconds = time.perf_counter() - started
    original = as_dataset(path, tree=tree)
    decoded = bale.decompress(out)
    decoded_tables = decoded.tables if hasattr(decoded, "tables") else {"": decoded}
    violations = 0
    for name, table in original.tables.items():
        for column, values in table.columns.items():
            bound = parse_bound(report_bound(report, column))
            violations += check_bound(values, decoded_tables[name].columns[column], bound)
    per_column = {c: int(v["bytes"]) for c, v in report["per_column"].items()}
    return {
        "ratio": report["ratio"],
        "file_bytes": report["file_bytes"],
        "column_bytes": per_column,
        "seconds": seconds,
        "violations": violations,
    }


def report_bound(report: dict[str, Any], column: str) -> str:
    """The bound the file records for ``column`` (the info report's per-column entry)."""
    return str(report["per_column"][column]["bound"])


def _by_rule(columns: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for column in columns:
        rule = KINEMATIC.rule_for(column)
        groups.setdefault(rule.label if rule else "columns no rule names", []).append(column)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", nargs="+", default=list(FILES))
    parser.add_argument("--json", type=Path, help="Also write the numbers here.")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    print(f"| file | rows | {DEFAULT} | --preset kinematic -e {DEFAULT} | change | violations |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.files:
            path, tree = args.data_dir / name, FILES.get(name)
            plain = _one(path, tree, None, Path(tmp) / "plain.bale")
            kin = _one(path, tree, "kinematic", Path(tmp) / "kinematic.bale")
            rows = bale.info(Path(tmp) / "kinematic.bale")["rows"]
            change = 100 * (kin["ratio"] / plain["ratio"] - 1)
            results[name] = {"plain": plain, "kinematic": kin, "rows": rows}
            print(
                f"| {name} | {rows:,} | {plain['ratio']:.3f} | {kin['ratio']:.3f} | {change:+.1f} % | "
                f"{plain['violations'] + kin['violations']} |",
                flush=True,
            )
            columns = [c for t in as_dataset(path, tree=tree).tables.values() for c in t.columns]
            for line in describe_preset("kinematic", columns):
                print(f"    {line}", flush=True)
            for label, cols in _by_rule(columns).items():
                before = sum(plain["column_bytes"][c] for c in cols)
                after = sum(kin["column_bytes"][c] for c in cols)
                print(f"    bytes of {label}: {before:,} -> {after:,}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
