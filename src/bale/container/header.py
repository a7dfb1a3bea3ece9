"""The header of a ``.bale`` file: built here for every writer, and validated here for every reader.

Writers (tables and event datasets, grids, whole ROOT files) describe what they write with
:func:`column_entry`, :func:`table_entry`, :func:`grid_entry` and :func:`model_entry`, and get
the header from :func:`table_header`, :func:`grid_header` or :func:`members_header`: the
format's keys are spelled in this module only.

Nothing read is trusted: :func:`parse_header` checks the structure (:mod:`bale.container.schema`),
then a table is a list of column entries with a new non-empty name, a plain numeric NumPy
dtype, a valid bound and a predictor; a grid is one column and a shape of bounded axes; a
member has a new name and no columns; and the bytes of values the tables declare (rows times
the width of a row, a grid's values as decoding holds them) must be justified by the file's
size (:func:`decoded_limit`) before anything is allocated.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from pydantic import ValidationError

from bale._version import __version__
from bale.bounds import parse_bound
from bale.codec import LATENT_SECTION
from bale.container.schema import (
    FIELDS_KIND,
    FOOTER_ADAPTER,
    FORMAT_NAME,
    GRID_SECTION,
    HEADER_V1_ADAPTER,
    HEADER_V2_ADAPTER,
    MEMBER_KINDS,
    MEMBER_SECTION,
    MEMBERS_KIND,
    ColumnEntry,
    Footer,
    GridEntry,
    Header,
    ModelEntry,
    QuantityEntry,
    TableEntry,
)
from bale.errors import BaleError, BaleFormatError

__all__ = [
    "DECODED_FLOOR",
    "FIELDS_KIND",
    "GRID_VALUE_BYTES",
    "MAX_CHUNK_ROWS",
    "MAX_RATIO",
    "column_entry",
    "decoded_bytes",
    "decoded_limit",
    "grid_entry",
    "grid_header",
    "grid_tables",
    "header_tables",
    "holds_fields",
    "member_tables",
    "members_header",
    "model_entry",
    "parse_footer",
    "parse_header",
    "section_names",
    "table_entry",
    "table_header",
    "tables",
]

MAX_CHUNK_ROWS = 2**27  # rows of one chunk: a constant column codes to nothing, so bytes cannot bound rows
DECODED_FLOOR = 512 * 2**20  # bytes of decoded values any file may declare; past it, MAX_RATIO per byte of file
MAX_RATIO = 1024  # the most decoded bytes per byte of file past DECODED_FLOOR (environment: BALE_MAX_RATIO)
GRID_VALUE_BYTES = 16  # what decoding one grid value holds in memory (float64 reconstruction, masks, output)
_MAX_AXES = 32
_DTYPE_KINDS = "biuf"
_CREATED_BY = f"bale {__version__}"  # every header's "created_by"
_DTYPE_NAME = re.compile(r"[<>=|]?[a-z]+[0-9]*")  # float64, <f8, uint8, bool: no structured or subarray dtypes


# -- building: what every writer of .bale files calls ------------------------------------------------------------


def column_entry(name: str, dtype: str, bound: str, predictor: str | None = None) -> ColumnEntry:
    """A column of a table (with its predictor's kind) or of a grid (without)."""
    column: ColumnEntry = {"name": name, "dtype": dtype, "bound": bound}
    if predictor is not None:
        column["predictor"] = predictor
    return column


def table_entry(
    name: str, schema: list[ColumnEntry], *, counter: str | None = None, quantities: list[QuantityEntry] | None = None
) -> TableEntry:
    """The main table (``name`` ``""``) or a collection (named, with the main table's ``counter`` column)."""
    table: TableEntry = {"name": name, "schema": schema}
    if counter is not None:
        table["counter"] = counter
    if quantities:
        table["quantities"] = quantities
    return table


def grid_entry(name: str, dtype: str, bound: str, shape: Sequence[int], error: str) -> TableEntry:
    """A grid: a table of one column of its name, its shape and the error asked for."""
    grid: GridEntry = {"shape": [int(n) for n in shape], "error": error}
    return {"name": name, "kind": FIELDS_KIND, "schema": [column_entry(name, dtype, bound)], GRID_SECTION: grid}


def model_entry(*, embedded: bool, sha256: str | None = None, family: str | None = None) -> ModelEntry:
    """The model a file is coded with (the writer adds an embedded model's length, CRC-32 and encoding)."""
    model: ModelEntry = {"embedded": embedded}
    if sha256 is not None:
        model["sha256"] = sha256
    if family is not None:
        model["family"] = family
    return model


def table_header(tables: list[TableEntry], model: ModelEntry, *, chunk_rows: int, source: Mapping[str, Any]) -> Header:
    """The header of a table or an event dataset (a main table and its collections)."""
    return {
        "format": FORMAT_NAME,
        "created_by": _CREATED_BY,
        "tables": tables,
        "model": model,
        "chunk_rows": chunk_rows,
        "source": dict(source),
    }


def grid_header(grids: list[TableEntry], model: ModelEntry, *, source: Mapping[str, Any]) -> Header:
    """The header of a file of N-D fields (:func:`grid_entry` for each)."""
    return {
        "format": FORMAT_NAME,
        "created_by": _CREATED_BY,
        "kind": FIELDS_KIND,
        "tables": grids,
        "model": model,
        "source": dict(source),
    }


def members_header(members: list[tuple[str, str]], *, source: Mapping[str, Any]) -> Header:
    """The header of a whole ROOT file: per member its name and kind (one of ``MEMBER_KINDS``), no model."""
    tables: list[TableEntry] = [{"name": name, "kind": kind, "schema": []} for name, kind in members]
    model = model_entry(embedded=False)
    return {
        "format": FORMAT_NAME,
        "created_by": _CREATED_BY,
        "kind": MEMBERS_KIND,
        "tables": tables,
        "model": model,
        "source": dict(source),
    }


# -- validating: what every reader of .bale files calls ----------------------------------------------------------


def _one_line(what: str, exc: ValidationError) -> str:
    """The first thing wrong, with where it is: ``bad header: tables[0].schema[2].dtype: ...``."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ""
    for part in first["loc"]:
        if isinstance(part, int):
            where += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            where += f".{part}" if where else part
        else:
            where += f"[{str(part)[:40]!r}]"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad {what}: {where[:160] or 'the whole'}: {first['msg']}{more}"


def parse_header(obj: Mapping[str, Any], version: int) -> Header:
    """The header of a file of format ``version``, its structure checked (:func:`tables` and co. check the rest)."""
    try:
        if version == 1:
            return cast(Header, HEADER_V1_ADAPTER.validate_python(obj))
        return cast(Header, HEADER_V2_ADAPTER.validate_python(obj))
    except ValidationError as exc:
        raise BaleFormatError(_one_line("header", exc)) from None


def parse_footer(obj: Mapping[str, Any]) -> Footer:
    """The chunk index, its structure checked (the reader checks it against the file and the header)."""
    try:
        return FOOTER_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise BaleFormatError(_one_line("chunk index", exc)) from None


def header_tables(header: Header) -> list[TableEntry]:
    """The tables of a header of any kind (tables, grids, members), each checked."""
    if holds_fields(header):  # one table and one section per grid: docs/grids.md
        return grid_tables(header)
    if header.get("kind") == MEMBERS_KIND:  # a whole ROOT file: one member per tree (docs/root.md)
        return member_tables(header)
    return tables(header)


def section_names(header: Header, tables: list[TableEntry]) -> list[set[str]]:
    """The sections a chunk of each table may hold: a column's each (and the latent), a grid's, a member's."""
    if holds_fields(header):
        return [{GRID_SECTION} for _ in tables]
    if header.get("kind") == MEMBERS_KIND:
        return [{MEMBER_SECTION} for _ in tables]
    return [{c["name"] for c in t["schema"]} | {LATENT_SECTION} for t in tables]


def tables(header: Header) -> list[TableEntry]:
    """The header's tables; a version 1 header describes one table by its top-level schema."""
    found = header["tables"] if "tables" in header else [table_entry("", header.get("schema", []))]
    if not found:
        raise BaleFormatError("the header lists no tables")
    seen: set[str] = set()
    for i, t in enumerate(found):
        if (i == 0) != (t["name"] == "") or (i > 0 and "counter" not in t):
            raise BaleFormatError("the header's tables are not a main table and its collections")
        for c in t["schema"]:
            if "predictor" not in c:
                raise BaleFormatError(f"column {c['name'][:40]!r} has no predictor in the header")
            _check_column(c, seen)
    return [t.copy() for t in found]


def grid_tables(header: Header) -> list[TableEntry]:
    """The grids of a grid file: per grid a table of one column, named as the grid, and its shape."""
    found = header.get("tables") or []
    if not found:
        raise BaleFormatError("the header lists no grids")
    seen: set[str] = set()
    for t in found:
        if t.get("kind") != FIELDS_KIND or GRID_SECTION not in t:
            raise BaleFormatError(f"grid {t['name'][:40]!r}: no kind or shape in the header")
        shape = t[GRID_SECTION]["shape"]
        if not all(0 <= d <= MAX_CHUNK_ROWS for d in shape) or len(shape) > _MAX_AXES:
            raise BaleFormatError(f"grid {t['name'][:40]!r}: bad shape in the header")
        if len(t["schema"]) != 1 or t["schema"][0]["name"] != t["name"]:
            raise BaleFormatError(f"grid {t['name'][:40]!r}: its schema is not one column of its name")
        _check_column(t["schema"][0], seen)
    return [t.copy() for t in found]


def member_tables(header: Header) -> list[TableEntry]:
    """The members of a whole-file ``.bale``: each a ``.bale`` file of one tree, or the file's other objects."""
    found = header.get("tables") or []
    if not found:
        raise BaleFormatError("the header lists no members")
    seen: set[str] = set()
    for t in found:
        if t.get("kind") not in MEMBER_KINDS or t["schema"] or not t["name"] or t["name"] in seen:
            raise BaleFormatError(f"bad member in the header: {str(t)[:80]}")
        seen.add(t["name"])
    return [t.copy() for t in found]


def _check_column(column: ColumnEntry, seen: set[str]) -> None:
    """A schema entry: a new non-empty name, a numeric NumPy dtype, a valid bound."""
    name = column["name"]
    if not name or name in seen or name == LATENT_SECTION:
        raise BaleFormatError(f"column name {name[:40]!r} is empty or repeated in the header")
    seen.add(name)
    try:
        if not _DTYPE_NAME.fullmatch(column["dtype"]):
            raise ValueError(f"{column['dtype'][:40]!r} is not a plain NumPy dtype name")
        dtype = np.dtype(column["dtype"])
        parse_bound(column["bound"])
    except (TypeError, ValueError, SyntaxError, BaleError) as exc:
        raise BaleFormatError(f"column {name[:40]!r}: bad dtype or bound in the header: {exc}") from None
    if dtype.kind not in _DTYPE_KINDS or dtype.itemsize > 8 or dtype.hasobject:
        raise BaleFormatError(f"column {name[:40]!r}: dtype {dtype} cannot be stored in a .bale file")


def decoded_bytes(tables: list[TableEntry], rows: list[int]) -> int:
    """Bytes of values the tables declare: rows times the width of a row; a grid's values, as decoding holds them."""
    total = 0
    for table, count in zip(tables, rows, strict=True):
        if table.get("kind") == FIELDS_KIND:
            values = 1
            for n in table[GRID_SECTION]["shape"]:  # Python integers: no overflow
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


def holds_fields(header: Header) -> bool:
    """Whether a file's header declares N-D fields (grids) rather than tables."""
    return header.get("kind") == FIELDS_KIND
