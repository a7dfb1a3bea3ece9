"""The chunks of :class:`bale.numcodecs_codec.BaleCodec`: their dtype rules, and decoding them from bytes.

A chunk is a whole ``.bale`` file coded with the codec's (external) model; its header's
``source`` describes the array (shape, dtype, layout, column order). Decoding reads it from
memory (no temporary file) and checks everything the chunk declares before allocating: the
shape against the rows the file holds, the dtype against what the encoder accepts, the
columns against the model's. A forged or damaged chunk is a :class:`BaleFormatError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from bale.bounds import parse_bound
from bale.chunks import decode_chunk
from bale.container import BaleReader, holds_fields
from bale.errors import BaleError, BaleFormatError, BaleModelMismatchError
from bale.models.plan import KIND_GRID, CompressionModel
from bale.table import Table

__all__ = ["SOURCE_KEY", "SOURCE_VERSION", "array_dtype_error", "decode_bytes", "from_table"]

SOURCE_KEY = "numcodecs"  # the key of the chunk's description in the .bale header's source
SOURCE_VERSION = 1
_MAX_AXES = 32


def _native(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def array_dtype_error(name: str, have: np.dtype[Any], model: CompressionModel) -> str | None:
    """Why values of dtype ``have`` cannot go to the model's column ``name`` unchanged (``None``: they can).

    An exact column takes any dtype that casts safely to its own (``int16`` data for an
    ``int32`` column): every value comes back as it was. A lossy column takes its own dtype
    only (any byte order): integers through a float bound would come back changed, and
    narrower floats would be rounded again after decoding, past the bound.
    """
    plan = model.column(name)
    want = np.dtype(plan.dtype)
    native = _native(np.dtype(have))
    if native.kind not in "biuf" or native.fields is not None or native.shape != ():
        return f"column {name!r} of the model is {want}, the array is {have}: only numeric data can be coded"
    if plan.bound.mode == "exact":
        if native == want or np.can_cast(native, want, "safe"):
            return None
        return (
            f"column {name!r} of the model is {want}, the array is {have} (which does not cast safely to {want}); "
            f"train a model on {native} data"
        )
    if native == want:
        return None
    if native.kind in "biu":
        why = "integers are never coded through a float bound"
    elif not np.can_cast(native, want, "safe"):
        why = f"which does not cast safely to {want}"
    else:
        why = f"which would be rounded to {native} again after decoding, past the bound"
    return (
        f"column {name!r} of the model is {want} with a lossy bound ({plan.bound}), the array is {have} "
        f"({why}); train a model on {native} data"
    )


def decode_bytes(data: bytes, model: CompressionModel, sha256: str, workers: int = 1) -> Table:
    """The table of a chunk's ``.bale`` bytes, coded with ``model`` (whose SHA-256 is ``sha256``)."""
    del workers  # one chunk of a zarr array is small: decoded on the calling thread
    with BaleReader(data) as reader:
        header = reader.header
        meta = header.get("model") or {}
        if holds_fields(header) or len(reader.tables) != 1:
            raise BaleFormatError("BaleCodec: the chunk is not one table")
        if meta.get("embedded") or meta.get("sha256") != sha256:
            raise BaleModelMismatchError(
                f"BaleCodec: the chunk was coded with model {str(meta.get('sha256'))[:16]}…, not {sha256[:16]}…"
            )
        schema = reader.tables[0]["schema"]
        if {c["name"]: c["dtype"] for c in schema} != {p.name: p.dtype for p in model.columns}:
            raise BaleFormatError("BaleCodec: the chunk's columns are not the model's")
        coder = _with_file_bounds(model, {c["name"]: c["bound"] for c in schema})
        source = dict(header.get("source") or {})
        rows = reader.num_rows
        _check_description(source.get(SOURCE_KEY), model, rows)  # before anything is allocated
        columns = {p.name: np.empty(rows, np.dtype(p.dtype)) for p in model.columns}
        start = 0
        for info, sections in reader.iter_chunks():
            decoded = decode_chunk(sections, info.rows, coder, reader.version)
            for name, out in columns.items():
                values = decoded.get(name)
                if values is None or len(values) != info.rows or values.dtype != out.dtype:
                    raise BaleFormatError(f"BaleCodec: column {name!r} did not decode whole")
                out[start : start + info.rows] = values
            start += info.rows
    return Table({c["name"]: columns[c["name"]] for c in schema}, source)


