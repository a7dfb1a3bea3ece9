"""The reports of info, verify, compress, bench and evaluate hold exactly the keys their typed models declare.

Each report is a TypedDict (``bale.reports``, ``bale.bench.results``, ``bale.evaluate.results``): a plain
dict at run time, so nothing but these tests keeps the producer and the model from drifting apart. Every
key a report holds must be declared, every required key must be there, at every level the model types.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import bale
from bale.bench import run_bench
from bale.bench.grid import run_grid_bench
from bale.bench.results import FIELD, BenchResults, GridBenchResults
from bale.cli import main
from bale.config import BaleConfig
from bale.evaluate import evaluate
from bale.evaluate.grid import evaluate_grids
from bale.evaluate.results import EvaluationReport, GridEvaluation
from bale.grid.api import is_grid_file
from bale.reports import (
    FieldsInfo,
    FieldsVerify,
    RootFileInfo,
    RootFileVerify,
    TableInfo,
    TableVerify,
    table_info,
)
from common import DATA, FROZEN, JETS, STILL

ATLAS = DATA / "root" / "atlas_style.root"  # two trees and three objects: a whole ROOT file


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def conforms(value: Any, tp: Any, where: str = "report") -> int:
    """Assert that ``value`` has the keys of ``tp`` (a TypedDict, or containers of them), recursively.

    Returns how many TypedDicts were checked, so a test can tell that it looked at something.
    """
    if _is_typeddict(tp):
        assert isinstance(value, dict), f"{where}: {type(value).__name__}, not a dict"
        keys = set(value)
        required, optional = set(tp.__required_keys__), set(tp.__optional_keys__)
        assert required <= keys, f"{where}: {tp.__name__} lacks {sorted(required - keys)}"
        assert keys <= required | optional, f"{where}: keys {sorted(keys - required - optional)} not in {tp.__name__}"
        hints = typing.get_type_hints(tp)
        return 1 + sum(conforms(value[k], hints[k], f"{where}[{k!r}]") for k in keys)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict and _is_typeddict(args[1]):
        return sum(conforms(v, args[1], f"{where}[{k!r}]") for k, v in value.items())
    if origin is list and args and _is_typeddict(args[0]):
        return sum(conforms(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType) and value is not None:
        models = [a for a in args if _is_typeddict(a)]
        if models:
            assert len(models) == 1, where
            return conforms(value, models[0], where)
    return 0


def quick() -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = False
    cfg.train.epochs = 2
    return cfg


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A table, a whole ROOT file and a file of fields, compressed once, with compress()'s reports."""
    tmp = tmp_path_factory.mktemp("reports")
    out: dict[str, Any] = {}
    out["table_report"] = bale.compress(JETS, tmp / "t.bale", error="rel=1e-3", config=quick())
    out["root_report"] = bale.compress(ATLAS, tmp / "r.bale", error="rel=1e-3", config=quick())
    out["fields_report"] = bale.compress(STILL, tmp / "f.bale", error="abs=0.01")
    out.update(table=tmp / "t.bale", root=tmp / "r.bale", fields=tmp / "f.bale")
    return out


def test_the_checker_catches_a_key_the_model_does_not_declare() -> None:
    with pytest.raises(AssertionError, match="lacks"):
        conforms({"file": "x"}, TableVerify)
    whole = dict.fromkeys(TableVerify.__required_keys__, 0)
    assert conforms(whole, TableVerify) == 1
    with pytest.raises(AssertionError, match="not in TableVerify"):
        conforms({**whole, "surprise": 1}, TableVerify)


def test_info_of_a_table_holds_the_keys_of_table_info(files: dict[str, Any]) -> None:
    report = bale.info(files["table"])
    assert "trees" not in report and "grids" not in report
    assert conforms(report, TableInfo) >= 1 + len(report["per_column"])


@pytest.mark.parametrize(
    "name", ["jets_v2.bale", "events_v2.bale", "jets_quantities_v2.bale", "jets_external_v2.bale", "jets_v1.bale"]
)
def test_info_of_frozen_table_files_holds_the_keys_of_table_info(name: str) -> None:
    report = bale.info(FROZEN / name)
    checked = conforms(report, TableInfo)
    assert checked > len(report["per_column"])
    if name == "events_v2.bale":  # a dataset: a summary per table
        assert "tables" in report
    if name == "jets_quantities_v2.bale":
        assert "quantities" in report


def test_info_with_an_external_model_holds_the_keys_of_table_info() -> None:
    report = bale.info(FROZEN / "jets_external_v2.bale", model=FROZEN / "jets_model_v2.safetensors")
    assert "ratio_with_model" in report and "bytes" in report["model"]
    conforms(report, TableInfo)


