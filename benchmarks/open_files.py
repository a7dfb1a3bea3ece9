"""Opening a ``.bale`` file: reading and checking its header and chunk index, per file shape.

    python benchmarks/open_files.py                     # wide tables, many collections, the frozen files
    python benchmarks/open_files.py --repeat 50

Opening reads the preamble, the header and the index, and checks them: their types
(pydantic, :mod:`bale.container.schema`), what they declare (:mod:`bale.container.header`)
and the chunks against the file (:mod:`bale.container.index`). Goal: a table of 2,000
columns opens in well under 100 ms, a frozen test file in about a millisecond; opening
is never a noticeable part of ``bale info``. Each number is the best of ``--repeat`` opens.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import bale
from bale.container import BaleReader

FROZEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "frozen"


def _best(data: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        BaleReader(data).close()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    files: dict[str, bytes] = {p.name: p.read_bytes() for p in sorted(FROZEN.glob("*.bale"))}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plain.toml"
        cfg.write_text("[model]\nlearned = false\n")
        for columns in (200, 2000):
            path = Path(tmp) / f"wide{columns}.bale"
            bale.compress({f"c{i}": np.zeros(100) for i in range(columns)}, path, error="rel=1e-3", config=cfg)
            files[f"table of {columns} columns"] = path.read_bytes()
    for name, data in files.items():
        print(f"{name:32s} {len(data):>9,d} bytes  {_best(data, args.repeat) * 1e3:8.3f} ms per open")


if __name__ == "__main__":
    main()
