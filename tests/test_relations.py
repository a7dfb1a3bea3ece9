"""Relations are found whatever the bound and the order of the columns (issue 19, "relations found robustly")."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import bale
from bale.bounds import Bound, check_bound
from bale.config import BaleConfig
from bale.table import Table
from bale.training.fit import fit_model


def fractions(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Energy fractions that sum to one, like a W + jets table: a third of the objects are leptons.

    A lepton is all charged but for a little photon radiation, so the photon fraction is
    often tiny or zero: ``1 - charged - neutral`` predicts it badly at a loose bound, and a
    search that only looks at the last fraction of the table misses the identity.
    """
    rng = np.random.default_rng(seed)
    f = rng.dirichlet([6.0, 1.5, 3.0], size=n)
    lepton = rng.random(n) < 0.3
    f[lepton, 1] = 0.0
    f[lepton, 2] = np.where(rng.random(lepton.sum()) < 0.5, 0.0, rng.exponential(0.01, lepton.sum()))
    f[lepton, 0] = 1.0 - f[lepton, 2]
    names = ("charged_ef", "neutral_ef", "photon_ef")
    return {name: f[:, i].astype(np.float32) for i, name in enumerate(names)}


def plain() -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = False
    return cfg


@pytest.mark.parametrize("bound", ["rel=1e-2", "rel=1e-3"])
def test_sum_to_one_found_in_every_column_order(bound: str) -> None:
    columns = fractions(20_000)
    mode, value = bound.split("=")
    for order in itertools.permutations(columns):
        table = {name: columns[name] for name in order}
        model = fit_model(Table(table), {k: Bound(mode, float(value)) for k in table}, plain(), progress=False)
        predictors = {p.name: p.predictor for p in model.columns}
        # the largest fraction is derived from the two others, coded before it
        assert predictors["charged_ef"]["kind"] == "relation", (order, predictors)
        assert predictors["charged_ef"]["formula"] == "1-a-b"
        assert sorted(predictors["charged_ef"]["inputs"]) == ["neutral_ef", "photon_ef"]
        names = [p.name for p in model.columns]
        assert names.index("charged_ef") > max(names.index("neutral_ef"), names.index("photon_ef"))
        assert model.info["estimated_bits"]["charged_ef"]["relation"] < 1.0


def test_sum_to_one_in_the_file_and_within_the_bound(tmp_path: Path) -> None:
    columns = fractions(20_000, seed=1)
    report = bale.compress(columns, tmp_path / "f.bale", error="rel=1e-2", config=plain())
    charged = report["per_column"]["charged_ef"]
    assert charged["predictor"] == "relation"
    assert charged["bits_per_value"] < 1.0  # 7 bits/value without the relation
    decoded = bale.decompress(tmp_path / "f.bale")
    for name, values in columns.items():
        assert check_bound(values, decoded[name], Bound("rel", 1e-2)) == 0


def test_no_group_where_fractions_do_not_sum_to_one() -> None:
    columns = fractions(5_000, seed=2)
    columns["photon_ef"] = (columns["photon_ef"] * 0.5).astype(np.float32)  # breaks the identity
    model = fit_model(Table(columns), {k: Bound("rel", 1e-2) for k in columns}, plain(), progress=False)
    assert all(p.predictor.get("formula") != "1-a-b" for p in model.columns)
    assert [p.name for p in model.columns] == list(columns)  # the order is left alone


def four_vectors(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    """Muons listed as the Z -> mu mu table lists them: the energy first, then px, py, pz, then pt, eta, phi."""
    rng = np.random.default_rng(seed)
    pt = rng.exponential(30.0, n) + 10.0
    eta = rng.uniform(-2.4, 2.4, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + 0.1057**2)
    columns = {"E": energy, "px": px, "py": py, "pz": pz, "pt": pt, "eta": eta, "phi": phi}
    return {k: v.astype(np.float32) for k, v in columns.items()}


def test_relation_of_columns_listed_after_the_target(tmp_path: Path) -> None:
    columns = four_vectors(20_000)
    model = fit_model(Table(columns), {k: Bound("rel", 1e-3) for k in columns}, plain(), progress=False)
    predictors = {p.name: p.predictor for p in model.columns}
    assert predictors["E"]["kind"] == "relation", predictors["E"]
    assert predictors["E"]["formula"] == "sqrt(a^2+b^2+c^2)"
    names = [p.name for p in model.columns]
    for plan in model.columns:  # every relation's inputs are coded before it: no cycles
        for name in plan.predictor.get("inputs", ()):
            assert names.index(name) < names.index(plan.name), (plan.name, name)
    report = bale.compress(columns, tmp_path / "m.bale", error="rel=1e-3", config=plain())
    assert report["per_column"]["E"]["bits_per_value"] < 2.0  # 11 bits/value coded alone
    decoded = bale.decompress(tmp_path / "m.bale")
    for name, values in columns.items():
        assert check_bound(values, decoded[name], Bound("rel", 1e-3)) == 0


def test_sum_to_one_with_missing_values(tmp_path: Path) -> None:
    columns = fractions(10_000, seed=4)
    for values in columns.values():
        values[::97] = np.nan  # a missing object: every fraction NaN
    model = fit_model(Table(columns), {k: Bound("rel", 1e-2) for k in columns}, plain(), progress=False)
    predictors = {p.name: p.predictor for p in model.columns}
    assert predictors["charged_ef"].get("formula") == "1-a-b"
    bale.compress(columns, tmp_path / "n.bale", error="rel=1e-2", config=plain())
    decoded = bale.decompress(tmp_path / "n.bale")
    for name, values in columns.items():
        assert check_bound(values, decoded[name], Bound("rel", 1e-2)) == 0
        assert np.isnan(decoded[name][::97]).all()
