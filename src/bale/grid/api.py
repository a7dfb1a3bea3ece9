"""Grid mode of the API: compress, decompress, train and describe ``.bale`` files of grids.

A grid file is a ``.bale`` container (docs/format.md) whose header's kind is
:data:`~bale.container.FIELDS_KIND`; each grid is a table entry of that kind, one schema
entry (its name, dtype and the bound it was coded with) and a shape record
(:func:`bale.container.grid_entry`: shape, the bound as given); its bytes are one chunk of
one section (:data:`~bale.container.GRID_SECTION`), whose ``rows`` are its frames. The conv model, when
one is used, is a safetensors file embedded like a table model, or named by its SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from bale.bounds import parse_bound
from bale.config import BaleConfig, load_config
from bale.container import (
    FIELDS_KIND,
    GRID_SECTION,
    MAGIC,
    BaleReader,
    BaleWriter,
    grid_entry,
    grid_header,
    holds_fields,
    model_entry,
)
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.fsutil import refuse_same_file, write_atomic
from bale.grid.codec import (
    as_3d,
    decode_grid,
    describe_parts,
    encode_grid,
    pack_sections,
    parse_grid_bound,
    unpack_sections,
)
from bale.grid.files import read_grids, write_grids
from bale.models.conv import ConvGridModel
from bale.reports import FieldInfo, FieldsInfo, GridParts
from bale.table import Fields

__all__ = [
    "compress_grid",
    "decompress_grid",
    "grid_info",
    "is_grid_file",
    "load_grid_model",
    "save_grid_model",
    "train_grid",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
GridData = PathLike | np.ndarray | Mapping[str, np.ndarray]


def _config(config: BaleConfig | PathLike | None) -> BaleConfig:
    return config if isinstance(config, BaleConfig) else load_config(config)


def _grids(data: GridData, names: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if isinstance(data, np.ndarray):
        return {"data": data}, {"format": "array"}
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v) for k, v in data.items()}, {"format": "arrays"}
    return read_grids(data, names)


def is_grid_file(path: PathLike) -> bool:
    """Whether ``path`` is a ``.bale`` file (by its first bytes, not its name) whose header holds fields."""
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            return False
    with BaleReader(p) as reader:
        return holds_fields(reader.header)


def load_grid_model(path: PathLike | ConvGridModel) -> ConvGridModel:
    if isinstance(path, ConvGridModel):
        return path
    p = Path(path)
    if not p.is_file():
        raise BaleInputError(f"no such model file: {p}")
    return ConvGridModel.from_bytes(p.read_bytes())


def save_grid_model(model: ConvGridModel, path: PathLike, info: Mapping[str, Any] | None = None) -> str:
    """Write the model as safetensors; returns its SHA-256."""
    data = model.to_bytes(info)
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def train_grid(data: GridData | list[GridData], *, config: BaleConfig | PathLike | None = None) -> ConvGridModel:
    """Train a conv model on the frames of ``data`` (paths, arrays or dicts of arrays)."""
    from bale.training.conv import train_conv

    cfg = _config(config)
    items = data if isinstance(data, list) else [data]
    grids = [g for item in items for g in _grids(item)[0].values()]
    g = cfg.grid
    model, record = train_conv(
        grids,
        tile=g.tile,
        latent_dim=g.latent_dim,
        channels=g.channels,
        latent_bits=g.latent_bits,
        epochs=g.epochs,
        max_tiles=g.max_tiles,
        seed=cfg.train.seed,
        threads=cfg.train.threads,
    )
    model.record = record
    return model


def compress_grid(
    data: GridData,
    output: PathLike,
    *,
    error: str | None = None,
    model: ConvGridModel | PathLike | None = None,
    config: BaleConfig | PathLike | None = None,
    names: list[str] | None = None,
    embed_model: bool = False,
) -> FieldsInfo:
    """Compress the grids of ``data`` into ``output``; returns :func:`grid_info` of the result.

    Without ``model``, grids are coded by the classical predictors, or (``grid.learned``, or
    ``grid.predictor = "conv"``) a conv model is trained on them and embedded. A given
    ``model`` is named by its SHA-256 (decompression needs it), or embedded with ``embed_model``.
    """
    refuse_same_file(data, output)
    cfg = _config(config)
    grids, source = _grids(data, names)
    if not grids:
        raise BaleInputError("no grid to compress")
    spec = error or cfg.grid.error
    bounds = {n: parse_grid_bound(spec, a) for n, a in grids.items()}
    started = time.perf_counter()
    embedded = False
    conv: ConvGridModel | None = None
    if model is not None:
        conv = load_grid_model(model)
        embedded = embed_model
    elif cfg.grid.learned or cfg.grid.predictor == "conv":
        conv = train_grid(list(grids.values()), config=cfg)
        embedded = True
    train_seconds = time.perf_counter() - started
    model_bytes = (conv.to_bytes() if embedded else conv.file_bytes()) if conv is not None else None
    started = time.perf_counter()
    encoded = {}
    for name, a in grids.items():
        encoded[name] = encode_grid(
            a, bounds[name].bound, block=cfg.grid.block, predictor=cfg.grid.predictor, model=conv
        )
    header = grid_header(
        [grid_entry(n, str(a.dtype), bounds[n].bound.to_json(), a.shape, bounds[n].spec) for n, a in grids.items()],
        model_entry(embedded=embedded)
        if model_bytes is None
        else model_entry(embedded=embedded, sha256=hashlib.sha256(model_bytes).hexdigest(), family="conv"),
        source=source,
    )
    with BaleWriter(output, header, model_bytes if embedded else None) as writer:
        for t, (name, a) in enumerate(grids.items()):
            writer.write_chunk(
                as_3d(a.shape)[0], {GRID_SECTION: pack_sections(encoded[name].sections)}, table=t, step=0
            )
        writer.close({"raw_bytes": int(sum(a.nbytes for a in grids.values()))})
    report = grid_info(output)
    report["seconds"] = {"train": round(train_seconds, 3), "compress": round(time.perf_counter() - started, 3)}
    return report


def _file_model(reader: BaleReader, model: ConvGridModel | PathLike | None) -> ConvGridModel | None:
    meta = reader.header.get("model") or {}
    if not meta.get("sha256"):
        return None
    embedded = reader.model()
    if embedded is not None:
        data = embedded
    else:
        if model is None:
            raise BaleModelMismatchError(
                f"{reader.path} was compressed with an external conv model "
                f"(sha256 {str(meta.get('sha256'))[:16]}…): pass it with --model"
            )
        data = model.file_bytes() if isinstance(model, ConvGridModel) else Path(model).read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        if embedded is not None:  # the model is inside the file: a digest that does not match is damage
            raise BaleFormatError(f"{reader.path}: the embedded conv model does not match its SHA-256 (file corrupt)")
        raise BaleModelMismatchError(
            f"{reader.path} was compressed with model {str(meta['sha256'])[:16]}…, not this one"
        )
    return ConvGridModel.from_bytes(data)


def _chunks_by_table(reader: BaleReader) -> list[list[int]]:
    """The chunks of each grid, in one pass over the index (K grids and K chunks are not K^2 steps)."""
    out: list[list[int]] = [[] for _ in reader.tables]
    for i, c in enumerate(reader.chunks):
        out[c.table].append(i)
    return out


def decompress_grid(
    path: PathLike, output: PathLike | None = None, *, model: ConvGridModel | PathLike | None = None
) -> Fields:
    """Decode the grids of a grid ``.bale`` file (name -> array); writes ``output`` when given."""
    with BaleReader(path) as reader:
        if not holds_fields(reader.header):
            raise BaleInputError(f"{path} holds a table, not grids: use bale.decompress")
        conv = _file_model(reader, model)
        out = Fields()
        by_table = _chunks_by_table(reader)
        for t, table in enumerate(reader.tables):
            try:
                column = table["schema"][0]
                shape = tuple(int(n) for n in table[GRID_SECTION]["shape"])
                dtype = np.dtype(column["dtype"])
                bound = parse_bound(column["bound"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise BaleFormatError(f"{path}: bad grid entry in the header: {exc}") from None
            chunks = by_table[t]
            if len(chunks) != 1:
                raise BaleFormatError(f"{path}: grid {table['name']!r} has {len(chunks)} chunks, expected 1")
            if dtype.kind != "f" or any(n < 0 for n in shape) or int(np.prod(shape)) > 2**40:
                raise BaleFormatError(f"{path}: bad grid shape or dtype")
            parts = unpack_sections(reader.chunk(chunks[0])[GRID_SECTION])
            out[table["name"]] = decode_grid(parts, shape, dtype, bound, model=conv)
        source = dict(reader.header.get("source") or {})
    if output is not None:
        write_grids(out, output, source if source.get("format") in ("npz", "npy", "hdf5", "zarr") else None)
    return out


def grid_info(path: PathLike, *, model: PathLike | None = None) -> FieldsInfo:
    """Byte breakdown and honest ratio of a grid file (sections summed over grids)."""
    with BaleReader(path) as reader:
        if not holds_fields(reader.header):
            raise BaleInputError(f"{path} holds a table, not grids")
        header = reader.header
        sections: dict[str, int] = {}
        per_grid: dict[str, FieldInfo] = {}
        by_table = _chunks_by_table(reader)
        for t, table in enumerate(reader.tables):
            size = 0
            parts: dict[str, memoryview] = {}
            for i in by_table[t]:
                size += reader.chunks[i].length
                parts = unpack_sections(reader.chunk(i)[GRID_SECTION])
                for name, payload in parts.items():
                    sections[name] = sections.get(name, 0) + len(payload)
            g = table.get(GRID_SECTION, {})
            described = cast(GridParts, describe_parts(parts, tuple(g.get("shape", [])))) if parts else GridParts()
            values = int(np.prod(g.get("shape", [0])))
            per_grid[table["name"]] = {
                "shape": g.get("shape", []),  # always there: the container checked the header (grid_tables)
                "dtype": table["schema"][0]["dtype"],
                "error": g.get("error"),
                "bound": table["schema"][0]["bound"],
                **described,
                "bytes": size,
                "bits_per_value": round(8 * size / max(values, 1), 3),
            }
        raw = int(reader.footer.get("raw_bytes", 0))
        total = reader.size
        meta = header.get("model") or {}
        result: FieldsInfo = {
            "file": str(path),
            "kind": FIELDS_KIND,
            "format_version": reader.version,
            "created_by": header.get("created_by"),
            "grids": per_grid,
            "raw_bytes": raw,
            "file_bytes": total,
            "bytes": {
                "header": reader.header_bytes,
                "model": reader.model_bytes,
                **{f"grid {k}": v for k, v in sorted(sections.items())},
                "index": reader.footer_bytes,
            },
            "model": {
                "embedded": bool(meta.get("embedded")),
                "sha256": meta.get("sha256"),
                "family": meta.get("family"),
            },
            "ratio": round(raw / total, 4) if total else None,
        }
        if meta.get("embedded"):
            result["ratio_without_model"] = round(raw / (total - reader.model_bytes), 4)
        elif model is not None and meta.get("sha256"):
            external = Path(model).read_bytes()
            if hashlib.sha256(external).hexdigest() != meta["sha256"]:
                raise BaleModelMismatchError(f"{path} was not compressed with the model {model}")
            result["ratio_with_model"] = round(raw / (total + len(external)), 4)
        return result
