"""Reading in place: time and bytes read for one branch, five branches and everything, from ``.bale``
(``bale.open``) against uproot on the original ROOT file (and pyarrow on the Parquet table), in one run.

    python benchmarks/read_in_place.py                       # NanoAOD (200 events, 947 branches), Pythia jets
    python benchmarks/read_in_place.py --epochs 40 --out-dir /tmp/rip

Each number is the best of ``--repeat`` runs; every run opens the file afresh (header, index and
model included). Bytes are those read from the file: ``BaleTree.bytes_read`` for bale, a
counting file object for uproot and pyarrow. The ``.bale`` files are made once in ``--out-dir``.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import uproot

import bale
from bale.config import BaleConfig

SHARED = Path("/work/shared/data")
NANOAOD = SHARED / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
JETS_PARQUET = SHARED / "pythia_ttbar_jets.parquet"
JETS_ROOT = SHARED / "pythia_ttbar_jets.root"


class Counting(io.RawIOBase):
    """A file whose reads are counted (what uproot and pyarrow fetch)."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, b: Any) -> int:
        n = self._f.readinto(b)
        self.bytes_read += n or 0
        return n or 0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._f.close()
        super().close()


def best(fn: Callable[[Any], int], path: Path, repeat: int, counted: bool) -> tuple[float, int]:
    """(seconds of the fastest of ``repeat`` runs on ``path``, bytes read by one more run through a counting file).

    bale counts its own reads; uproot and pyarrow are timed on the path (their fastest way) and
    counted on a :class:`Counting` file object.
    """
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        nbytes = fn(path)
        runs.append(time.perf_counter() - start)
    if counted:
        f = Counting(path)
        fn(f)
        nbytes = f.bytes_read
        f.close()
    return min(runs), nbytes


def from_bale(names: list[str] | None) -> Callable[[Any], int]:
    def run(source: Any) -> int:
        with bale.open(source) as t:
            t.arrays(names)
            return t.bytes_read

    return run


def from_uproot(tree: str, names: list[str] | None) -> Callable[[Any], int]:
    def run(source: Any) -> int:
        with uproot.open(source) as root:
            root[tree].arrays(names, library="ak")
        return 0

    return run


def from_parquet(names: list[str] | None) -> Callable[[Any], int]:
    def run(source: Any) -> int:
        pq.read_table(source, columns=names)
        return 0

    return run


def compressed(source: Path, out: Path, epochs: int) -> Path:
    if not out.is_file():
        cfg = BaleConfig()
        cfg.train.epochs = epochs
        started = time.perf_counter()
        bale.compress(source, out, error="rel=1e-3", config=cfg)
        print(f"  compressed {source.name} -> {out} in {time.perf_counter() - started:.1f} s")
    return out


def report(label: str, rows: list[tuple[str, float, int]], size: int) -> None:
    print(f"\n{label}")
    print(f"  {'read':<34} {'ms':>9} {'bytes read':>12} {'of .bale':>8}")
    for what, seconds, nbytes in rows:
        print(f"  {what:<34} {1000 * seconds:9.1f} {nbytes:12,} {100 * nbytes / size:7.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/bale-read-in-place"))
    parser.add_argument("--epochs", type=int, default=5, help="training epochs when making the .bale files")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    r = args.repeat

    nano = compressed(NANOAOD, args.out_dir / "nanoaod.bale", args.epochs)
    one, five = ["Jet_pt"], ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "MET_pt"]
    with bale.open(nano) as t:
        cost = t.closure("Jet_pt")
        print(f"NanoAOD: closure of Jet_pt = {cost.columns}, {cost.bytes:,} of {cost.total_bytes:,} section bytes")
    rows = []
    for label, names in (("one branch (Jet_pt)", one), ("five branches", five), ("all 947 branches", None)):
        rows.append((f"bale   {label}", *best(from_bale(names), nano, r, False)))
        rows.append((f"uproot {label}", *best(from_uproot("Events", names), NANOAOD, r, True)))
    report(f"NanoAOD: .bale {nano.stat().st_size:,} B, ROOT {NANOAOD.stat().st_size:,} B", rows, nano.stat().st_size)

    jets = compressed(JETS_PARQUET, args.out_dir / "pythia_ttbar_jets.bale", args.epochs)
    one, five = ["pt"], ["pt", "eta", "phi", "mass", "energy"]
    rows = []
    for label, names in (("one column (pt)", one), ("five columns", five), ("all 17 columns", None)):
        rows.append((f"bale    {label}", *best(from_bale(names), jets, r, False)))
        rows.append((f"pyarrow {label}", *best(from_parquet(names), JETS_PARQUET, r, True)))
        with uproot.open(JETS_ROOT) as f:
            tree = next(iter(f.classnames(cycle=False)))
        rows.append((f"uproot  {label}", *best(from_uproot(tree, names), JETS_ROOT, r, True)))
    sizes = f"Parquet {JETS_PARQUET.stat().st_size:,} B, ROOT {JETS_ROOT.stat().st_size:,} B"
    report(f"Pythia ttbar jets (218,241 rows): .bale {jets.stat().st_size:,} B, {sizes}", rows, jets.stat().st_size)


if __name__ == "__main__":
    main()