def _with_file_bounds(model: CompressionModel, bounds: dict[str, str]) -> CompressionModel:
    """The model coding with the chunk's bounds: a bound may change its value, not its mode."""
    plans = []
    for plan in model.columns:
        try:
            bound = parse_bound(bounds[plan.name])
        except (KeyError, ValueError, BaleError) as exc:
            raise BaleFormatError(f"BaleCodec: bad bound of column {plan.name!r}: {exc}") from None
        if (bound.mode == "exact") != (plan.bound.mode == "exact") or (
            bound.mode != "exact" and bound.mode != plan.bound.mode and plan.predictor.get("kind") != KIND_GRID
        ):
            raise BaleFormatError(f"BaleCodec: column {plan.name!r} is coded with {bound}, the model with {plan.bound}")
        plans.append(replace(plan, bound=bound))
    return CompressionModel(plans, model.network, model.info, model.quantities)


def _check_description(described: Any, model: CompressionModel, rows: int) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The chunk's shape and dtype, checked against the model and the rows the file holds."""
    if not isinstance(described, dict) or described.get("version") != SOURCE_VERSION:
        raise BaleFormatError("BaleCodec: not a chunk written by BaleCodec")
    shape_value, layout, names = described.get("shape"), described.get("layout"), described.get("columns")
    if (
        not isinstance(shape_value, list)
        or len(shape_value) > _MAX_AXES
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape_value)
    ):
        raise BaleFormatError("BaleCodec: the chunk's shape is not a list of non-negative integers")
    if not isinstance(names, list) or sorted(map(str, names)) != sorted(model.names) or len(set(names)) != len(names):
        raise BaleFormatError("BaleCodec: the chunk's columns are not the model's")
    shape = tuple(shape_value)
    count = 1
    for n in shape:  # Python integers: no overflow
        count *= n
    dtype = _described_dtype(described.get("dtype"), names, model)
    width = len(names) if layout == "last_axis" else 1
    fits = {
        "structured": dtype.names is not None,
        "flat": dtype.names is None and len(names) == 1,
        "last_axis": dtype.names is None and len(shape) > 0 and shape[-1] == len(names),
    }
    if not fits.get(str(layout), False):
        raise BaleFormatError(f"BaleCodec: the chunk's layout {str(layout)[:20]!r} does not fit its shape {shape}")
    if count != rows * width:
        raise BaleFormatError(f"BaleCodec: the chunk's shape {shape} does not hold its {rows} rows")
    return shape, dtype


def _described_dtype(value: Any, names: Sequence[str], model: CompressionModel) -> np.dtype[Any]:
    """The array's dtype from the chunk: plain numeric, or fields that are exactly the model's columns."""
    try:
        if isinstance(value, str):
            dtype = np.dtype(value)
        elif isinstance(value, list) and all(_plain_field(f) for f in value):
            dtype = _structured(value)
        else:
            raise TypeError("not a dtype description of names and plain dtypes")
    except (TypeError, ValueError, SyntaxError) as exc:
        raise BaleFormatError(f"BaleCodec: bad dtype in the chunk: {exc}") from None
    fields = [(n, dtype[n]) for n in dtype.names] if dtype.names is not None else None
    if fields is not None and sorted(n for n, _ in fields) != sorted(names):
        raise BaleFormatError("BaleCodec: the chunk's fields are not the model's columns")
    for name, have in fields or [(n, dtype) for n in names]:
        problem = array_dtype_error(name, have, model)
        if problem is not None:
            raise BaleFormatError(f"BaleCodec: the chunk's dtype cannot hold it: {problem}")
    return dtype


def _plain_field(field: Any) -> bool:
    """A field of a structured dtype's description: ``[name, "<f4"]``, or padding ``["", "|V4"]`` (at most 8 bytes)."""
    if not isinstance(field, list) or len(field) != 2 or not all(isinstance(x, str) for x in field):
        return False  # no subarray fields, no nested structures
    name, kind = field
    return bool(name) or kind in {f"|V{n}" for n in range(1, 9)}


def _structured(value: list[list[str]]) -> np.dtype[Any]:
    return np.lib.format.descr_to_dtype([(str(n), str(t)) for n, t in value])


def from_table(table: Table) -> np.ndarray:
    """The array of a decoded chunk (its description already checked by :func:`decode_bytes`)."""
    described = table.source[SOURCE_KEY]
    shape = tuple(described["shape"])
    layout = described["layout"]
    names = [str(n) for n in described["columns"]]
    value = described["dtype"]
    dtype = np.dtype(value) if isinstance(value, str) else _structured(value)
    columns = [table.columns[n] for n in names]
    if layout == "structured":
        arr = np.empty(shape, dtype)
        flat = arr.reshape(-1)
        for name, values in zip(names, columns, strict=True):
            flat[name] = values
    elif layout == "flat":
        arr = columns[0].astype(dtype, copy=False).reshape(shape)
    else:
        arr = np.stack(columns, axis=-1).astype(dtype, copy=False).reshape(shape)
    # the memory order of the input, for callers that take the bytes (zarr v2 order="F")
    return np.asfortranarray(arr) if described.get("order") == "F" else arr
