"""The chunk index (the footer): built by the writer, checked by the reader against the file and its header.

Every chunk must lie in the data area, right after the one before it, belong to a table,
hold one section per column of its table (and the latent section, where the table has one),
none of them empty; the chunks' rows must add up to each table's row count, and the values
they declare must be justified by the file's size (:func:`bale.container.header.decoded_limit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from bale.codec import LATENT_SECTION
from bale.container.header import MAX_CHUNK_ROWS, MAX_RATIO, decoded_bytes, decoded_limit
from bale.container.layout import ChunkInfo
from bale.container.schema import Footer, TableEntry
from bale.errors import BaleFormatError

__all__ = ["check_declared", "check_index", "chunk_infos", "footer"]


def footer(chunks: list[ChunkInfo], table_rows: list[int], extra: Mapping[str, Any] | None = None) -> Footer:
    """The index of ``chunks``; ``extra`` adds what readers report (``raw_bytes``, ``exact_sha256``)."""
    return cast(
        Footer,
        {
            "num_rows": table_rows[0],
            "table_rows": table_rows,
            **(extra or {}),
            "chunks": [
                {"table": c.table, "step": c.step, "rows": c.rows, "offset": c.offset, "sections": c.sections}
                for c in chunks
            ],
        },
    )


def chunk_infos(index: Footer) -> list[ChunkInfo]:
    """The chunks of a checked index; a version 1 index has one table and a step per chunk."""
    return [
        ChunkInfo(c["rows"], c["offset"], list(c["sections"]), c.get("table", 0), c.get("step", i))
        for i, c in enumerate(index["chunks"])
    ]


def check_index(
    chunks: list[ChunkInfo],
    section_names: list[set[str]],
    table_rows: list[int],
    num_rows: int,
    *,
    data: tuple[int, int],
    chunk_rows: int,
) -> None:
    """The chunks fill the data area (``data`` = start, end) in order, each with the sections of its table."""
    if len(table_rows) != len(section_names) or (table_rows and table_rows[0] != num_rows):
        raise BaleFormatError("row counts do not match the tables")
    steps = [c.step for c in chunks]
    if steps != sorted(steps):
        raise BaleFormatError("chunks are out of step order")
    start, stop = data
    end = start
    columns_of = [names - {LATENT_SECTION} for names in section_names]  # once per table, not per chunk
    for i, c in enumerate(chunks):
        length = c.length
        if c.rows < 0 or c.offset < start or c.offset + length > stop or length < 0:
            raise BaleFormatError(f"chunk {i} lies outside the data area")
        if not 0 <= c.table < len(section_names):
            raise BaleFormatError(f"chunk {i} belongs to no table")
        if c.offset != end or any(length < 0 for _, length, _ in c.sections):
            raise BaleFormatError(f"chunk {i} does not follow the one before it")
        end = c.offset + length
        if c.rows > chunk_rows and (c.table == 0 or c.rows > MAX_CHUNK_ROWS):
            raise BaleFormatError(f"chunk {i} declares {c.rows} rows, more than a chunk holds")
        names = [name for name, _, _ in c.sections]
        columns, unique = columns_of[c.table], set(names)
        if len(unique) != len(names) or not columns <= unique <= columns | {LATENT_SECTION}:
            raise BaleFormatError(f"chunk {i} does not hold one section per column of its table")
        if any(length < 1 for _, length, _ in c.sections):  # every coding starts with at least a byte
            raise BaleFormatError(f"chunk {i} has an empty section")
    if end != stop:
        raise BaleFormatError("the chunks do not fill the data area")
    sums = [0] * len(section_names)  # one pass: K tables and K chunks are not K^2 steps
    for c in chunks:
        sums[c.table] += c.rows
    for t, rows in enumerate(table_rows):
        if rows < 0 or sums[t] != rows:
            raise BaleFormatError(f"chunk rows do not add up to the row count of table {t}")


def check_declared(tables: list[TableEntry], table_rows: list[int], size: int) -> None:
    """The values the tables declare are justified by the file's ``size``: no decompression bomb."""
    declared, limit = decoded_bytes(tables, table_rows), decoded_limit(size)
    if declared > limit:
        raise BaleFormatError(
            f"declares {declared} bytes of values in a file of {size} bytes, more than the "
            f"{limit} allowed (a decompression bomb?); set BALE_MAX_RATIO above {MAX_RATIO} to read it anyway"
        )
