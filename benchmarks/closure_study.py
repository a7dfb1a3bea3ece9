"""What bounding the dependency closure (``model.max_closure``) costs in ratio, and what it saves in reads.

    python benchmarks/closure_study.py                                  # tt̄ jets, QCD jets, NanoAOD Jet_*
    python benchmarks/closure_study.py --limits 1 3 5 0 --epochs 40 --out-dir /tmp/closure

For each table and limit (0: unlimited) the table is compressed with the default config
(``rel=1e-3``) but ``model.max_closure`` and ``train.epochs``; printed are the compression
ratio (``bale.compress``'s report), the mean and largest closure over the table's columns
(what the limit bounds: the columns of the column's own table decoding it needs, itself
included), the largest closure a reader sees (``BaleTree.closure(name).columns``: for
NanoAOD also the collection's ``nJet`` counter, stored in the event table), and the
mean and largest bytes ``bale.open(path).arrays([name])`` reads for one column
(``BaleTree.bytes_read``: header, index and model included, read once per open).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import bale
from bale.chunks import closure
from bale.config import BaleConfig

SHARED = Path("/work/shared/data")
TABLES: dict[str, tuple[Path, list[str] | None]] = {
    "ttbar_jets": (SHARED / "pythia_ttbar_jets.parquet", None),
    "qcd_jets": (SHARED / "pythia_qcd_jets.parquet", None),
    "nanoaod_jets": (SHARED / "nanoAOD_2015_CMS_Open_Data_ttbar.root", ["Jet_*"]),
}


def measure(name: str, limit: int, epochs: int, out_dir: Path) -> dict[str, Any]:
    path, columns = TABLES[name]
    cfg = BaleConfig()
    cfg.train.epochs = epochs
    cfg.model.max_closure = limit or None
    out = out_dir / f"{name}.closure{limit}.bale"
    start = time.perf_counter()
    report = bale.compress(path, out, config=cfg, columns=columns)
    seconds = time.perf_counter() - start
    with bale.open(out) as tree:
        keys = tree.keys()
        sizes = {k: len(tree.closure(k).columns) for k in keys}
        # what the limit bounds: the closure within the column's own table (no collection counter)
        inner = {
            k: len([c for c in closure(tree._coders[m.table], m.columns) if not c.startswith("@")])
            for k, m in ((k, tree._map(k)) for k in keys)
        }
    reads = {}
    for k in keys:
        with bale.open(out) as tree:
            tree.arrays([k])
            reads[k] = tree.bytes_read
    return {
        "table": name,
        "limit": limit or "none",
        "columns": len(keys),
        "ratio": round(float(report.get("ratio", 0.0)), 3),
        "bytes": out.stat().st_size,
        "closure_mean": round(sum(inner.values()) / len(inner), 2),
        "closure_max": max(inner.values()),
        "read_closure_max": max(sizes.values()),
        "read_mean": round(sum(reads.values()) / len(reads)),
        "read_max": max(reads.values()),
        "seconds": round(seconds, 1),
        "closures": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--limits", nargs="+", type=int, default=[1, 3, 5, 0], help="0: unlimited")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out-dir", type=Path, default=Path("closure_study"))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(
        "| table | max_closure | ratio | closure mean | closure max | read closure max "
        "| one-column read mean B | max B | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.tables:
        for limit in args.limits:
            r = measure(name, limit, args.epochs, args.out_dir)
            rows.append(r)
            print(
                f"| {r['table']} | {r['limit']} | {r['ratio']:.3f} | {r['closure_mean']:.2f} | {r['closure_max']} "
                f"| {r['read_closure_max']} "
                f"| {r['read_mean']:,} | {r['read_max']:,} | {r['seconds']} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
