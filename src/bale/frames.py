"""Tables in memory from other libraries: pyarrow, polars (through Arrow) and pandas.

Every value, dtype and name must come back as it went in, or the call is refused with one
line naming the column and the reason (issue 16):

* **polars** DataFrames go through Arrow (``df.to_arrow()``), natively: pandas is not needed.
* **Arrow** columns must be integers, floats or booleans without missing values; anything
  else (strings, dictionaries/categoricals, timestamps, lists) is refused by its Arrow type.
* **pandas** columns must be NumPy numeric or bool columns, or nullable integer, float and
  boolean columns without missing values. ``category``, ``str``, ``object``, datetimes and
  the like are refused by their real dtype (an integer ``category`` would otherwise come
  back as ``int64``). The index must be the default one (an unnamed ``RangeIndex`` from 0,
  step 1): any other index would be lost, so it is refused, and the message gives the fix
  (``df.reset_index()`` keeps it as a column, ``df.reset_index(drop=True)`` drops it).
* **Column names** must be strings: a name of another type (``0``, ``1.5``, a tuple of a
  ``MultiIndex``) would come back as its string, so it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from bale.errors import BaleInputError
from bale.table import Table, check_column_names, check_unique

__all__ = ["from_arrow", "from_mapping", "from_pandas", "from_polars", "is_arrow", "is_pandas", "is_polars"]

_MASKED = {f"{k}{n}" for k in ("Int", "UInt") for n in (8, 16, 32, 64)} | {"Float32", "Float64", "boolean"}


def is_polars(data: Any) -> bool:
    return type(data).__module__.startswith("polars") and hasattr(data, "to_arrow")


def is_arrow(data: Any) -> bool:
    return hasattr(data, "to_pydict") and hasattr(data, "schema") and hasattr(data, "column_names")


def is_pandas(data: Any) -> bool:
    return hasattr(data, "to_numpy") and hasattr(data, "columns") and hasattr(data, "index")


def _string_names(names: Iterable[Any]) -> list[str]:
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise BaleInputError(
                f"column name {name!r} is of type {type(name).__name__}, not a string: it would come back as "
                f"{str(name)!r}; name the columns with strings"
            )
    check_unique(names)
    return names


def from_polars(data: Any) -> Table:
    """A polars DataFrame, through Arrow (no pandas needed); refusals name the polars dtype."""
    check_column_names(_string_names(data.columns))  # before Arrow, which panics on a NUL in a name
    return from_arrow(data.to_arrow(), "polars", {str(k): str(v) for k, v in data.schema.items()})


def from_arrow(data: Any, what: str = "pyarrow", shown: Mapping[str, str] | None = None) -> Table:
    """A pyarrow table of numeric and bool columns without missing values."""
    import pyarrow as pa

    names = _string_names(data.column_names)
    columns = {}
    for i, name in enumerate(names):
        column = data.column(i)
        typ = column.type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
            typ = (shown or {}).get(name, typ)
            raise BaleInputError(
                f"column {name!r} has {what} type {typ}; bale compresses integer, float and bool columns only"
            )
        if column.null_count:
            raise BaleInputError(f"column {name!r} has {column.null_count} missing values; not supported")
        columns[name] = np.asarray(column.to_numpy())
    return Table(columns)


def from_pandas(data: Any) -> Table:
    """A pandas DataFrame of numeric and bool columns, with the default index."""
    names = _string_names(data.columns)
    index = data.index
    default = (
        type(index).__name__ == "RangeIndex"
        and index.name is None
        and getattr(index, "start", None) == 0
        and getattr(index, "step", None) == 1
    )
    if not default:
        kind = type(index).__name__ + (f" {index.name!r}" if index.name is not None else "")
        raise BaleInputError(
            f"the DataFrame's index ({kind}) would be lost: df.reset_index() keeps it as a column, "
            "df.reset_index(drop=True) drops it"
        )
    columns = {}
    for i, name in enumerate(names):
        series = data.iloc[:, i]
        dtype = series.dtype
        if isinstance(dtype, np.dtype):
            if dtype.kind not in "biuf":
                raise BaleInputError(
                    f"column {name!r} has pandas dtype {dtype}; bale compresses integer, float and bool columns only"
                )
        elif str(dtype) in _MASKED:
            missing = int(series.isna().sum())
            if missing:  # a nullable column with missing values would turn into floats
                raise BaleInputError(f"column {name!r} has {missing} missing values; not supported")
        else:
            raise BaleInputError(
                f"column {name!r} has pandas dtype {dtype}; bale compresses integer, float and bool columns only"
            )
        values = series.to_numpy()
        if values.dtype.kind not in "biuf":
            raise BaleInputError(f"column {name!r} has pandas dtype {dtype}, which does not convert to numbers")
        columns[name] = values
    return Table(columns)


def from_mapping(data: Mapping[Any, Any]) -> Table:
    """A dict of arrays, keyed by strings."""
    _string_names(data)
    return Table.from_mapping(data)
