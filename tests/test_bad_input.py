"""Awkward and bad input: each case works losslessly where it can, or fails with one clear line.

Empty, one-row and zero-column tables, all-NaN and constant columns, every numeric dtype at
its extremes, strings and objects, missing values, duplicate and reserved names, 2000
columns, wrong bounds and a model of another schema; from Python and from the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import bale
from bale.api import verify
from bale.bounds import Bound, check_bound
from bale.cli import main
from bale.config import load_config
from bale.errors import BaleConfigError, BaleInputError, BaleModelMismatchError

FAST = load_config(None, {"model.learned": False})
LEARNED = load_config(None, {"train.epochs": 2, "train.max_rows": 512})
DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
          "float16", "float32", "float64"]  # fmt: skip


def round_trip(data: object, tmp_path: Path, config: object = FAST, **kwargs: object) -> bale.Table:
    path = tmp_path / "t.bale"
    bale.compress(data, path, config=config, workers=1, **kwargs)  # type: ignore[arg-type]
    assert verify(path)["ok"]
    table = bale.decompress(path)
    assert isinstance(table, bale.Table)
    return table


def cli_error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bale: error:"), result.output
    return lines[0]


@pytest.mark.parametrize("rows", [0, 1, 2])
@pytest.mark.parametrize("config", [FAST, LEARNED], ids=["classical", "learned"])
def test_empty_and_tiny_tables(tmp_path: Path, rows: int, config: object) -> None:
    data = {d: np.zeros(rows, dtype=d) for d in ("float32", "float64", "int64", "bool")}
    data["float64"] += 1.5
    table = round_trip(data, tmp_path, config)
    assert table.num_rows == rows
    for name, values in data.items():
        assert table[name].dtype == values.dtype
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
        assert check_bound(values, table[name], bound) == 0, name


def test_a_table_without_columns_is_refused(tmp_path: Path) -> None:
    for data in ({}, pd.DataFrame(), np.zeros((5, 0))):
        with pytest.raises(BaleInputError, match="no columns"):
            bale.compress(data, tmp_path / "t.bale", config=FAST)
    assert not (tmp_path / "t.bale").exists()


@pytest.mark.parametrize("config", [FAST, LEARNED], ids=["classical", "learned"])
def test_all_nan_and_constant_columns(tmp_path: Path, config: object) -> None:
    n = 300
    data = {
        "nan64": np.full(n, np.nan),
        "nan32": np.full(n, np.nan, dtype=np.float32),
        "inf": np.full(n, -np.inf),
        "zero": np.zeros(n),
        "negzero": np.full(n, -0.0),
        "const": np.full(n, 3.25),
        "iconst": np.full(n, -7, dtype=np.int32),
        "bconst": np.ones(n, dtype=bool),
        "x": np.linspace(1, 2, n),
    }
    table = round_trip(data, tmp_path, config, errors={"nan32": "abs=0.1"})
    for name, values in data.items():
        if name in ("const", "x"):
            assert check_bound(values, table[name], Bound("rel", 1e-3)) == 0
        else:
            assert table[name].tobytes() == values.tobytes(), name


def test_every_dtype_at_its_extremes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = {}
    for d in DTYPES:
        dtype = np.dtype(d)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, 200, dtype=dtype, endpoint=True)
            values[:2] = [info.min, info.max]
        elif dtype.kind == "b":
            values = rng.random(200) < 0.5
        else:
            finfo = np.finfo(dtype)
            values = rng.normal(0, 100, 200).astype(dtype)
            values[:6] = [finfo.max, -finfo.max, finfo.tiny, np.nan, np.inf, -0.0]
        data[d] = values
    table = round_trip(data, tmp_path)
    for name, values in data.items():
        assert table[name].dtype == values.dtype
        if values.dtype.kind == "f":
            assert check_bound(values, table[name], Bound("rel", 1e-3)) == 0, name
            assert table[name][3:6].tobytes() == values[3:6].tobytes()
        else:
            assert table[name].tobytes() == values.tobytes(), name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"s": np.array(["a", "b"])}, "dtype <U1, bale compresses numeric"),
        ({"o": np.array([1, "b"], dtype=object)}, "dtype object"),
        (pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]}), "column 's' has pandas dtype (str|object)"),
        (pd.DataFrame({"c": pd.Categorical(["a", "b"])}), "column 'c' has pandas dtype category"),
        (pd.DataFrame({"c": pd.Categorical([1, 2])}), "column 'c' has pandas dtype category"),
        (pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-01-01"])}), "column 't' has pandas dtype datetime64"),
        ({"c": np.zeros(3, complex)}, "dtype complex128"),
        ({"m": np.zeros((3, 2))}, "not one-dimensional"),
        ({"a": np.zeros(3), "b": np.zeros(4)}, "different lengths"),
        (pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}), "column 'n' has 1 missing values"),
        (pa.table({"n": pa.array([1, None])}), "column 'n' has 1 missing values"),
        (pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]), r"duplicate column name\(s\) \['a'\]"),
        (pd.DataFrame({0: [1.0], "0": [2.0]}), "column name 0 is of type int, not a string"),
        (pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]), "duplicate column name"),
        ({1: [1.0], "1": [2.0]}, "column name 1 is of type int, not a string"),
        ({"@latent": [1.0]}, "reserved"),
        ({"": [1.0]}, "non-empty"),
        (object(), "cannot compress an object of type object"),
    ],
)
def test_unusable_columns_are_refused_clearly(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(BaleInputError, match=message):
        bale.compress(data, tmp_path / "t.bale", config=FAST)
    assert list(tmp_path.iterdir()) == []


def test_nullable_columns_without_missing_values_are_kept(tmp_path: Path) -> None:
    data = pd.DataFrame({"n": pd.array([1, 2, 3], dtype="Int64"), "x": [0.5, np.nan, 2.0]})
    table = round_trip(data, tmp_path)
    assert table["n"].tolist() == [1, 2, 3] and np.isnan(table["x"][1])


def test_duplicate_and_string_columns_in_files(tmp_path: Path) -> None:
    (tmp_path / "dup.csv").write_text("a,a,b\n1,2,3\n4,5,6\n")
    line = cli_error(["compress", str(tmp_path / "dup.csv"), "-o", str(tmp_path / "o.bale")])
    assert "duplicate column name(s) ['a']" in line
    pq.write_table(pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]), tmp_path / "d.pq")
    assert "duplicate column name" in cli_error(["compress", str(tmp_path / "d.pq"), "-o", str(tmp_path / "o.bale")])
    (tmp_path / "s.csv").write_text("x,name\n1,a\n2,b\n")
    line = cli_error(["compress", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.bale")])
    assert "column 'name' has type string" in line
    (tmp_path / "empty.csv").write_text("")
    assert "Empty CSV" in cli_error(["compress", str(tmp_path / "empty.csv"), "-o", str(tmp_path / "o.bale")])
    assert not (tmp_path / "o.bale").exists()


def test_header_only_csv_is_an_empty_table(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n")
    table = round_trip(tmp_path / "h.csv", tmp_path)
    assert table.names == ["a", "b"] and table.num_rows == 0


def test_two_thousand_columns(tmp_path: Path) -> None:
    """2000 columns x 50 rows (classical coding: the relation search and network are per column, slow here)."""
    rng = np.random.default_rng(0)
    data = {f"c{i}": rng.normal(size=50) if i % 3 else rng.integers(0, 9, 50) for i in range(2000)}
    table = round_trip(data, tmp_path, load_config(None, {"model.learned": False, "model.relations": False}))
    assert table.names == list(data)
    for name, values in data.items():
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
        assert check_bound(values, table[name], bound) == 0, name


@pytest.mark.parametrize(
    ("bound", "message"),
    [
        ("rel=", "is not a number"),
        ("rel=-1", "positive finite"),
        ("abs=0", "positive finite"),
        ("rel=2", "below 1"),
        ("abs=inf", "positive finite"),
        ("rel=nan", "positive finite"),
        ("banana", "expected rel=X, abs=X or exact"),
        ("rel=1e-3x", "is not a number"),
        (":rel=1e-3", "empty column name"),
        ("nosuch:rel=1e-3", "unknown column"),
        ("i:rel=1e-3", "exact"),
    ],
)
def test_wrong_bounds(tmp_path: Path, bound: str, message: str) -> None:
    data = {"x": np.linspace(0, 1, 50), "i": np.arange(50)}
    with pytest.raises((BaleConfigError, BaleInputError), match=message):
        bale.compress(data, tmp_path / "t.bale", errors=[bound], config=FAST)
    np.savez(tmp_path / "t.npz", **data)
    assert message in cli_error(["compress", str(tmp_path / "t.npz"), "-o", str(tmp_path / "t.bale"), "-e", bound])
    assert not (tmp_path / "t.bale").exists()


def test_a_model_of_another_schema(tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    bale.save_model(bale.train({"x": np.linspace(0, 1, 100), "i": np.arange(100)}, config=FAST), model)
    np.savez(tmp_path / "other.npz", x=np.linspace(0, 1, 100), j=np.arange(100))
    np.savez(tmp_path / "retyped.npz", x=np.linspace(0, 1, 100).astype(np.float32), i=np.arange(100))
    for name, what in (("other", r"missing \['i'\], unexpected \['j'\]"), ("retyped", r"other dtype \['x'\]")):
        with pytest.raises(BaleInputError, match=what):
            bale.compress(tmp_path / f"{name}.npz", tmp_path / "o.bale", model=model)
        line = cli_error(["compress", str(tmp_path / f"{name}.npz"), "-o", str(tmp_path / "o.bale"), "-m", str(model)])
        assert "trained on another schema" in line
    assert not (tmp_path / "o.bale").exists()
    bale.compress({"x": np.linspace(0, 1, 100), "i": np.arange(100)}, tmp_path / "ok.bale", model=model)
    other = tmp_path / "o.safetensors"
    retrained = bale.train({"x": np.linspace(0, 2, 100), "i": np.arange(100)}, config=FAST, error="rel=1e-2")
    bale.save_model(retrained, other)
    with pytest.raises(BaleModelMismatchError, match="was compressed with model"):
        bale.decompress(tmp_path / "ok.bale", model=other)
    assert "was compressed with model" in cli_error(["decompress", str(tmp_path / "ok.bale"), "-m", str(other)])
