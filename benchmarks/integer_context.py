"""What coding an integer column given another would save, with bale's own coder (issue 19).

    python benchmarks/integer_context.py [--data-dir ../shared/data] [--table pythia_ttbar_jets.parquet]

``n_charged`` is coded in buckets of ``n_constituents`` (quantiles, k buckets): each bucket's
values, or their difference from the bucket's median, as one stream of
:func:`bale.codec.uint_stream.encode_uints` (its histogram included), against the bytes
``bale info`` reports for the column today (bale's exact coding). Not built: the closing note
of issue 19 weighs it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import bale
from bale.codec.uint_stream import encode_uints, zigzag


def _bytes(values: np.ndarray, context: np.ndarray) -> int:
    return sum(len(encode_uints(zigzag(values[context == c]))) for c in np.unique(context))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--table", default="pythia_ttbar_jets.parquet")
    args = ap.parse_args()
    path = args.data_dir / args.table
    table = pq.read_table(path, columns=["n_constituents", "n_charged"])
    given = table["n_constituents"].to_numpy().astype(np.int64)
    coded = table["n_charged"].to_numpy().astype(np.int64)
    n = len(coded)
    with tempfile.TemporaryDirectory() as tmp:
        bale.compress(str(path), Path(tmp) / "t.bale", error="rel=1e-3")
        info = bale.info(Path(tmp) / "t.bale")
    today = info["per_column"]["n_charged"]["bytes"]
    rows = {"rows": n, "file_bytes": info["file_bytes"], "n_charged_today": today, "by_buckets": {}}
    for k in (4, 8, 16, 32, 64):
        edges = np.unique(np.quantile(given, np.linspace(0, 1, k + 1)[1:-1]))
        context = np.searchsorted(edges, given, side="right")
        medians = np.array([np.median(coded[context == c]) for c in range(int(context.max()) + 1)])
        residual = coded - np.rint(medians[context]).astype(np.int64)
        best = min(_bytes(coded, context), _bytes(residual, context))
        rows["by_buckets"][k] = {"bytes": best, "bits_per_row": 8 * best / n,
                                 "saved_share_of_file": (today - best) / info["file_bytes"]}  # fmt: skip
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
