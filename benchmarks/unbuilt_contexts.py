"""Residual contexts bale does not build, and what they would save (issue 19; docs/codec.md).

    python benchmarks/unbuilt_contexts.py [--data-dir ../shared/data] [--table pythia_ttbar_jets.parquet]

The table is compressed with the default model (its chosen contexts included); its chunk is
coded again with every column's symbols kept. Bits are counted as
``bale.codec.context.context_bits`` counts them (histograms included), per column:

- ``plain``: the symbols under one histogram;
- ``by_prediction`` (learned columns): one histogram per bucket (8, 16 or 64 quantiles) of the
  network's prediction. Offline only: the prediction is a float computed from decoded values
  through ``log``, so a bucket edge on it is not safe across machines; this measures whether
  the network's confidence would be worth making exact;
- ``by_previous_jet``: one histogram per bucket (16 quantiles) of the magnitude of the same
  column's symbol on the previous row of the same event (-1 on an event's first row), with
  the column's chosen context as a second source where it has one (4 buckets).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import bale
from bale import chunks
from bale.api.training import _open_model
from bale.codec.context import bucket_of, context_bits, edges_of
from bale.codec.lossy import Prediction
from bale.container import BaleReader
from bale.models.plan import ColumnPlan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--table", default="pythia_ttbar_jets.parquet")
    args = ap.parse_args()
    path = args.data_dir / args.table
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.bale"
        bale.compress(str(path), out, error="rel=1e-3")
        file_bytes = out.stat().st_size
        with BaleReader(out) as reader:
            model = _open_model(reader, None)[0]
    table = pq.read_table(path)
    columns = {name: table[name].to_numpy() for name in table.column_names}
    predictions: dict[str, np.ndarray] = {}
    original = chunks._Context.prediction

    def keeping(self: chunks._Context, plan: ColumnPlan) -> Prediction:
        prediction = original(self, plan)
        if plan.predictor["kind"] == "learned" and prediction.value is not None:
            predictions[plan.name] = np.asarray(prediction.value).copy()
        return prediction

    chunks._Context.prediction = keeping  # type: ignore[method-assign]
    kept: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    chunks._encode_chunk(columns, model, None, kept)
    same_event = np.r_[False, columns["event"][1:] == columns["event"][:-1]] if "event" in columns else None
    report: dict[str, object] = {"table": args.table, "rows": table.num_rows, "file_bytes": file_bytes}
    saved = {"by_prediction": 0.0, "by_previous_jet": 0.0}
    for plan in model.columns:
        if plan.name not in kept or plan.predictor["kind"] == "delta":
            continue
        rows, regular = kept[plan.name]
        symbols = rows[regular]
        chosen = _chosen(plan, kept, columns, regular)
        now = _bits(symbols, chosen, [s["buckets"] for s in plan.context])
        entry = {"plain": round(_bits(symbols, [], [])), "with_its_context": round(now)}
        if plan.name in predictions:
            scaled = np.rint(predictions[plan.name][regular] * 1000).astype(np.int64)  # buckets 1e-3 apart
            entry["by_prediction"] = round(min(_bits(symbols, [scaled], [k]) for k in (8, 16, 64)))
            saved["by_prediction"] += max(0.0, now - entry["by_prediction"])
        if same_event is not None:
            previous = np.where(same_event, np.abs(np.roll(rows, 1)), -1)[regular]
            entry["by_previous_jet"] = round(_bits(symbols, [previous, *chosen[:1]], [16, 4][: 1 + len(chosen[:1])]))
            saved["by_previous_jet"] += max(0.0, now - entry["by_previous_jet"])
        report[plan.name] = entry
    report["saved_share_of_file"] = {k: round(v / file_bytes, 4) for k, v in saved.items()}
    print(json.dumps(report, indent=1))


def _chosen(
    plan: ColumnPlan, kept: dict[str, tuple[np.ndarray, np.ndarray]], columns: dict[str, np.ndarray],
    regular: np.ndarray,
) -> list[np.ndarray]:  # fmt: skip
    """The integers of the column's chosen context sources, on its regular rows."""
    out = []
    for source in plan.context:
        name = source["column"]
        values = kept[name][0] if name in kept else columns[name].astype(np.int64)
        out.append((np.abs(values) if source["use"] == "magnitude" else values)[regular])
    return out


def _bits(symbols: np.ndarray, sources: list[np.ndarray], buckets: list[int]) -> float:
    """Bytes of ``symbols`` with one histogram per bucket of ``sources`` (one histogram without)."""
    if not sources:
        return context_bits(symbols, np.zeros(len(symbols), np.int64), 1) / 8
    edges = [edges_of(v, k) for v, k in zip(sources, buckets, strict=True)]
    return context_bits(symbols, bucket_of(sources, edges), int(np.prod([len(e) + 1 for e in edges]))) / 8


if __name__ == "__main__":
    main()
