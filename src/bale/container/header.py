"""What a ``.bale`` header declares, validated as data: tables, grids, columns, and the bytes they decode to.

Nothing here trusts the file: a table is a list of column entries with a new non-empty name, a
plain numeric NumPy dtype, a valid bound and a predictor; a grid is one column and a shape of
bounded axes; and the bytes of values the tables declare (rows times the width of a row, a
grid's values as decoding holds them) must be justified by the file's size
(:func:`decoded_limit`) before anything is allocated.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from bale.bounds import parse_bound
from bale.codec import LATENT_SECTION
from bale.errors import BaleError, BaleFormatError

__all__ = [
    "DECODED_FLOOR",
    "FIELDS_KIND",
    "GRID_VALUE_BYTES",
    "MAX_CHUNK_ROWS",
    "MAX_RATIO",
    "decoded_bytes",
    "decoded_limit",
    "grid_tables",
    "holds_fields",
    "tables",
]

FIELDS_KIND = "grid"  # the header's "kind" of a file of N-D fields (docs/grids.md); the word is the format's
MAX_CHUNK_ROWS = 2**27  # rows of one chunk: a constant column codes to nothing, so bytes cannot bound rows
DECODED_FLOOR = 512 * 2**20  # bytes of decoded values any file may declare; past it, MAX_RATIO per byte of file
MAX_RATIO = 1024  # the most decoded bytes per byte of file past DECODED_FLOOR (environment: BALE_MAX_RATIO)
GRID_VALUE_BYTES = 16  # what decoding one grid value holds in memory (float64 reconstruction, masks, output)
_DTYPE_KINDS = "biuf"
_DTYPE_NAME = re.compile(r"[<>=|]?[a-z]+[0-9]*")  # float64, <f8, uint8, bool: no structured or subarray dtypes


def tables(header: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The header's tables; a version 1 header describes one table by its top-level schema."""
    tables = header.get("tables")
    if tables is None:
        tables = [{"name": "", "schema": header["schema"]}]
    if not isinstance(tables, list) or not tables:
        raise BaleFormatError("the header lists no tables")
    seen: set[str] = set()
    for i, t in enumerate(tables):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("schema"), list):
            raise BaleFormatError("a table in the header has no name or schema")
        if (i == 0) != (t["name"] == "") or (i > 0 and not isinstance(t.get("counter"), str)):
            raise BaleFormatError("the header's tables are not a main table and its collections")
        for c in t["schema"]:
            _check_column(c, seen)
    return [dict(t) for t in tables]


def grid_tables(header: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The grids of a grid file: per grid a table of one column, named as the grid, and its shape."""
    tables = header.get("tables")
    if not isinstance(tables, list) or not tables:
        raise BaleFormatError("the header lists no grids")
    seen: set[str] = set()
    for t in tables:
        if not isinstance(t, dict) or t.get("kind") != FIELDS_KIND or not isinstance(t.get("schema"), list):
            raise BaleFormatError("a grid in the header has no kind or schema")
        shape = (t.get("grid") or {}).get("shape") if isinstance(t.get("grid"), dict) else None
        if (
            not isinstance(shape, list)
            or not all(isinstance(d, int) and 0 <= d <= MAX_CHUNK_ROWS for d in shape)
            or len(shape) > 32
        ):
            raise BaleFormatError(f"grid {str(t.get('name'))[:40]!r}: bad shape in the header")
        if len(t["schema"]) != 1 or not isinstance(t["schema"][0], dict) or t["schema"][0].get("name") != t.get("name"):
            raise BaleFormatError(f"grid {str(t.get('name'))[:40]!r}: its schema is not one column of its name")
        _check_column({"predictor": "grid", **t["schema"][0]}, seen)
    return [dict(t) for t in tables]


def _check_column(column: Any, seen: set[str]) -> None:
    """A schema entry: a new non-empty name, a numeric NumPy dtype, a valid bound, a predictor (a name)."""
    if not isinstance(column, dict) or not all(
        isinstance(column.get(k), str) for k in ("name", "dtype", "bound", "predictor")
    ):
        raise BaleFormatError(f"bad column in the header: {str(column)[:80]}")
    name = column["name"]
    if not name or name in seen or name == LATENT_SECTION:
        raise BaleFormatError(f"column name {name!r} is empty or repeated in the header")
    seen.add(name)
    try:
        if not _DTYPE_NAME.fullmatch(column["dtype"]):
            raise ValueError(f"{column['dtype']!r} is not a plain NumPy dtype name")
        dtype = np.dtype(column["dtype"])
        parse_bound(column["bound"])
    except (TypeError, ValueError, SyntaxError, BaleError) as exc:
        raise BaleFormatError(f"column {name!r}: bad dtype or bound in the header: {exc}") from None
    if dtype.kind not in _DTYPE_KINDS or dtype.itemsize > 8 or dtype.hasobject:
        raise BaleFormatError(f"column {name!r}: dtype {dtype} cannot be stored in a .bale file")


def decoded_bytes(tables: list[dict[str, Any]], rows: list[int]) -> int:
    """Bytes of values the tables declare: rows times the width of a row; a grid's values, as decoding holds them."""
    total = 0
    for table, count in zip(tables, rows, strict=True):
        if table.get("kind") == FIELDS_KIND:
            values = 1
            for n in table["grid"]["shape"]:  # Python integers: no overflow
                values *= n
            total += values * GRID_VALUE_BYTES
        else:
            total += count * sum(np.dtype(c["dtype"]).itemsize for c in table["schema"])
    return total


def decoded_limit(file_size: int) -> int:
    """The most bytes of values a file of ``file_size`` bytes may declare (``BALE_MAX_RATIO`` raises it)."""
    ratio = MAX_RATIO
    with contextlib.suppress(ValueError):
        ratio = max(ratio, int(os.environ.get("BALE_MAX_RATIO", ratio)))
    return DECODED_FLOOR + ratio * file_size


def holds_fields(header: Mapping[str, Any]) -> bool:
    """Whether a file's header declares N-D fields (grids) rather than tables."""
    return header.get("kind") == FIELDS_KIND
