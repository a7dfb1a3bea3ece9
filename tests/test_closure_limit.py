"""model.max_closure: every column's dependency closure stays within the limit, and bounds hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bale
from bale.bounds import check_bound
from bale.chunks import LATENT_SECTION, closure
from bale.config import BaleConfig, load_config
from bale.errors import BaleConfigError
from bale.training.closure import ClosureBudget, select_context
from common import JETS, tiled_jets

TILED = tiled_jets()


def config(limit: int | None, latent_dim: int = 0) -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 3
    cfg.model.max_closure = limit
    cfg.model.latent_dim = latent_dim
    return cfg


def sizes(model: bale.CompressionModel) -> dict[str, int]:
    return {n: len([c for c in closure(model, [n]) if c != LATENT_SECTION]) for n in model.names}


@pytest.fixture(scope="module")
def models() -> dict[int | None, bale.CompressionModel]:
    return {limit: bale.train(TILED, config=config(limit)) for limit in (1, 3, None)}


@pytest.mark.parametrize("limit", [1, 3])
def test_every_closure_is_within_the_limit(models: dict[int | None, bale.CompressionModel], limit: int) -> None:
    model = models[limit]
    assert max(sizes(model).values()) <= limit
    assert model.info["max_closure"] == limit


def test_limit_one_makes_every_lossy_column_independent(models: dict[int | None, bale.CompressionModel]) -> None:
    model = models[1]
    assert set(sizes(model).values()) == {1}
    assert all(p.predictor["kind"] in ("exact", "grid", "delta") for p in model.columns)
    assert model.network is None


def test_unlimited_is_the_default_and_keeps_long_closures(models: dict[int | None, bale.CompressionModel]) -> None:
    assert BaleConfig().model.max_closure is None
    assert max(sizes(models[None]).values()) > 3  # the network and relations reach far on these jets
    assert "max_closure" not in models[None].info


def test_limit_with_latent_counts_columns_only() -> None:
    model = bale.train(TILED, config=config(2, latent_dim=1))
    assert max(sizes(model).values()) <= 2


@pytest.mark.parametrize("limit", [1, 3])
def test_bounds_hold_on_decode(tmp_path: Path, limit: int) -> None:
    out = tmp_path / "jets.bale"
    cfg = config(limit)
    bale.compress(TILED, out, config=cfg)
    decoded = bale.decompress(out)
    original = bale.api.as_table(TILED)
    model = bale.train(TILED, config=cfg)
    bounds = {p.name: p.bound for p in model.columns}
    for name, values in original.columns.items():
        assert check_bound(values, decoded.columns[name], bounds[name]) == 0, name
    with bale.open(out) as tree:  # reading one column decodes only its closure, within the limit
        for name in tree:
            assert len(tree.closure(name).columns) <= limit
            np.testing.assert_array_equal(tree.arrays([name], library="np")[name], decoded.columns[name])


def test_config_option(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[model]\nmax_closure = 4\n")
    assert load_config(path).model.max_closure == 4
    assert load_config(None).model.max_closure is None
    with pytest.raises(BaleConfigError, match="max_closure"):
        load_config(None, {"model.max_closure": 0})
    assert "max_closure" in BaleConfig.model_json_schema()["$defs"]["ModelConfig"]["properties"]


def test_budget_checks_the_columns_that_use_a_column() -> None:
    budget = ClosureBudget(3)
    for name in ("a", "b", "c"):
        budget.set(name, ())
    budget.set("d", ("b", "c"))  # d = f(b, c): closure {b, c, d}
    assert budget.fits("b", ()) and not budget.fits("b", ("a",))  # b seeing a would make d's closure 4
    assert budget.fits("a", ("b",))
    budget.set("a", ("b",))
    assert budget.closures["a"] == {"a", "b"}
    rng = np.random.default_rng(0)
    x = {k: rng.normal(size=2000) for k in "abcd"}
    y = x["a"] ** 2 + 0.01 * rng.normal(size=2000)
    budget.set("e", ())
    assert select_context("e", y, list("abcd"), x, budget) == ["a", "b"]  # a; then b is free


def test_cli_flag_and_schema(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bale.cli import main

    out = tmp_path / "jets.bale"
    result = CliRunner().invoke(
        main, ["compress", str(JETS), "-o", str(out), "--max-closure", "1", "--epochs", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    with bale.open(out) as tree:
        assert {len(tree.closure(k).columns) for k in tree} == {1}
    schema = CliRunner().invoke(main, ["schema"])
    assert "max_closure" in schema.output
