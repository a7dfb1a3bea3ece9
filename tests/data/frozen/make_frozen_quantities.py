"""Write the frozen .bale file with declared quantities that tests/test_frozen.py must always decode.

Run this ONLY when the quantity sections change format (a new format version), into new names.

    python tests/data/frozen/make_frozen_quantities.py 2
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import bale
from bale.config import BaleConfig

HERE = Path(__file__).parent
JETS = HERE.parent / "ttbar_jets_2k.parquet"
QUANTITIES = ["mass(energy,px,py,pz):rel=1e-3", "pt(px,py):rel=2e-4"]


def main(version: int) -> None:
    cfg = BaleConfig()
    cfg.model.learned = False
    name = f"jets_quantities_v{version}"
    bale.compress(JETS, HERE / f"{name}.bale", error="rel=1e-3", quantities=QUANTITIES, config=cfg)
    data = bale.decompress(HERE / f"{name}.bale")
    expected = {
        "quantities": QUANTITIES,
        "sha256": {c: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for c, v in data.columns.items()},
    }
    (HERE / f"expected_quantities_v{version}.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]))
