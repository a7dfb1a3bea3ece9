"""Parquet files through pyarrow; the schema metadata travels in ``source``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bale.errors import BaleInputError
from bale.io._common import check_numeric, same_format, select_columns
from bale.table import Table

log = logging.getLogger(__name__)

_CODECS = {
    "uncompressed": "none",
    "snappy": "snappy",
    "gzip": "gzip",
    "brotli": "brotli",
    "zstd": "zstd",
    "lz4": "lz4",
    "lz4_raw": "lz4",
}


def _to_str(meta: dict[bytes, bytes] | None) -> dict[str, str]:
    return {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape") for k, v in (meta or {}).items()}


def _to_bytes(meta: dict[str, str]) -> dict[bytes | str, bytes | str]:
    return {k.encode("utf-8", "surrogateescape"): v.encode("utf-8", "surrogateescape") for k, v in meta.items()}


def _check_type(name: str, typ: pa.DataType) -> None:
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        raise BaleInputError(f"column {name!r} is a list column ({typ}); jagged collections are not supported yet")
    numeric = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
    check_numeric(name, "string" if pa.types.is_string(typ) or pa.types.is_large_string(typ) else str(typ), numeric)


def read(path: Path, columns: list[str] | None) -> Table:
    """Read the numeric columns of a Parquet file."""
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    wanted = select_columns(schema.names, columns)
    for name in wanted:
        _check_type(name, schema.field(name).type)
    data = pf.read(columns=wanted)
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        col = data.column(name)
        if col.null_count:
            raise BaleInputError(f"column {name!r} has {col.null_count} missing values; not supported")
        out[name] = np.asarray(col.to_numpy(zero_copy_only=False))
    fields = {f.name: f for f in schema}
    source: dict[str, Any] = {
        "format": "parquet",
        "metadata": _to_str(schema.metadata),
        "field_metadata": {n: _to_str(fields[n].metadata) for n in wanted if fields[n].metadata},
        "non_nullable": [n for n in wanted if not fields[n].nullable],
    }
    if pf.metadata.num_row_groups and pf.metadata.num_columns:
        source["compression"] = pf.metadata.row_group(0).column(0).compression
        source["row_group_size"] = pf.metadata.row_group(0).num_rows
    log.debug("read %d columns x %d rows from %s", len(wanted), data.num_rows, path)
    return Table(out, source)


def write(table: Table, path: Path) -> None:
    """Write the table as Parquet, with the source's schema metadata when it came from Parquet."""
    src = table.source if same_format(table, "parquet") else {}
    field_meta = src.get("field_metadata", {})
    non_nullable = set(src.get("non_nullable", []))
    fields = [
        pa.field(
            name,
            pa.from_numpy_dtype(arr.dtype),
            nullable=name not in non_nullable,
            metadata=_to_bytes(field_meta[name]) if name in field_meta else None,
        )
        for name, arr in table.columns.items()
    ]
    schema = pa.schema(fields, metadata=_to_bytes(src["metadata"]) if src.get("metadata") else None)
    arrays = [pa.array(arr, type=f.type) for f, arr in zip(fields, table.columns.values(), strict=True)]
    compression = _CODECS.get(str(src.get("compression", "snappy")).lower(), "snappy")
    kwargs: dict[str, Any] = {"compression": compression}
    if src.get("row_group_size"):
        kwargs["row_group_size"] = int(src["row_group_size"])
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), str(path), **kwargs)
