"""Decoding a ``.bale`` file: :func:`decompress` to memory or to a file of any format."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from bale.api.training import _open_model
from bale.chunks import DEFAULT_WORKERS, decode_chunk, map_chunks
from bale.container import MEMBERS_KIND, BaleReader, ChunkInfo, Source, holds_fields
from bale.errors import BaleFormatError, BaleInputError
from bale.fsutil import atomic_target
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel
from bale.table import Dataset, Fields, Forest, Table

if TYPE_CHECKING:
    from bale.api.inputs import PathLike

log = logging.getLogger(__name__)


def decompress(
    path: Source,
    output: PathLike | None = None,
    *,
    model: CompressionModel | DatasetModel | PathLike | None = None,
    format: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> Table | Dataset | Forest | Fields:
    """Decode a ``.bale`` file; writes ``output`` when given and returns the data.

    A file of one table gives a :class:`Table`; a file with collections (from a ROOT tree
    with jagged branches) a :class:`Dataset`, which only ROOT can hold as a file; a whole
    ROOT file a :class:`Forest`; a file of N-D fields :class:`Fields` (name -> array). Writing
    a dataset to ROOT streams it in steps of whole events. ``path`` may also be the file's
    bytes, a binary file object or an fsspec URL (:class:`bale.container.BaleReader`).
    """
    with BaleReader(path) as reader:
        if holds_fields(reader.header):  # grid files (docs/grids.md): name -> array
            reader.close()
            if not isinstance(path, (str, os.PathLike)):
                raise BaleInputError("grid files are decompressed from a path")
            from bale.grid.api import decompress_grid

            return decompress_grid(path, output, model=model)  # type: ignore[arg-type]
        if reader.header.get("kind") == MEMBERS_KIND:  # a whole ROOT file: its trees and objects
            from bale.api.root_file import decompress_root_file

            return decompress_root_file(reader, output, model, format, progress, workers)
        return _decompress_reader(reader, output, model, format, progress, workers)


def _decompress_reader(
    reader: BaleReader,
    output: PathLike | None,
    model: CompressionModel | DatasetModel | PathLike | None,
    format: str | None,
    progress: bool,
    workers: int,
) -> Table | Dataset:
    """decompress() of one table or one tree's dataset."""
    path = reader.path
    coders = _open_model(reader, model)
    fmt = format
    if output is not None:  # file writers are imported only to write a file
        from bale.io import detect_format, write_table

        fmt = format or detect_format(output)
    from_tree = isinstance((reader.header.get("source") or {}).get("branches"), list)
    if len(reader.tables) == 1 and not (from_tree and fmt == "root"):
        table = _decode_table(reader, coders[0], progress, workers)
        if output is not None:
            write_table(table, output, format=format)
        return table
    if output is not None and fmt != "root":
        raise BaleInputError(f"{path} holds jagged collections: write it as ROOT (.root), not {fmt}")
    pieces = _decode_steps(reader, coders, progress, workers)
    first = next(pieces, None) or _empty_dataset(reader)
    if output is None:
        return Dataset.concat([first, *pieces])
    from bale.io.root_write import write_dataset as write_root_dataset

    with atomic_target(Path(output)) as tmp:
        write_root_dataset(first, pieces, tmp)
    log.info("wrote %s (ROOT, %d collections)", output, len(first.counters))
    return first.slice(0, 0)  # the structure; the events went to the file


def _empty_dataset(reader: BaleReader) -> Dataset:
    """The structure of a file with no events (a tree with no entries writes no chunk)."""
    tables = {
        t["name"]: Table({c["name"]: np.zeros(0, np.dtype(c["dtype"])) for c in t["schema"]}) for t in reader.tables
    }
    counters = {t["name"]: str(t.get("counter")) for t in reader.tables[1:]}
    try:
        return Dataset(tables, counters, dict(reader.header.get("source") or {}))
    except BaleInputError as exc:
        raise BaleFormatError(f"{reader.path}: the tables do not hold together: {exc}") from None


def _decode_table(reader: BaleReader, coder: CompressionModel, progress: bool, workers: int) -> Table:
    """A one-table file, decoded into preallocated columns as the chunks arrive."""
    schema = reader.tables[0]["schema"]
    columns = {c["name"]: np.empty(reader.num_rows, np.dtype(c["dtype"])) for c in schema}
    bar = tqdm(total=reader.num_rows, desc="decompressing", unit="row", disable=not progress, leave=False)

    def decode(item: tuple[ChunkInfo, dict[str, memoryview]]) -> tuple[int, dict[str, np.ndarray]]:
        return item[0].rows, decode_chunk(item[1], item[0].rows, coder, reader.version)

    start = 0
    for rows, decoded in map_chunks(decode, reader.iter_chunks(), workers):
        for name, out in columns.items():
            out[start : start + rows] = decoded[name]
        start += rows
        bar.update(rows)
    bar.close()
    return Table(columns, dict(reader.header.get("source") or {}))


def _decode_steps(
    reader: BaleReader, coders: list[CompressionModel], progress: bool, workers: int
) -> Iterator[Dataset]:
    """The events of a multi-table file, one step of whole events at a time."""
    names = [t["name"] for t in reader.tables]
    counters = {t["name"]: str(t.get("counter")) for t in reader.tables[1:]}
    source = dict(reader.header.get("source") or {})
    empty = [{c["name"]: np.zeros(0, np.dtype(c["dtype"])) for c in t["schema"]} for t in reader.tables]
    bar = tqdm(total=reader.num_rows, desc="decompressing", unit="event", disable=not progress, leave=False)

    def decode(item: tuple[ChunkInfo, dict[str, memoryview]]) -> tuple[ChunkInfo, dict[str, np.ndarray]]:
        return item[0], decode_chunk(item[1], item[0].rows, coders[item[0].table], reader.version)

    def assemble(parts: dict[int, dict[str, np.ndarray]]) -> Dataset:
        tables = {names[t]: Table(dict(parts.get(t, empty[t]))) for t in range(len(names))}
        try:
            return Dataset(tables, counters, source)
        except BaleInputError as exc:
            raise BaleFormatError(f"{reader.path}: decoded step does not hold together: {exc}") from None

    current: dict[int, dict[str, np.ndarray]] = {}
    step = None
    for info, decoded in map_chunks(decode, reader.iter_chunks(), workers):
        if step is not None and info.step != step:
            piece = assemble(current)
            bar.update(piece.num_events)
            yield piece
            current = {}
        step = info.step
        if info.table in current:
            raise BaleFormatError(f"{reader.path}: step {step} holds table {names[info.table]!r} twice")
        current[info.table] = decoded
    if current:
        piece = assemble(current)
        bar.update(piece.num_events)
        yield piece
    bar.close()
