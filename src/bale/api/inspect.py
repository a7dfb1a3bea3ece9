"""Looking into a ``.bale`` file without writing anything: :func:`info` and :func:`verify`."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bale.api.decoding import _decode_steps
from bale.api.inputs import PathLike
from bale.api.training import _open_model
from bale.chunks import LATENT_SECTION, closure, decode_chunk
from bale.container import FIELDS_KIND, MEMBERS_KIND, BaleReader, TableEntry, holds_fields
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel
from bale.reports import (
    ColumnInfo,
    FieldsVerify,
    Info,
    TableInfo,
    TableSummary,
    TableVerify,
    Verify,
)
from bale.table import Dataset, Table

log = logging.getLogger(__name__)


def info(path: PathLike, *, model: PathLike | None = None) -> Info:
    """Byte breakdown and honest ratio of a ``.bale`` file.

    For a file compressed with an external ``model``, pass the model file to also get the
    ratio with the model's bytes counted (as if it were shipped with this one file).
    """
    with BaleReader(path) as reader:
        if holds_fields(reader.header):
            reader.close()
            from bale.grid.api import grid_info  # the grid codec's kernels load numba: not for a table's info

            return grid_info(path, model=model)
        if reader.header.get("kind") == MEMBERS_KIND:
            from bale.api.root_file import root_file_info

            return root_file_info(reader, path)
        return _info_reader(reader, path, model)


def _info_table(path: PathLike) -> TableInfo:
    """info() of a file compress() has just written from a table or one tree (neither fields nor members)."""
    with BaleReader(path) as reader:
        return _info_reader(reader, path, None)


def _table_summary(table: TableEntry, rows: int, column_bytes: Mapping[str, int]) -> TableSummary:
    """One table of a dataset in :func:`info`: rows, columns, bytes, bits per value, predictors used."""
    schema = table["schema"]
    size = sum(column_bytes[c["name"]] for c in schema)
    predictors: dict[str, int] = {}
    for c in schema:
        predictors[c["predictor"]] = predictors.get(c["predictor"], 0) + 1
    return {
        "rows": rows, "columns": len(schema), "counter": table.get("counter"), "bytes": size,
        "bits_per_value": round(8 * size / max(rows * len(schema), 1), 3), "predictors": predictors,
    }  # fmt: skip


def _info_reader(reader: BaleReader, path: PathLike, model: PathLike | None) -> TableInfo:
    """info() of one table or one tree's dataset."""
    header = reader.header
    schema = [c for t in reader.tables for c in t["schema"]]
    kinds = {c["name"]: c["predictor"] for c in schema}
    per_column: dict[str, int] = {c["name"]: 0 for c in schema}
    rows_of = {c["name"]: reader.table_rows[i] for i, t in enumerate(reader.tables) for c in t["schema"]}
    latent = 0
    for chunk in reader.chunks:
        for name, length, _ in chunk.sections:
            if name == LATENT_SECTION:
                latent += length
            elif name in per_column:
                per_column[name] += length
    groups = {"exact columns": 0, "predicted residuals": 0, "fallback columns": 0, "quantity columns": 0}
    for name, size in per_column.items():
        kind = kinds[name]
        group = (
            "exact columns"
            if kind == "exact"
            else ("predicted residuals" if kind in ("relation", "learned") else "fallback columns")
        )
        groups["quantity columns" if kind == "quantity" else group] += size
    if not groups["quantity columns"]:
        del groups["quantity columns"]
    embedded = bool(header["model"].get("embedded"))
    model_bytes = reader.model_bytes
    total = reader.size
    raw = int(reader.footer.get("raw_bytes", header.get("raw_bytes", 0)))  # version 1 kept it in the header
    breakdown = {
        "header": reader.header_bytes,
        "model": model_bytes,
        "latents": latent,
        **groups,
        "index": reader.footer_bytes,
    }
    per_column_info: dict[str, ColumnInfo] = {
        c["name"]: {
            "bound": c["bound"],
            "predictor": c["predictor"],
            "bytes": per_column[c["name"]],
            "bits_per_value": round(8 * per_column[c["name"]] / max(rows_of[c["name"]], 1), 3),
        }
        for c in schema
    }
    result: TableInfo = {
        "file": str(path),
        "format_version": reader.version,
        "created_by": header.get("created_by"),
        "rows": reader.num_rows,
        "columns": len(per_column),
        "chunks": len(reader.chunks),
        "raw_bytes": raw,
        "file_bytes": total,
        "bytes": breakdown,
        "model": {"embedded": embedded, "sha256": header["model"].get("sha256")},
        "ratio": round(raw / total, 4) if total else None,
        "per_column": per_column_info,
    }
    declared = [q for t in reader.tables for q in t.get("quantities") or [] if isinstance(q, dict)]
    if declared:  # the section of a quantity's column codes it, and its patches (docs/codec.md)
        result["quantities"] = {
            str(q.get("quantity")): {
                "bound": q.get("bound"),
                "column": q.get("column"),
                "mode": q.get("mode"),
                "bytes": per_column.get(str(q.get("column")), 0),
            }
            for q in declared
        }
    try:
        depends = _dependencies(reader, model)
    except BaleFormatError as exc:  # info is a diagnosis: it shows the bytes of a file it cannot decode
        depends = None
        result["model"]["problem"] = str(exc)
    if depends is not None:  # what decoding one column alone decodes besides it (docs/analysis.md)
        for name, (needs, context) in depends.items():
            result["per_column"][name]["depends_on"] = needs
            if context:  # docs/codec.md, residual contexts
                result["per_column"][name]["context"] = context
    if len(reader.tables) > 1:
        result["tables"] = {
            t["name"]: _table_summary(t, reader.table_rows[i], per_column) for i, t in enumerate(reader.tables)
        }
    if embedded:
        result["ratio_without_model"] = round(raw / (total - model_bytes), 4)
    elif model is not None:
        external = Path(model).read_bytes() if Path(model).is_file() else None
        if external is None:
            raise BaleInputError(f"no such model file: {model}")
        if hashlib.sha256(external).hexdigest() != header["model"].get("sha256"):
            raise BaleModelMismatchError(f"{path} was not compressed with the model {model}")
        result["ratio_with_model"] = round(raw / (total + len(external)), 4)
        result["model"]["bytes"] = len(external)
    return result


