"""Time to first byte: what `bale info` and `bale decompress` of a small file cost over a bare Python.

    python benchmarks/first_byte.py [--rows 2000] [--repeat 7] [--file FILE.bale]

Writes the first ``--rows`` rows of ``examples/data/ttbar_jets_10k.parquet`` to a ``.bale``
file (default training; or times ``--file``, e.g. one written where torch is installed, in an
environment without it: ``pip install bale`` decodes with no torch), then runs each command
``--repeat`` times in a fresh interpreter (``python -m bale.cli ...``, the same work as the
``bale`` script) and prints the median wall
seconds, and each median minus that of ``python -c pass``. Run it in the environment to judge:
the numba extensions other packages install (``vector``'s imports sympy) are loaded by numba
at the first compiled call and show up in ``decompress``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "ttbar_jets_10k.parquet"


def _median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--file", type=Path, help="time this .bale file instead of writing one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source, packed, out = Path(tmp) / "s.parquet", Path(tmp) / "s.bale", Path(tmp) / "out.parquet"
        bale = [sys.executable, "-m", "bale.cli"]
        if args.file is not None:
            packed = args.file
        else:
            pq.write_table(pq.read_table(SAMPLE).slice(0, args.rows), source)
            subprocess.run([*bale, "compress", str(source), "-o", str(packed), "-e", "rel=1e-3"], check=True,
                           capture_output=True)  # fmt: skip
        base = _median_seconds([sys.executable, "-c", "pass"], args.repeat)
        info = _median_seconds([*bale, "info", str(packed)], args.repeat)
        decompress = _median_seconds([*bale, "decompress", str(packed), "-o", str(out), "--force"], args.repeat)
    print(f"{args.file or f'{args.rows:,}-row file'}, median of {args.repeat} runs, {sys.executable}")
    print(f"python -c pass   {base:6.2f} s")
    print(f"bale info        {info:6.2f} s  (+{info - base:.2f} s)")
    print(f"bale decompress  {decompress:6.2f} s  (+{decompress - base:.2f} s)")


if __name__ == "__main__":
    main()