def test_info_of_a_whole_root_file_holds_the_keys_of_root_file_info(files: dict[str, Any]) -> None:
    report = bale.info(files["root"])
    assert report.get("kind") == "root_file"
    assert conforms(report, RootFileInfo) > 2  # the file, and each tree's own TableInfo


@pytest.mark.parametrize("name", ["grid_v2.bale", "grid_conv_v2.bale"])
def test_info_of_fields_holds_the_keys_of_fields_info(files: dict[str, Any], name: str) -> None:
    for path in (files["fields"], FROZEN / name):
        report = bale.info(path)
        assert conforms(report, FieldsInfo) >= 2 + len(report["grids"])


def test_compress_reports_are_info_with_seconds(files: dict[str, Any]) -> None:
    for kind, model in (("table", TableInfo), ("root", RootFileInfo), ("fields", FieldsInfo)):
        report = files[f"{kind}_report"]
        conforms(report, model, kind)
        info = bale.info(files[kind])
        assert list(report) == list(info) + (["seconds"] if kind != "root" else []), kind
    assert set(files["table_report"]["seconds"]) == {"train", "compress"}


def test_verify_reports_hold_the_keys_of_their_models(files: dict[str, Any]) -> None:
    assert conforms(bale.verify(files["table"]), TableVerify) == 1
    assert conforms(bale.verify(files["root"]), RootFileVerify) == 3  # the file and its two trees
    assert conforms(bale.verify(files["fields"]), FieldsVerify) == 1


def test_the_json_of_info_is_the_report_in_its_order(files: dict[str, Any], runner: CliRunner) -> None:
    result = runner.invoke(main, ["info", str(files["table"]), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    report = bale.info(files["table"])
    assert list(printed) == list(report)
    assert printed == json.loads(json.dumps(report))


def test_table_info_narrows_a_report_or_refuses(files: dict[str, Any]) -> None:
    report = bale.info(files["table"])
    assert table_info(report) is report
    with pytest.raises(TypeError, match="fields"):
        table_info(bale.info(files["fields"]))
    with pytest.raises(TypeError, match="ROOT"):
        table_info(bale.info(files["root"]))


def test_is_grid_file_reads_the_header_not_the_name(files: dict[str, Any], tmp_path: Path) -> None:
    assert is_grid_file(files["fields"])
    assert not is_grid_file(files["table"])
    fake = tmp_path / "not.bale"
    fake.write_bytes(b"not a bale file at all")
    assert not is_grid_file(fake)
    renamed = tmp_path / "fields.dat"
    renamed.write_bytes(Path(files["fields"]).read_bytes())
    assert is_grid_file(renamed)
    assert not is_grid_file(tmp_path / "missing.bale")


def test_bench_results_hold_the_keys_of_bench_results() -> None:
    table = bale.api.as_table(JETS).slice(0, 300)
    results = run_bench(table, ["rel=1e-2", "rel=1e-3"], methods=["zstd-3"], isolate=False, measure_memory=False)
    rows = [r for s in results["settings"] for r in s["methods"]]
    assert rows and all(r["name"] == "zstd-3" for r in rows)
    assert conforms(results, BenchResults) >= 1 + len(results["settings"]) * 2 + 2 * len(table.columns)


def test_grid_bench_results_hold_the_keys_of_grid_bench_results() -> None:
    field = np.random.default_rng(0).normal(size=(4, 16, 16)).astype(np.float32)
    results = run_grid_bench({"f": field}, ["abs=0.01"], methods=["bale-grid", "zstd-19"])
    assert [s[FIELD] for s in results["settings"]] == ["f"]
    assert conforms(results, GridBenchResults) == 4  # the results, one setting, two rows


def test_evaluation_reports_hold_the_keys_of_their_models(tmp_path: Path) -> None:
    table = bale.api.as_table(JETS).slice(0, 400)
    noisy = {k: (v * (1 + 1e-4) if v.dtype.kind == "f" else v) for k, v in table.columns.items()}
    bounds = {k: "rel=1e-3" for k, v in table.columns.items() if v.dtype.kind == "f"}
    metrics = evaluate(table, noisy, tmp_path / "t", bounds=bounds, plots=False)
    assert {"training", "summary", "figures"} <= set(metrics)
    assert conforms(metrics, EvaluationReport) >= 2 + 2 * len(table.columns)
    assert json.loads((tmp_path / "t" / "metrics.json").read_text()) == metrics
    field = np.random.default_rng(1).normal(size=(3, 8, 8))
    grids = evaluate_grids({"f": field}, {"f": field + 1e-3}, {"f": bale.parse_bound("abs=0.01")}, tmp_path / "g",
                           plots=False, extra={"errors": {"f": "abs=0.01"}})  # fmt: skip
    assert conforms(grids, GridEvaluation) == 3  # the report, its field, its summary
