"""The Python API: :func:`train`, :func:`compress`, :func:`decompress`, :func:`info`.

Each accepts a path or a table in memory (pandas or pyarrow table, dict of arrays,
NumPy structured or 2-D array, :class:`~bale.table.Table`) and mirrors the CLI command of
the same name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bale._version import __version__
from bale.bounds import Bound, parse_bound, parse_bound_options, resolve_bounds
from bale.chunks import DEFAULT_WORKERS, LATENT_SECTION, decode_chunk, encode_chunk, map_chunks
from bale.config import BaleConfig, load_config
from bale.container import BaleReader, BaleWriter, ChunkInfo
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.fsutil import atomic_target
from bale.io import read_table, write_table
from bale.models import ColumnPlan, CompressionModel
from bale.table import Table

__all__ = ["as_table", "compress", "decompress", "info", "load_model", "save_model", "train"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def as_table(data: Any, *, columns: Iterable[str] | None = None, tree: str | None = None) -> Table:
    """Turn a path or an in-memory table of any supported kind into a :class:`Table`."""
    if isinstance(data, (str, os.PathLike)):
        table = read_table(data, columns=list(columns) if columns else None, tree=tree)
        return table
    if isinstance(data, Table):
        table = data
    elif hasattr(data, "to_pydict") and hasattr(data, "schema"):  # pyarrow
        table = Table({name: data.column(name).to_numpy() for name in data.column_names})
    elif hasattr(data, "to_numpy") and hasattr(data, "columns"):  # pandas
        table = Table({str(name): data[name].to_numpy() for name in data.columns})
    elif isinstance(data, np.ndarray) and data.dtype.names:
        table = Table({name: np.ascontiguousarray(data[name]) for name in data.dtype.names})
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        table = Table({f"col{i}": np.ascontiguousarray(data[:, i]) for i in range(data.shape[1])})
    elif isinstance(data, Mapping):
        table = Table.from_mapping(data)
    else:
        raise BaleInputError(f"cannot compress an object of type {type(data).__name__}")
    if columns:
        wanted = list(columns)
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise BaleInputError(f"unknown column(s) {missing}; columns are {table.names}")
        table = Table({c: table.columns[c] for c in wanted}, table.source)
    return table


def _bounds(
    table: Table, config: BaleConfig, error: str | None, errors: Iterable[str] | Mapping[str, str] | None
) -> dict[str, Bound]:
    default = parse_bound(error or config.compress.error)
    per_column = {k: parse_bound(v) for k, v in config.compress.errors.items()}
    if isinstance(errors, Mapping):
        per_column.update({k: parse_bound(v) for k, v in errors.items()})
    elif errors is not None:
        cli_default, cli_columns = parse_bound_options(errors)
        if cli_default is not None:
            default = cli_default
        per_column.update(cli_columns)
    return resolve_bounds({k: v.dtype for k, v in table.columns.items()}, default, per_column)


def _config(config: BaleConfig | PathLike | None) -> BaleConfig:
    return config if isinstance(config, BaleConfig) else load_config(config)


def train(
    data: Any,
    *,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    progress: bool = False,
) -> CompressionModel:
    """Fit a compression model to ``data``: predictors per column and the network."""
    from bale.training import fit_model  # torch is imported only when training

    cfg = _config(config)
    table = as_table(data, columns=columns, tree=tree)
    if table.num_rows == 0 or not table.columns:
        raise BaleInputError("cannot train on an empty table")
    model = fit_model(table, _bounds(table, cfg, error, errors), cfg, progress=progress)
    model.info["schema"] = [{"name": n, "dtype": str(v.dtype)} for n, v in table.columns.items()]
    return model


def save_model(model: CompressionModel, path: PathLike) -> str:
    """Write ``model`` atomically; returns its SHA-256."""
    data = model.to_bytes()
    with atomic_target(Path(path)) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # on disk before it is renamed into place
    return model.sha256


def load_model(path: PathLike) -> CompressionModel:
    p = Path(path)
    if not p.is_file():
        raise BaleInputError(f"no such model file: {p}")
    return CompressionModel.from_bytes(p.read_bytes())


def _with_bounds(model: CompressionModel, bounds: Mapping[str, Bound]) -> CompressionModel:
    """The model coding with ``bounds``; a bound may change its value, not its mode."""
    plans = []
    for plan in model.columns:
        bound = bounds[plan.name]
        if (bound.mode == "exact") != (plan.bound.mode == "exact") or (
            bound.mode != "exact" and bound.mode != plan.bound.mode and plan.predictor["kind"] != "grid"
        ):
            raise BaleInputError(
                f"column {plan.name!r}: the model was trained for {plan.bound}, not {bound}; "
                "train a model with this bound"
            )
        plans.append(replace(plan, bound=bound))
    return CompressionModel(plans, model.network, model.info)


def _check_schema(table: Table, model: CompressionModel) -> None:
    have = {n: str(v.dtype) for n, v in table.columns.items()}
    want = {c.name: c.dtype for c in model.columns}
    if have != want:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        changed = sorted(n for n in set(have) & set(want) if have[n] != want[n])
        raise BaleInputError(
            f"the model was trained on another schema: missing {missing}, unexpected {extra}, other dtype {changed}"
        )


def compress(
    data: Any,
    output: PathLike,
    *,
    model: CompressionModel | PathLike | None = None,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, Any]:
    """Compress ``data`` into the ``.bale`` file ``output``; returns :func:`info` of the result.

    Without ``model`` a model is trained on the data and embedded in the file. With one,
    the file records the model's SHA-256 and decompression needs the same model.
    """
    cfg = _config(config)
    table = as_table(data, columns=columns, tree=tree)
    if not table.columns:
        raise BaleInputError("the table has no columns")
    bounds = _bounds(table, cfg, error, errors)
    embedded = model is None
    started = time.perf_counter()
    if model is None:
        trained = train(table, error=error, errors=errors, config=cfg, progress=progress) if table.num_rows else None
        model = trained if trained is not None else _trivial_model(table, bounds)
    elif not isinstance(model, CompressionModel):
        model = load_model(model)
    _check_schema(table, model)
    train_seconds = time.perf_counter() - started
    coder = _with_bounds(model, bounds)
    if embedded:  # the training record is not needed to decode: keep it out of the file
        model = CompressionModel(model.columns, model.network)
    model_bytes = model.to_bytes()
    header = {
        "format": "bale",
        "created_by": f"bale {__version__}",
        "schema": [
            {
                "name": n,
                "dtype": str(v.dtype),
                "bound": bounds[n].to_json(),
                "predictor": coder.column(n).predictor["kind"],
            }
            for n, v in table.columns.items()
        ],
        "model": {"embedded": embedded, "sha256": model.sha256},
        "raw_bytes": table.nbytes,
        "chunk_rows": cfg.compress.chunk_rows,
        "source": _jsonable(table.source),
    }
    started = time.perf_counter()
    with BaleWriter(output, header, model_bytes if embedded else None) as writer:
        bar = tqdm(total=table.num_rows, desc="compressing", unit="row", disable=not progress, leave=False)
        starts = range(0, table.num_rows, cfg.compress.chunk_rows)

        def encode(start: int) -> tuple[int, dict[str, bytes]]:
            stop = min(start + cfg.compress.chunk_rows, table.num_rows)
            return stop - start, encode_chunk({n: v[start:stop] for n, v in table.columns.items()}, coder)

        for rows, sections in map_chunks(encode, starts, workers):
            writer.write_chunk(rows, sections)
            bar.update(rows)
        bar.close()
        writer.close()
    report = info(output)
    report["seconds"] = {"train": round(train_seconds, 3), "compress": round(time.perf_counter() - started, 3)}
    return report


def _trivial_model(table: Table, bounds: Mapping[str, Bound]) -> CompressionModel:
    """A model for a table too small to train on: classical coding of every column."""
    plans = [
        ColumnPlan(n, str(v.dtype), bounds[n], {"kind": "exact" if bounds[n].mode == "exact" else "grid"})
        for n, v in table.columns.items()
    ]
    plans.sort(key=lambda p: p.predictor["kind"] != "exact")
    return CompressionModel(plans)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _open_model(reader: BaleReader, model: CompressionModel | PathLike | None) -> CompressionModel:
    meta = reader.header.get("model", {})
    embedded = reader.model()
    if embedded is not None:
        found = CompressionModel.from_bytes(embedded)
    else:
        if model is None:
            raise BaleModelMismatchError(
                f"{reader.path} was compressed with an external model "
                f"(sha256 {str(meta.get('sha256'))[:16]}…): pass it with --model"
            )
        found = model if isinstance(model, CompressionModel) else load_model(model)
    if found.sha256 != meta.get("sha256"):
        raise BaleModelMismatchError(
            f"{reader.path} was compressed with model {str(meta.get('sha256'))[:16]}…, not with {found.sha256[:16]}…"
        )
    try:
        bounds = {c["name"]: parse_bound(c["bound"]) for c in reader.header["schema"]}
        return _with_bounds(found, bounds)
    except (KeyError, TypeError, BaleInputError) as exc:
        raise BaleFormatError(f"{reader.path}: header does not fit its model: {exc}") from None


def decompress(
    path: PathLike,
    output: PathLike | None = None,
    *,
    model: CompressionModel | PathLike | None = None,
    format: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> Table:
    """Decode a ``.bale`` file; writes ``output`` when given and returns the table."""
    with BaleReader(path) as reader:
        coder = _open_model(reader, model)
        schema = reader.header["schema"]
        # the output is allocated once and each chunk copied into place as it arrives
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
        table = Table(columns, dict(reader.header.get("source") or {}))
    if output is not None:
        write_table(table, output, format=format)
    return table


def info(path: PathLike, *, model: PathLike | None = None) -> dict[str, Any]:
    """Byte breakdown and honest ratio of a ``.bale`` file.

    For a file compressed with an external ``model``, pass the model file to also get the
    ratio with the model's bytes counted (as if it were shipped with this one file).
    """
    with BaleReader(path) as reader:
        header = reader.header
        kinds = {c["name"]: c["predictor"] for c in header["schema"]}
        per_column: dict[str, int] = {c["name"]: 0 for c in header["schema"]}
        latent = 0
        for chunk in reader.chunks:
            for name, length, _ in chunk.sections:
                if name == LATENT_SECTION:
                    latent += length
                elif name in per_column:
                    per_column[name] += length
        groups = {"exact columns": 0, "predicted residuals": 0, "fallback columns": 0}
        for name, size in per_column.items():
            kind = kinds[name]
            group = (
                "exact columns"
                if kind == "exact"
                else ("predicted residuals" if kind in ("relation", "learned") else "fallback columns")
            )
            groups[group] += size
        embedded = bool(header["model"].get("embedded"))
        model_bytes = reader.model_bytes
        total = reader.size
        raw = int(header.get("raw_bytes", 0))
        breakdown = {
            "header": reader.header_bytes,
            "model": model_bytes,
            "latents": latent,
            **groups,
            "index": reader.footer_bytes,
        }
        result: dict[str, Any] = {
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
            "per_column": {
                c["name"]: {
                    "bound": c["bound"],
                    "predictor": c["predictor"],
                    "bytes": per_column[c["name"]],
                    "bits_per_value": round(8 * per_column[c["name"]] / max(reader.num_rows, 1), 3),
                }
                for c in header["schema"]
            },
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
