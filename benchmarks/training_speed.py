"""Default training: time and ratio of the default against the previous default (batch 512, lr 3e-3).

    python benchmarks/training_speed.py --data-dir ../shared/data [--error rel=1e-3] [--extra zjets.parquet]

Every flat table of ``benchmarks/core.py`` is compressed twice from the same columns, once
with the current default ``[train]`` settings and once with ``batch_size = 512,
learning_rate = 3e-3`` (bale's default before 2026-12-07). Prints one JSON line per run:
the training seconds as bale reports them (sampling, predictor choice and the network) and
the honest ratio (raw bytes over the file's bytes, model included). docs/models.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bale
from bale.config import BaleConfig
from core import load_reference

FLAT_TABLES = [
    ("pythia_ttbar_jets.parquet", None),
    ("pythia_qcd_jets.parquet", None),
    ("uproot-Zmumu.root", "events"),
    ("nanoAOD_2015_CMS_Open_Data_ttbar.root", "Events"),
    ("uproot-HZZ.root", "events"),
    ("pythia_ttbar_particles.parquet", None),
]
PREVIOUS = {"batch_size": 512, "learning_rate": 3e-3}


def _config(train: dict[str, float]) -> BaleConfig:
    c = BaleConfig()
    return c.model_copy(update={"train": c.train.model_copy(update=train)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--error", default="rel=1e-3")
    ap.add_argument("--extra", nargs="*", default=[], help="more Parquet tables (absolute paths)")
    args = ap.parse_args()
    tables = [(str(args.data_dir / f), tree) for f, tree in FLAT_TABLES] + [(p, None) for p in args.extra]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.bale"
        bale.compress({"a": np.arange(5000, dtype=np.float32)}, out, error=args.error)  # imports and JIT, not timed
        for path, tree in tables:
            ref = load_reference(Path(path), tree)
            raw = sum(v.nbytes for v in ref.values())
            for label, train in (("default", {}), ("previous", PREVIOUS)):
                t0 = time.perf_counter()
                report = bale.compress(ref, out, error=args.error, config=_config(train), kind="table")
                info = bale.info(out)
                print(json.dumps({"table": Path(path).name, "rows": info["rows"], "settings": label,
                                  "train_s": report["seconds"]["train"], "wall_s": round(time.perf_counter() - t0, 1),
                                  "ratio": round(raw / info["file_bytes"], 4)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