def _dependencies(reader: BaleReader, model: PathLike | None) -> dict[str, tuple[list[str], list[str]]] | None:
    """Per column, when the model is at hand: the columns decoding it alone decodes too (its dependency
    closure), and the sources of its residual context (``|name|`` for a magnitude)."""
    if not reader.header["model"].get("embedded") and model is None:
        return None
    coders = _open_model(reader, model)
    out: dict[str, tuple[list[str], list[str]]] = {}
    for coder in coders:
        for plan in coder.columns:
            needs = [n for n in closure(coder, [plan.name]) if n != plan.name]
            context = [f"|{s['column']}|" if s["use"] == "magnitude" else s["column"] for s in plan.context]
            out[plan.name] = (needs, context)
    return out


def _update_digests(digests: Mapping[str, Any], piece: Dataset) -> None:
    """Add the next rows of every exact column to its SHA-256 (little-endian bytes, chunking-independent)."""
    for table in piece.tables.values():
        for name, values in table.columns.items():
            if name in digests:
                digests[name].update(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).data)


def _verify_grids(path: PathLike, model: Any, started: float) -> FieldsVerify:
    """verify() of a grid file: every checksum, every grid decoded in memory (docs/grids.md)."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise BaleInputError("a grid file is verified with the path of its conv model")
    from bale.grid.api import decompress_grid

    grids = decompress_grid(path, None, model=model)
    with BaleReader(path) as reader:
        version, chunks = reader.version, len(reader.chunks)
    return {
        "file": str(path),
        "ok": True,
        "format_version": version,
        "kind": FIELDS_KIND,
        "grids": {name: list(a.shape) for name, a in grids.items()},
        "chunks": chunks,
        "exact_sha256_checked": False,
        "seconds": round(time.perf_counter() - started, 3),
    }


def verify(path: PathLike, *, model: CompressionModel | DatasetModel | PathLike | None = None) -> Verify:
    """Check a ``.bale`` file without writing anything; returns a summary, raises on any damage.

    Checks every checksum (header, model, index and each section), decodes every chunk into
    memory one at a time (discarding the values), checks that each decoded column has its
    rows and dtype and that a dataset's steps hold together, and compares the SHA-256 of
    every exact column with the one stored at compress time (files written before bale kept
    it have none). The error bounds of lossy columns cannot be checked without the original.
    A damaged file raises :class:`BaleFormatError` naming the chunk (table, rows) and
    section; the wrong external model :class:`BaleModelMismatchError`.
    """
    started = time.perf_counter()
    with BaleReader(path) as reader:
        if holds_fields(reader.header):
            reader.close()
            return _verify_grids(path, model, started)
        if reader.header.get("kind") == MEMBERS_KIND:
            from bale.api.root_file import verify_root_file

            return verify_root_file(reader, path, started)
        return _verify_reader(reader, path, model, started)


def _verify_reader(
    reader: BaleReader, path: PathLike, model: CompressionModel | DatasetModel | PathLike | None, started: float
) -> TableVerify:
    """verify() of one table or one tree's dataset."""
    coders = _open_model(reader, model)
    stored = reader.footer.get("exact_sha256")
    exact = {c["name"] for t in reader.tables for c in t["schema"] if c["bound"] == "exact"}
    if stored is not None and (
        not isinstance(stored, dict) or set(stored) != exact or not all(isinstance(v, str) for v in stored.values())
    ):
        raise BaleFormatError(f"{reader.path}: bad exact_sha256 in the index")
    digests = {n: hashlib.sha256() for n in exact}
    dtypes = [{c["name"]: np.dtype(c["dtype"]) for c in t["schema"]} for t in reader.tables]
    if len(reader.tables) > 1:
        for piece in _decode_steps(reader, coders, False, 1):
            _update_digests(digests, piece)
    else:
        for i, (chunk, sections) in enumerate(reader.iter_chunks()):
            decoded = decode_chunk(sections, chunk.rows, coders[0], reader.version)
            for name, dtype in dtypes[0].items():
                values = decoded.get(name)
                if values is None or len(values) != chunk.rows or values.dtype != dtype:
                    raise BaleFormatError(f"{reader.path}: chunk {i}: column {name!r} did not decode whole")
            _update_digests(digests, Dataset.single(Table(decoded)))
    if stored is not None:
        bad = sorted(n for n, d in digests.items() if d.hexdigest() != stored[n])
        if bad:
            raise BaleFormatError(f"{reader.path}: exact column(s) {bad} decode to other values than were stored")
    return {
        "file": str(path),
        "ok": True,
        "format_version": reader.version,
        "rows": reader.num_rows,
        "tables": len(reader.tables),
        "columns": sum(len(t["schema"]) for t in reader.tables),
        "chunks": len(reader.chunks),
        "exact_sha256_checked": stored is not None,
        "seconds": round(time.perf_counter() - started, 3),
    }
