"""The conformance kit (issue 16), as numcodecs has one: shared checks for every entry point and every writer.

An *entry point* turns a dict of NumPy columns into something ``bale.compress`` takes (a dict,
pandas, polars, pyarrow, a NumPy structured array, a :class:`bale.table.Table`, a file of each
format). A *writer* is a format of :data:`bale.io.FORMATS`. ``tests/test_conformance.py`` runs
every check on every entry point and writer, and fails when a format or entry point is added
without being listed here: nothing new can skip the kit.

The rule checked: a value, dtype, name or index comes back as it went in (bit for bit: the
kit compresses with ``exact`` bounds, the lossy paths have their own property tests), or the
call refuses before writing anything, in one line naming the column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import bale
from bale.errors import BaleInputError
from bale.table import Table

Columns = dict[str, np.ndarray]

#: Names bale accepts: every writer holds each exactly, or refuses it before writing.
ACCEPTED_NAMES = [
    "x", "a/b", "g/h/i", "a.b", "..x", "x..", ".hidden", "x y", "é", "e\u0301", "名前", "a:b", "x;y", "'q'",
    "file", "allow_pickle", "names", "col0", "-1", "🙂",
]  # fmt: skip
#: Names bale refuses at compress time, whatever the entry point.
REFUSED_NAMES = [
    "", ".", "..", "../x", "a//b", "/a", "a/", "x/./y", "x\0a", "\tx", " x", "x ", "a\nb", "a\rb", "@x", "x\x7f",
    "x\x85", "\udcff",
]  # fmt: skip

FLOAT_SPECIALS = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.0, -1.5]


def special_columns(rows: int = 12) -> Columns:
    """One column per dtype bale codes, with the special values of each (extremes, NaN, ±inf, ±0, subnormals)."""
    out: Columns = {}
    for dtype in ("float64", "float32", "float16"):
        info = np.finfo(dtype)
        values = [*FLOAT_SPECIALS, float(info.max), float(info.min), float(info.smallest_subnormal), float(info.tiny)]
        out[dtype] = np.resize(np.array(values, dtype=dtype), rows)
    for dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(dtype)
        out[dtype] = np.resize(np.array([info.min, info.max, 0, 1, info.max - 1], dtype=dtype), rows)
    out["bool"] = np.resize(np.array([True, False, False]), rows)
    return out


#: The tables every entry point and writer round-trips.
CASES: dict[str, Callable[[], Columns]] = {
    "specials": lambda: special_columns(12),
    "one row": lambda: special_columns(1),
    "empty": lambda: {k: v[:0] for k, v in special_columns(3).items()},
}


def _structured(columns: Columns) -> np.ndarray:
    n = len(next(iter(columns.values())))
    out = np.empty(n, dtype=[(k, v.dtype) for k, v in columns.items()])
    for k, v in columns.items():
        out[k] = v
    return out


def _pandas(columns: Columns) -> Any:
    import pandas as pd

    return pd.DataFrame(columns)


def _polars(columns: Columns) -> Any:
    import polars as pl

    return pl.DataFrame({k: pl.Series(k, v) for k, v in columns.items()})


def _arrow(columns: Columns) -> Any:
    import pyarrow as pa

    return pa.table({k: pa.array(v) for k, v in columns.items()})


#: Entry points in memory: name -> (maker, dtypes it cannot hold at all).
ENTRY_POINTS: dict[str, tuple[Callable[[Columns], Any], set[str]]] = {
    "dict": (dict, set()),
    "table": (lambda c: Table(dict(c)), set()),
    "numpy structured": (_structured, set()),
    "pandas": (_pandas, set()),
    "polars": (_polars, {"float16"}),  # polars has no float16
    "pyarrow": (_arrow, set()),
}

#: Writers: format -> (suffix, dtypes it cannot hold at all, what it gives back as it reads).
WRITERS: dict[str, tuple[str, set[str]]] = {
    "parquet": (".parquet", set()),
    "npz": (".npz", set()),
    "npy": (".npy", set()),
    "hdf5": (".h5", set()),
    "csv": (".csv", set()),
    "root": (".root", {"float16"}),
}


def exact_round_trip(data: Any, tmp_path: Path) -> Table:
    """Compress ``data`` losslessly and decode it in memory."""
    path = tmp_path / "kit.bale"
    cfg = tmp_path / "kit.toml"
    cfg.write_text("[model]\nlearned = false\n")
    bale.compress(data, path, error="exact", config=cfg)
    table = bale.decompress(path)
    assert isinstance(table, Table)
    path.unlink()
    return table


def assert_same(columns: Columns, table: Table, *, csv: bool = False) -> None:
    """Same names in the same order, same dtypes and bit-identical values (CSV: what its reader gives back)."""
    assert table.names == list(columns), (table.names, list(columns))
    for name, values in columns.items():
        back = table[name]
        if csv:  # CSV holds text: numbers come back as pyarrow infers them, equal as numbers
            assert np.array_equal(back.astype(values.dtype), values, equal_nan=values.dtype.kind == "f"), name
            continue
        assert back.dtype == values.dtype, (name, back.dtype, values.dtype)
        assert back.tobytes() == values.tobytes(), name


def refused_before_writing(call: Callable[[], Any], folder: Path, before: set[str]) -> str:
    """``call`` raises a one-line BaleInputError and leaves no file; returns the message."""
    try:
        call()
    except BaleInputError as exc:
        message = str(exc)
    else:
        raise AssertionError("not refused")
    assert "\n" not in message
    assert {p.name for p in folder.iterdir()} == before, "a file was left behind"
    return message
