"""Grid benchmark: bale's grid codec against SZ3, ZFP, fpzip and zstd on the shared CFD fields.

Each grid at range=1e-2, 1e-3 and 1e-4 (abs = X·(max − min)); every value of every method checked
with bale's check (NaN, ±inf, ±0 bit-exact), the other libraries patched by exception lists whose
bytes count; bale's ratio is its whole ``.bale`` file. Then the conv model trained on some frames
and used on others (``bale train --grid`` / ``bale compress --grid --model``).

    python benchmarks/grids.py [--data-dir DIR] [--epochs N] [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from bale.bench.grid import grid_markdown, run_grid_bench
from bale.bounds import check_bound, parse_bound
from bale.config import BaleConfig
from bale.grid.api import compress_grid, decompress_grid, train_grid

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = ("CFD_animation.npz", "CFD_still.npz")
BOUNDS = ("range=1e-2", "range=1e-3", "range=1e-4")
METHODS = ["bale-grid", "bale-grid-lorenzo", "bale-grid-interp", "bale-grid-conv", "sz3", "sz3-interp",
           "sz3-lorenzo-reg", "zfp", "fpzip", "zstd-19"]  # fmt: skip


def train_some_compress_others(path: Path, cfg: BaleConfig) -> list[str]:
    """The conv model trained on the first half of the frames, used (external) on the second half."""
    with np.load(path) as z:
        data = z["data"]
    half = data.shape[0] // 2
    model = train_grid({"data": data[:half]}, config=cfg)
    lines = ["| bound | conv allowed (auto) | conv only | classical only | model bytes |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "m.safetensors"
        model_path.write_bytes(model.to_bytes())
        for spec in BOUNDS:
            cells = []
            for predictor in ("auto", "conv", "classical"):
                run = cfg.model_copy(deep=True)
                run.grid.predictor = "auto" if predictor == "classical" else predictor  # type: ignore[assignment]
                out = Path(tmp) / f"{predictor}.bale"
                report = compress_grid({"data": data[half:]}, out, error=spec, config=run,
                                       model=None if predictor == "classical" else model_path)  # fmt: skip
                decoded = decompress_grid(out, model=model_path)["data"]
                bound = parse_bound(report["grids"]["data"]["bound"])
                assert check_bound(data[half:], decoded, bound) == 0
                cells.append(f"{report['ratio']:.2f} ({report['grids']['data']['predictors']})")
            lines.append(f"| {spec} | " + " | ".join(cells) + f" | {model_path.stat().st_size:,} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=60, help="conv model training epochs")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="CFD_still only, no conv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = BaleConfig()
    cfg.grid.epochs = args.epochs
    results = {}
    files = FILES[1:] if args.quick else FILES
    methods = [m for m in METHODS if not (args.quick and m == "bale-grid-conv")]
    for name in files:
        r = run_grid_bench(args.data_dir / name, BOUNDS, methods=methods, names=["data"], config=cfg)
        results[name] = r
        print(f"## {name}\n")
        print(grid_markdown(r))
    if not args.quick:
        print("## conv model trained on frames 0-29 of CFD_animation, compressing frames 30-59 (model external)\n")
        print("\n".join(train_some_compress_others(args.data_dir / "CFD_animation.npz", cfg)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
