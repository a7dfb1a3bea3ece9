"""Soak: many round trips of varied tables, every value checked; nothing may be lost.

Each round draws a table: 0 to 3000 rows, 1 to 12 columns of random dtypes (every integer
width, bool, float16/32/64), with NaN (some with payloads), ±inf, ±0, subnormals, constant and
all-NaN columns mixed in; a random bound per column (``rel`` 1e-2 to 1e-6, ``abs``, ``exact``),
random ``chunk_rows``; the network trained in one round out of ``--learned-every`` (classical
coding and relations otherwise). It is compressed, checked with ``bale.api.verify``, decompressed
(in memory, and to a file of a random format read back), and every value compared: exact
columns and special values bit for bit, the rest within their bounds, names, order and dtypes
kept. Any difference fails the run, with the round's seed to replay it.

    python benchmarks/soak.py --rounds 100 [--seed 0] [--learned-every 5] [--json soak.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
          "float16", "float32", "float64"]  # fmt: skip
FORMATS = [".npz", ".parquet", ".h5"]


def random_table(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Columns and a bound for each float column."""
    n = int(rng.choice([0, 1, 2, 7, int(rng.integers(10, 3000))]))
    columns: dict[str, np.ndarray] = {}
    bounds: dict[str, str] = {}
    base = rng.normal(0, 1, n)
    for i in range(int(rng.integers(1, 13))):
        dtype = np.dtype(str(rng.choice(DTYPES)))
        name = f"c{i}_{dtype.name}"
        kind = rng.integers(6)
        if dtype.kind == "b":
            values = rng.random(n) < rng.random()
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            if kind == 0:
                values = np.full(n, info.max, dtype=dtype)
            elif kind == 1:
                values = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
            else:
                values = np.clip(np.cumsum(rng.integers(-3, 4, n)), info.min, info.max).astype(dtype)
        else:
            scale = 10.0 ** int(rng.integers(-3, 4))
            if kind == 0:
                values = np.full(n, np.nan)
            elif kind == 1:
                values = np.full(n, scale)
            elif kind == 2:  # related to an earlier column: relations may find it
                values = base * scale + rng.normal(0, scale * 1e-3, n)
            else:
                values = rng.normal(0, scale, n) * rng.lognormal(0, 2, n)
            with np.errstate(over="ignore"):  # float16 overflows to inf: one more special value
                values = values.astype(dtype)
            if n and kind >= 3:
                special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(dtype).tiny / 4], dtype=dtype)
                at = rng.integers(0, n, min(n, 6))
                values[at] = special[: len(at)]
                if dtype == np.float32 and n > 8:  # a NaN with a payload
                    values[8] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), np.float32)[0]
            mode = rng.integers(4)
            if mode == 0:
                bounds[name] = "exact"
            elif mode == 1:
                bounds[name] = f"abs={scale * 10.0 ** int(rng.integers(-4, 0)):g}"
            else:
                bounds[name] = f"rel={10.0 ** -int(rng.integers(2, 7)):g}"
            if dtype == np.float16 and bounds[name].startswith("rel=") and float(bounds[name][4:]) < 1e-3:
                bounds[name] = "rel=1e-3"
        columns[name] = values
    return columns, bounds


def check(original: dict[str, np.ndarray], decoded: Any, bounds: dict[str, str], where: str) -> None:
    from bale.bounds import Bound, check_bound, parse_bound

    names = list(decoded.columns) if hasattr(decoded, "columns") else list(decoded)
    if names != list(original):
        raise AssertionError(f"{where}: columns {names} != {list(original)}")
    for name, values in original.items():
        got = np.asarray(decoded[name])
        if got.dtype != values.dtype or got.shape != values.shape:
            raise AssertionError(f"{where}: {name}: {got.dtype}{got.shape} != {values.dtype}{values.shape}")
        bound = parse_bound(bounds.get(name, "rel=1e-3")) if values.dtype.kind == "f" else Bound("exact")
        bad = check_bound(values, got, bound)
        if bad:
            raise AssertionError(f"{where}: {name}: {bad} values break {bound}")
        if values.dtype.kind == "f":
            special = ~np.isfinite(values) | (values == 0)
            if got[special].tobytes() != values[special].tobytes():
                raise AssertionError(f"{where}: {name}: NaN, inf or zero changed")


def one_round(seed: int, folder: Path) -> dict[str, Any]:
    import bale
    from bale.api import verify
    from bale.config import load_config

    rng = np.random.default_rng(seed)
    columns, bounds = random_table(rng)
    learned = bool(rng.random() < one_round.learned_share)  # type: ignore[attr-defined]
    chunk_rows = int(rng.choice([7, 100, 1000, 262144]))
    cfg = load_config(None, {"compress.chunk_rows": chunk_rows, "model.learned": learned,
                             "train.epochs": 2, "train.max_rows": 2000})  # fmt: skip
    path = folder / f"soak{seed}.bale"
    report = bale.compress(columns, path, errors=bounds, config=cfg, workers=int(rng.integers(1, 3)))
    verify(path)
    check(columns, bale.decompress(path, workers=int(rng.integers(1, 3))), bounds, f"seed {seed}, in memory")
    out = folder / f"soak{seed}{rng.choice(FORMATS)}"
    bale.decompress(path, out)
    back = bale.api.as_table(out)
    check(columns, back, bounds, f"seed {seed}, via {out.suffix}")
    path.unlink()
    out.unlink()
    rows = len(next(iter(columns.values())))
    return {"seed": seed, "rows": rows, "columns": len(columns), "learned": learned, "ratio": report["ratio"]}


one_round.learned_share = 0.2  # type: ignore[attr-defined]


def soak(rounds: int, seed: int = 0, learned_every: int = 5, folder: Path | None = None) -> dict[str, Any]:
    """Run ``rounds`` round trips; raises AssertionError on the first value lost."""
    one_round.learned_share = 1.0 / learned_every if learned_every else 0.0  # type: ignore[attr-defined]
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="bale-soak-") as tmp:
        work = folder or Path(tmp)
        for i in range(rounds):
            results.append(one_round(seed * 100_000 + i, work))
    return {
        "rounds": rounds,
        "seed": seed,
        "rows": sum(r["rows"] for r in results),
        "columns": sum(r["columns"] for r in results),
        "learned_rounds": sum(r["learned"] for r in results),
        "lost": 0,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learned-every", type=int, default=5, help="Train the network in 1 of N rounds (0: never).")
    parser.add_argument("--json", help="Write the summary here.")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    summary = soak(args.rounds, args.seed, args.learned_every)
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
