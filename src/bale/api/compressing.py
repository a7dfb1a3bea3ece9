"""Compressing: :func:`compress` a source into a ``.bale`` file, training a model first if none is given."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bale.api.inputs import PathLike, _announce_preset, _config, _dtypes, _resolve_bounds, _Source
from bale.api.inspect import _info_table, _update_digests
from bale.api.quantities import (
    declared_quantities,
    header_quantities,
    per_table,
    tighten_column_bounds,
    with_quantity_bounds,
)
from bale.api.training import _check_schema, _train, _trivial_model, _with_bounds, load_model
from bale.chunks import CONTEXT_VERSION, DEFAULT_WORKERS, encode_chunk, map_chunks
from bale.config import BaleConfig
from bale.container import BASE_VERSION, BaleWriter, column_entry, model_entry, table_entry, table_header
from bale.errors import BaleInputError
from bale.fsutil import refuse_same_file
from bale.io import detect_format
from bale.io.data_kind import check_kind, detect_kind
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel
from bale.models.quantities import QuantitySpec
from bale.reports import CompressReport, TableInfo
from bale.stages import stage

log = logging.getLogger(__name__)


def compress(
    data: Any,
    output: PathLike,
    *,
    model: CompressionModel | DatasetModel | PathLike | None = None,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    keep_rest: bool = False,
    preset: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
    on_epoch: Callable[[int, float], None] | None = None,
    kind: str | None = None,
    quantities: Iterable[str | QuantitySpec] | None = None,
) -> CompressReport:
    """Compress ``data`` into the ``.bale`` file ``output``; returns :func:`info` of the result.

    Without ``model`` a model is trained on the data and embedded in the file. With one,
    the file records the model's SHA-256 and decompression needs the same model. A ROOT
    file is read in steps of whole events, so memory does not grow with its size;
    ``columns`` then selects branches by name or glob, and ``keep_rest`` adds every other
    branch, coded losslessly. Float arrays of 3+ dimensions are coded as fields (grids,
    docs/grids.md); ``kind="field"`` or ``"table"`` says it instead (:mod:`bale.io.data_kind`).
    ``quantities``: bounds on quantities of several columns, held on every row like column
    bounds, ``["mass(energy,px,py,pz):rel=1e-3", "pt(px,py):rel=1e-3"]`` (docs/codec.md).
    """
    refuse_same_file(data, output)  # the output is never the input (issue 16)
    cfg = _config(config)
    if (check_kind(kind) or detect_kind(data)) == "field":
        specs = [] if errors is None else list(errors.values() if isinstance(errors, Mapping) else errors)
        if len(specs) > 1 or (specs and (error is not None or isinstance(errors, Mapping) or ":" in specs[0])):
            raise BaleInputError("fields take one bound for all arrays: error='range=X', 'abs=X' or 'rel=X'")
        error = error or (specs[0] if specs else None)
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise BaleInputError("a table model cannot code fields: give a grid model (bale train --grid) or none")
        from bale.grid.api import compress_grid  # its kernels load numba when fields are coded

        return compress_grid(
            data, output, error=error, model=model, config=cfg, names=list(columns) if columns else None
        )
    if tree is None and isinstance(data, (str, os.PathLike)) and detect_format(data) == "root":
        from bale.api.root_file import compress_root_file, whole_file_trees

        trees = whole_file_trees(Path(data), columns)
        if trees is not None:  # several trees, or objects beside the tree: a member per tree (docs/root.md)
            if model is not None:
                raise BaleInputError(
                    f"{data} holds {len(trees)} trees and a model covers one: choose a tree with --tree"
                )

            def one_tree(name: str, out: Path) -> CompressReport:
                return compress(
                    data, out, error=error, errors=errors, config=cfg, columns=columns, tree=name,
                    keep_rest=keep_rest, preset=preset, progress=progress, workers=workers, on_epoch=on_epoch,
                    quantities=quantities,
                )  # fmt: skip

            return compress_root_file(Path(data), Path(output), trees, one_tree)
    if isinstance(data, (str, os.PathLike)):
        stage("reading %s", data)
    source = _Source(data, columns, tree, keep_rest, cfg.compress.chunk_rows)
    structure = source.empty()
    if not any(t.columns for t in structure.tables.values()):
        skipped = structure.source.get("skipped") or {}
        if skipped:
            reasons = "; ".join(f"{k} ({v})" for k, v in skipped.items())
            raise BaleInputError(f"no branch of tree {structure.source.get('tree')!r} can be coded: {reasons}")
        raise BaleInputError("the table has no columns")
    bounds = _resolve_bounds(_dtypes(structure), cfg, error, errors, source.exact, preset)
    specs = declared_quantities(cfg, quantities, _dtypes(structure))  # before any training: one-line errors
    bounds = tighten_column_bounds(bounds, specs)
    specs_of = per_table(specs, {name: t.columns for name, t in structure.tables.items()})
    if preset is not None:
        _announce_preset(preset, bounds)
    embedded = model is None
    started = time.perf_counter()
    if model is None:
        stage("drawing a training sample (at most %d rows)", cfg.train.max_rows)
        sample = source.sample(cfg.train.max_rows)
        if sample.num_events:
            model = _train(sample, cfg, error, errors, source.exact, preset, progress, on_epoch, quantities=specs)
        else:
            model = DatasetModel({n: _trivial_model(t, bounds) for n, t in structure.tables.items()}).simplest()
        del sample
    elif not isinstance(model, (CompressionModel, DatasetModel)):
        model = load_model(model)
    models = DatasetModel.of(model)
    _check_schema(structure, models)
    train_seconds = time.perf_counter() - started
    coders = [with_quantity_bounds(_with_bounds(m, bounds), specs_of[n]) for n, m in models.tables.items()]
    if embedded:  # the training record is not needed to decode: keep it out of the file
        model = DatasetModel(
            {n: CompressionModel(m.columns, m.network, quantities=m.quantities) for n, m in models.tables.items()}
        ).simplest()
    model_bytes = model.to_bytes()
    tables = [
        table_entry(
            name,
            [
                column_entry(n, str(v.dtype), bounds[n].to_json(), coder.column(n).predictor["kind"])
                for n, v in table.columns.items()
            ],
            counter=structure.counters[name] if name else None,
            quantities=header_quantities(coder),
        )
        for (name, table), coder in zip(structure.tables.items(), coders, strict=True)
    ]
    model_meta = model_entry(embedded=embedded, sha256=hashlib.sha256(model_bytes).hexdigest())
    header = table_header(tables, model_meta, chunk_rows=cfg.compress.chunk_rows, source=_jsonable(structure.source))
    started = time.perf_counter()
    raw_bytes = 0
    digests = {n: hashlib.sha256() for n, b in bounds.items() if b.mode == "exact"}  # checked by verify()
    stage("coding every column and writing %s", output)
    version = CONTEXT_VERSION if any(c.context_sources() for c in coders) else BASE_VERSION
    with BaleWriter(output, header, model_bytes if embedded else None, version) as writer:
        bar = tqdm(desc="compressing", unit="event", disable=not progress, leave=False)

        Work = tuple[int, int, int, dict[str, np.ndarray], np.ndarray | None]

        def work() -> Iterator[Work]:
            nonlocal raw_bytes
            for step, piece in enumerate(source.pieces()):
                raw_bytes += piece.nbytes
                _update_digests(digests, piece)
                for t, (name, table) in enumerate(piece.tables.items()):
                    counts = piece.main.columns[piece.counters[name]] if t else None  # for a pair mass
                    if table.num_rows or (t == 0 and step == 0):
                        yield step, t, piece.num_events if t == 0 else 0, table.columns, counts

        def encode(item: Work) -> tuple[int, int, int, int, dict[str, bytes]]:
            step, t, events, columns, counts = item
            rows = len(next(iter(columns.values()))) if columns else 0
            return step, t, events, rows, encode_chunk(columns, coders[t], counts)

        for step, t, events, rows, sections in map_chunks(encode, work(), workers):
            writer.write_chunk(rows, sections, table=t, step=step)
            bar.update(events)
        bar.close()
        writer.close({"raw_bytes": raw_bytes, "exact_sha256": {n: d.hexdigest() for n, d in digests.items()}})
    report: TableInfo = _info_table(output)
    report["seconds"] = {"train": round(train_seconds, 3), "compress": round(time.perf_counter() - started, 3)}
    return report


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
