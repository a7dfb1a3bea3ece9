"""Which entropy coder for bale's residuals: constriction's ANS (what bale uses) or zstd?

Codes the real residual streams of a table (each lossy column quantized to the bound around
bale's own predictions) with bale's hybrid-token ANS coder and with zstd at levels 3 and 19
on the narrowest integer bytes, and prints bits per value and speeds.

    python benchmarks/entropy_coders.py ../shared/data/pythia_ttbar_jets.parquet --rows 200000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import zstandard

import bale
from bale.api import as_table
from bale.codec.lossy import domain_step, encode_lossy, to_domain
from bale.codec.uint_stream import decode_uints, encode_uints, zigzag
from bale.config import BaleConfig


def residual_streams(path: str, rows: int) -> dict[str, np.ndarray]:
    table = as_table(path)
    columns = {k: v[:rows] for k, v in table.columns.items()}
    cfg = BaleConfig()
    cfg.model.learned = False  # relations and classical predictors: enough to get realistic residuals
    model = bale.train(columns, config=cfg)
    from bale.chunks import _Context

    ctx = _Context(model, rows)
    streams = {}
    for plan in model.columns:
        values = columns[plan.name]
        if plan.predictor["kind"] == "exact":
            ctx.add(plan.name, values)
            continue
        prediction = ctx.prediction(plan)
        domain = to_domain(values, plan.bound)
        pred = np.zeros(rows) if prediction.value is None or prediction.delta else prediction.value
        ok = np.isfinite(domain) & np.isfinite(pred)
        q = np.rint((domain[ok] - pred[ok]) / domain_step(plan.bound)).astype(np.int64)
        streams[plan.name] = np.diff(q, prepend=0) if prediction.delta else q
        ctx.add(plan.name, encode_lossy(values, plan.bound, prediction)[1])  # as the decoder sees it
    return streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    streams = residual_streams(args.table, args.rows)
    totals = {"ans": [0, 0.0, 0.0], "zstd-3": [0, 0.0, 0.0], "zstd-19": [0, 0.0, 0.0]}
    print(f"{'column':<16}{'ANS bits':>10}{'zstd-3 bits':>13}{'zstd-19 bits':>14}")
    for name, q in streams.items():
        symbols = zigzag(q)
        width = np.uint8 if symbols.max(initial=0) < 2**8 else np.uint16 if symbols.max() < 2**16 else np.uint32
        raw = symbols.astype(width).tobytes()
        row = []
        t0 = time.perf_counter()
        coded = encode_uints(symbols)
        t1 = time.perf_counter()
        decode_uints(coded)
        t2 = time.perf_counter()
        totals["ans"][0] += len(coded)
        totals["ans"][1] += t1 - t0
        totals["ans"][2] += t2 - t1
        row.append(8 * len(coded) / len(q))
        for level in (3, 19):
            t0 = time.perf_counter()
            packed = zstandard.ZstdCompressor(level=level).compress(raw)
            t1 = time.perf_counter()
            zstandard.ZstdDecompressor().decompress(packed)
            t2 = time.perf_counter()
            key = f"zstd-{level}"
            totals[key][0] += len(packed)
            totals[key][1] += t1 - t0
            totals[key][2] += t2 - t1
            row.append(8 * len(packed) / len(q))
        print(f"{name:<16}{row[0]:>10.3f}{row[1]:>13.3f}{row[2]:>14.3f}")
    n_values = sum(len(q) for q in streams.values())
    print(f"\n{'coder':<10}{'bytes':>12}{'bits/value':>12}{'encode M/s':>12}{'decode M/s':>12}")
    for key, (size, enc, dec) in totals.items():
        rates = f"{n_values / enc / 1e6:>12.1f}{n_values / dec / 1e6:>12.1f}"
        print(f"{key:<10}{size:>12,}{8 * size / n_values:>12.3f}{rates}")


if __name__ == "__main__":
    main()
