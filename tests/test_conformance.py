"""Every entry point and every writer through the conformance kit (``tests/conformance.py``, issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bale
from bale.io import FORMATS, read_table, write_table
from bale.table import Table
from conformance import (
    ACCEPTED_NAMES,
    CASES,
    ENTRY_POINTS,
    REFUSED_NAMES,
    WRITERS,
    assert_same,
    exact_round_trip,
    refused_before_writing,
)

pytest.importorskip("polars")


def test_every_writer_and_entry_point_is_in_the_kit() -> None:
    assert set(WRITERS) == set(FORMATS), "a new writer must be added to tests/conformance.py WRITERS"
    assert {"dict", "table", "numpy structured", "pandas", "polars", "pyarrow"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_give_back_what_went_in(entry: str, case: str, tmp_path: Path) -> None:
    make, lacking = ENTRY_POINTS[entry]
    columns = {k: v for k, v in CASES[case]().items() if k not in lacking}
    assert_same(columns, exact_round_trip(make(columns), tmp_path))


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_keep_every_accepted_name(entry: str, tmp_path: Path) -> None:
    make, _ = ENTRY_POINTS[entry]
    columns = {name: np.arange(3, dtype=np.int16) + i for i, name in enumerate(ACCEPTED_NAMES)}
    assert_same(columns, exact_round_trip(make(columns), tmp_path))


@pytest.mark.parametrize("name", REFUSED_NAMES, ids=repr)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_refuse_every_other_name(entry: str, name: str, tmp_path: Path) -> None:
    make, _ = ENTRY_POINTS[entry]
    try:
        data = make({name: np.arange(3.0), "ok": np.arange(3.0)})
    except Exception:  # the library itself cannot hold the name (NumPy fields, polars): nothing to refuse
        pytest.skip(f"{entry} cannot hold {name!r}")
    message = refused_before_writing(lambda: bale.compress(data, tmp_path / "x.bale"), tmp_path, set())
    assert repr(name) in message


def test_pandas_index_and_dtypes_are_never_changed_silently(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=pd.date_range("2024-01-01", periods=3, name="time"))
    message = refused_before_writing(lambda: bale.compress(frame, tmp_path / "a.bale"), tmp_path, set())
    assert "DatetimeIndex 'time'" in message and "reset_index()" in message
    keyed = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([10, 20], name="id"))
    assert "reset_index()" in refused_before_writing(lambda: bale.compress(keyed, tmp_path / "k.bale"), tmp_path, set())
    kept = exact_round_trip(keyed.reset_index(), tmp_path)  # the fix the message gives keeps it as a column
    assert kept.names == ["id", "x"] and kept["id"].tolist() == [10, 20]
    before = {p.name for p in tmp_path.iterdir()}
    for frame in (pd.DataFrame({"x": [1.0, 2.0]}).iloc[1:], pd.DataFrame({"x": [1.0]}, index=pd.Index([7]))):
        refused_before_writing(lambda f=frame: bale.compress(f, tmp_path / "b.bale"), tmp_path, before)
    for column, dtype in ((pd.Categorical([1, 2, 1]), "category"), (["a", "b", "c"], "str")):
        frame = pd.DataFrame({"c": column})
        message = refused_before_writing(lambda f=frame: bale.compress(f, tmp_path / "c.bale"), tmp_path, before)
        assert f"column 'c' has pandas dtype {dtype}" in message
    frame = pd.DataFrame({0: [1.0], 1: [2.0]})
    assert "not a string" in refused_before_writing(lambda: bale.compress(frame, tmp_path / "d.bale"), tmp_path, before)


def test_polars_is_native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import polars as pl

    monkeypatch.setitem(sys.modules, "pandas", None)  # through Arrow: pandas is not needed
    frame = pl.DataFrame({"n": pl.Series([1, 2, 3], dtype=pl.Int16), "x": [0.5, -0.0, float("nan")]})
    table = exact_round_trip(frame, tmp_path)
    assert table["n"].dtype == np.int16 and table["x"].tobytes() == frame["x"].to_numpy().tobytes()
    before = {p.name for p in tmp_path.iterdir()}
    for bad, what in (({"s": ["a"]}, "String"), ({"c": pl.Series(["a"], dtype=pl.Categorical)}, "Categorical")):
        message = refused_before_writing(
            lambda b=bad: bale.compress(pl.DataFrame(b), tmp_path / "p.bale"), tmp_path, before
        )
        assert what in message
    message = refused_before_writing(
        lambda: bale.compress(pl.DataFrame({"n": [1, None]}), tmp_path / "q.bale"), tmp_path, before
    )
    assert "missing values" in message


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_writers_give_back_what_went_in(fmt: str, case: str, tmp_path: Path) -> None:
    suffix, lacking = WRITERS[fmt]
    columns = {k: v for k, v in CASES[case]().items() if k not in lacking}
    path = tmp_path / f"t{suffix}"
    if fmt == "csv" and case == "empty":
        pytest.skip("an empty CSV has no types to read back")
    write_table(Table(columns), path)
    assert_same(columns, read_table(path), csv=fmt == "csv")


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("name", ACCEPTED_NAMES, ids=repr)
def test_writers_hold_every_accepted_name_or_refuse_it(fmt: str, name: str, tmp_path: Path) -> None:
    suffix, _ = WRITERS[fmt]
    columns = {name: np.arange(3.0), "other": np.arange(3.0) + 1}
    path = tmp_path / f"t{suffix}"
    try:
        write_table(Table(columns), path)
    except bale.errors.BaleInputError as exc:
        assert "\n" not in str(exc) and repr(name) in str(exc)
        assert list(tmp_path.iterdir()) == []
        return
    assert_same(columns, read_table(path), csv=fmt == "csv")


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_writers_never_merge_two_names(fmt: str, tmp_path: Path) -> None:
    """``a`` and ``a/b`` (a dataset and a group in HDF5), ``x.npy`` and ``x`` (npz members): both kept, or refused."""
    suffix, _ = WRITERS[fmt]
    for pair in (["a", "a/b"], ["x", "x.npy"], ["g/h", "g"]):
        columns = {n: np.arange(3.0) + i for i, n in enumerate(pair)}
        path = tmp_path / f"t{suffix}"
        try:
            write_table(Table(columns), path)
        except bale.errors.BaleInputError as exc:
            assert "\n" not in str(exc)
            assert not path.exists()
            continue
        assert_same(columns, read_table(path), csv=fmt == "csv")
        path.unlink()
