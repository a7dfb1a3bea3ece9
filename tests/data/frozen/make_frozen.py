"""Write the frozen .bale files that tests/test_frozen.py must always decode.

Run this ONLY when introducing a new format version, into a new set of names (…_v2):
the old files stay, so that every released format keeps decoding.

    python tests/data/frozen/make_frozen.py 1

Version 3 added residual contexts (bale.codec.context), which only a file whose model has
them is written as: its set is the external model's file and ``contexts_v3`` (the jets
tiled four times, enough rows for contexts to be chosen); the other files would be
version 2 files again.
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
NANOAOD = HERE.parent / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
EVENT_BRANCHES = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_jetId", "Muon_pt", "Muon_charge", "MET_*", "run"]


def special_table() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    n = 500
    x = rng.lognormal(0, 3, n).astype(np.float32) * rng.choice([-1, 1], n).astype(np.float32)
    x[:12] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-45, 3e38, -3e38, 1.0, -1.0, 2.0]
    x[0] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), np.float32)[0]
    return {
        "x_rel": x,
        "y_abs": rng.normal(0, 10, n),
        "counts": rng.poisson(3, n).astype(np.uint16),
        "ids": np.arange(n, dtype=np.int64) * 7 - 1000,
        "flag": rng.random(n) < 0.2,
        "small": rng.integers(-128, 128, n).astype(np.int8),
    }


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def main(version: int) -> None:
    cfg = BaleConfig()
    cfg.train.epochs = 8
    expected: dict[str, dict[str, object]] = {}
    jets = bale.api.as_table(JETS).columns
    tiled = {k: np.tile(v, 40) for k, v in jets.items()}
    if version >= 3:
        _write_v3(version, cfg, jets, tiled, expected)
        return

    bale.compress(JETS, HERE / f"jets_v{version}.bale", error="rel=1e-3", config=cfg)

    cfg_latent = BaleConfig()
    cfg_latent.train.epochs = 8
    cfg_latent.model.latent_dim = 2
    model = bale.train(tiled, error="rel=1e-3", config=cfg_latent)
    assert model.network is not None, "the frozen external model should exercise the network"
    bale.save_model(model, HERE / f"jets_model_v{version}.safetensors")
    bale.compress(JETS, HERE / f"jets_external_v{version}.bale", model=model)

    special = special_table()
    np.savez(HERE / f"special_v{version}_original.npz", **special)
    bale.compress(special, HERE / f"special_v{version}.bale", errors=["rel=1e-3", "y_abs:abs=0.05"], config=cfg)

    cases = [(f"jets_v{version}", None), (f"jets_external_v{version}", f"jets_model_v{version}"),
             (f"special_v{version}", None)]
    if version >= 2:  # files with jagged collections (a main table and one table per collection)
        bale.compress(NANOAOD, HERE / f"events_v{version}.bale", columns=EVENT_BRANCHES, error="rel=1e-3", config=cfg)
        cases.append((f"events_v{version}", None))
    _expect(version, cases, expected)


def _expect(version: int, cases: list[tuple[str, str | None]], expected: dict[str, dict[str, object]]) -> None:
    for name, model_path in cases:
        data = bale.decompress(HERE / f"{name}.bale",
                               model=HERE / f"{model_path}.safetensors" if model_path else None)
        tables = data.tables.values() if isinstance(data, bale.Dataset) else [data]
        expected[name] = {col: {"sha256": digest(v), "head": v[:8].tolist()}
                          for table in tables for col, v in table.columns.items()}
    (HERE / f"expected_v{version}.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def _write_v3(
    version: int,
    cfg: BaleConfig,
    jets: dict[str, np.ndarray],
    tiled: dict[str, np.ndarray],
    expected: dict[str, dict[str, object]],
) -> None:
    """The files of residual contexts: the external model's (its contexts on a 2,000-row chunk: one
    bucket each) and the jets tiled four times (several buckets)."""
    model = bale.train(tiled, error="rel=1e-3", config=cfg)
    assert any(plan.context for plan in model.columns), "the frozen model should have residual contexts"
    bale.save_model(model, HERE / f"jets_model_v{version}.safetensors")
    bale.compress(JETS, HERE / f"jets_external_v{version}.bale", model=model)
    four = {k: np.tile(v, 4) for k, v in jets.items()}
    bale.compress(four, HERE / f"contexts_v{version}.bale", error="rel=1e-3", config=cfg)
    counts = counts_table()
    np.savez_compressed(HERE / f"counts_v{version}_original.npz", **counts)
    bale.compress(counts, HERE / f"counts_v{version}.bale", error="rel=1e-3", config=cfg)
    for name in (f"jets_external_v{version}", f"contexts_v{version}", f"counts_v{version}"):
        assert bale.info(HERE / f"{name}.bale")["format_version"] == version, name
    cases = [(f"jets_external_v{version}", f"jets_model_v{version}"), (f"contexts_v{version}", None),
             (f"counts_v{version}", None)]  # fmt: skip
    _expect(version, cases, expected)


def counts_table() -> dict[str, np.ndarray]:
    """A count given its parent count (the ``context`` kind of exact columns), and a float."""
    rng = np.random.default_rng(2026)
    n = 12_000
    constituents = rng.poisson(rng.uniform(3, 60, n)).astype(np.int32)
    return {
        "n_constituents": constituents,
        "n_charged": rng.binomial(constituents, 0.6).astype(np.int16),
        "pt": rng.lognormal(3.5, 0.8, n).astype(np.float32),
    }


if __name__ == "__main__":
    main(int(sys.argv[1]))
