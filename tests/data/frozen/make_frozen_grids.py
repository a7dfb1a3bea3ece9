"""Write the frozen grid files that tests/test_frozen.py must always decode (run once; never rewrite).

    python tests/data/frozen/make_frozen_grids.py

``grid_v2.bale``: ``grid_v2_original.npz`` (a float32 (3, 19, 23) field with NaN, ±inf and an
outlier, and a float64 copy of the CFD still frame) at range=1e-3, classical predictors.
``grid_conv_v2.bale``: the CFD still frame at range=1e-2 with an embedded conv model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bale.config import BaleConfig
from bale.grid.api import compress_grid, decompress_grid

HERE = Path(__file__).parent
STILL = HERE.parent / "CFD_still.npz"


def main() -> None:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:19, 0:23]
    field = np.stack([np.sin(x / 3.0 + t) * np.cos(y / 4.0) + 0.01 * rng.standard_normal((19, 23)) for t in range(3)])
    field = field.astype(np.float32)
    field[0, 0, 0], field[1, 5, 7], field[2, 18, 22], field[2, 3, 3] = np.nan, np.inf, -np.inf, 40.0
    with np.load(STILL) as z:
        still = z["data"]
    np.savez(HERE / "grid_v2_original.npz", field=field, still=still)
    compress_grid(HERE / "grid_v2_original.npz", HERE / "grid_v2.bale", error="range=1e-3", config=BaleConfig())
    cfg = BaleConfig()
    cfg.grid.predictor = "conv"
    cfg.grid.epochs = 3
    cfg.grid.block = 16
    compress_grid(STILL, HERE / "grid_conv_v2.bale", error="range=1e-2", config=cfg, names=["data"])
    expected = {}
    for name in ("grid_v2", "grid_conv_v2"):
        for grid, values in decompress_grid(HERE / f"{name}.bale").items():
            expected[f"{name}/{grid}"] = hashlib.sha256(values.tobytes()).hexdigest()
    (HERE / "expected_grids_v2.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
