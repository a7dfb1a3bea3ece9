"""CSV files through pyarrow.csv.

Column types are those pyarrow infers (int64, float64, bool). Floats are written in
NumPy's shortest round-trip representation (``nan``, ``inf``, ``-0.0`` included), so
float64 values read back bit for bit; a float32 column reads back as float64 holding
the nearest decimal, which casts back to the same float32.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bale.errors import BaleInputError
from bale.io._common import check_numeric, select_columns
from bale.table import Table

log = logging.getLogger(__name__)

_UNSAFE = (",", '"', "\n", "\r")


def read(path: Path, columns: list[str] | None) -> Table:
    """Read a CSV file with a header line."""
    convert = pacsv.ConvertOptions(null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False)
    data = pacsv.read_csv(path, convert_options=convert)
    wanted = select_columns(data.column_names, columns)
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        col = data.column(name)
        typ = col.type
        if pa.types.is_null(typ) and len(col) == 0:
            col, typ = col.cast(pa.float64()), pa.float64()
        numeric = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
        check_numeric(name, "string" if pa.types.is_string(typ) else str(typ), numeric)
        if col.null_count:
            raise BaleInputError(f"column {name!r} has {col.null_count} empty values; not supported")
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False))
    _exact_big_integers(path, out)
    log.debug("read %d columns x %d rows from %s", len(wanted), data.num_rows, path)
    return Table(out, {"format": "csv"})


def _exact_big_integers(path: Path, out: dict[str, np.ndarray]) -> None:
    """Integers past int64 are read by pyarrow as doubles, rounded: read them back exactly as uint64."""
    doubles = [n for n, v in out.items() if v.dtype.kind == "f" and _integral_big(v)]
    if not doubles:
        return
    convert = pacsv.ConvertOptions(include_columns=doubles, column_types=dict.fromkeys(doubles, pa.string()))
    text = pacsv.read_csv(path, convert_options=convert)
    for name in doubles:
        column = text.column(name)
        if not pc.all(pc.match_substring_regex(column, r"^[0-9]+$")).as_py():
            continue  # real floats
        try:
            out[name] = np.asarray(pc.cast(column, pa.uint64()).to_numpy(zero_copy_only=False))
        except pa.ArrowInvalid:
            raise BaleInputError(f"column {name!r} holds integers beyond uint64; not supported") from None


def _integral_big(values: np.ndarray) -> bool:
    """A float column whose values are all whole numbers, some of them past int64 (so not read as integers)."""
    with np.errstate(invalid="ignore"):
        big = np.any(np.abs(values) >= 2.0**63)
        return bool(big and np.all(np.isfinite(values)) and np.all(values == np.rint(values)))


_BLOCK_ROWS = 65536


def _text(arr: np.ndarray) -> pa.Array[Any]:
    """Values as text that read back to the same bits (Arrow's shortest round-trip form, 3-4x NumPy's)."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
        return pa.array(arr.astype(str), type=pa.string())
    text = pc.cast(pa.array(arr), pa.string())
    if arr.dtype.kind == "f":  # "2" would read back as an integer column: "2.0", as NumPy writes it
        whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
        text = pc.if_else(whole, pc.binary_join_element_wise(text, pa.scalar(".0"), pa.scalar("")), text)
    strings: pa.Array[Any] = text
    return strings


def write(table: Table, path: Path) -> None:
    """Write the table as CSV with a header line."""
    if not table.columns:
        raise BaleInputError("cannot write a table without columns to CSV")
    for name in table.names:
        if any(ch in name for ch in _UNSAFE):
            raise BaleInputError(f"column name {name!r} cannot be written to CSV unquoted")
    schema = pa.schema([(name, pa.string()) for name in table.names])
    options = pacsv.WriteOptions(quoting_style="none")
    # as text, a value takes up to 4 bytes per character in NumPy: a block of rows at a time
    with pacsv.CSVWriter(str(path), schema, write_options=options) as writer:
        for start in range(0, max(len(table), 1), _BLOCK_ROWS):
            block = {n: _text(a[start : start + _BLOCK_ROWS]) for n, a in table.columns.items()}
            writer.write_table(pa.table(block, schema=schema))
