"""What predicting φ from the event's previous jet would save, with bale's own coder (issue 19).

    python benchmarks/event_context.py [--data-dir ../shared/data] [--error rel=1e-3 | abs=1e-3]

In a dijet-like event the second jet's φ lies near the first's plus π. Each second jet
(``jet_idx == 1``) is coded by :func:`bale.codec.lossy.encode_lossy` at ``--error`` around the
prediction ``wrap(φ_first + π)`` (in the bound's domain: log|·| and its sign for a relative
bound, φ itself for an absolute one), every other jet
with no prediction, as bale codes φ today; against all jets with no prediction. The first
jet's φ is the one the decoder holds (it is coded first). Not built: issue 19's note weighs it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bale.bounds import parse_bound
from bale.codec.lossy import Prediction, encode_lossy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--table", default="pythia_ttbar_jets.parquet")
    ap.add_argument("--error", default="rel=1e-3", help="φ's bound, as bale spells it")
    args = ap.parse_args()
    table = pq.read_table(args.data_dir / args.table, columns=["phi", "event", "jet_idx"])
    phi = table["phi"].to_numpy()
    event = table["event"].to_numpy()
    index = table["jet_idx"].to_numpy()
    bound = parse_bound(args.error)
    plain, decoded = encode_lossy(phi, bound, Prediction())
    second = np.flatnonzero((index == 1) & (np.arange(len(phi)) > 0))
    second = second[(event[second - 1] == event[second]) & (index[second - 1] == 0)]
    guess = np.mod(decoded[second - 1].astype(np.float64) + 2 * np.pi, 2 * np.pi) - np.pi  # φ_first + π, wrapped
    with np.errstate(divide="ignore"):
        value = np.log(np.abs(guess)) if bound.mode == "rel" else guess
    others = np.setdiff1d(np.arange(len(phi)), second)
    rest, _ = encode_lossy(phi[others], bound, Prediction())
    sign = np.where(guess < 0, -1, 1).astype(np.int8) if bound.mode == "rel" else None
    predicted, _ = encode_lossy(phi[second], bound, Prediction(value=value, sign=sign))
    alone, _ = encode_lossy(phi[second], bound, Prediction())
    saved = len(plain) - len(rest) - len(predicted)
    print(json.dumps({
        "error": args.error, "rows": len(phi), "second_jets": len(second), "phi_bytes_today": len(plain),
        "phi_bytes_with_context": len(rest) + len(predicted), "saved_bytes": saved,
        "second_jets_bits_per_value": {"today": 8 * len(alone) / max(len(second), 1),
                                       "with_context": 8 * len(predicted) / max(len(second), 1)},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
