"""The ``source`` record that drives the writers, validated before a writer sees it.

A table read from a file carries in ``source`` what its writer needs to give back the same
structure (Parquet metadata and row groups, ``.npz`` members, HDF5 datasets, groups, storage
options and attributes, the ROOT tree). A ``.bale`` file stores that record in its header, so
a forged file can put anything there: a structured dtype with a 256 MiB void field, an object
dtype (which NumPy would serialize as Python objects), a storage filter that does not exist, one-row Parquet row
groups, a member whose dtype silently changes the values. :func:`check_source` accepts exactly
what bale's readers produce, bounded, and refuses anything else with one line
(:class:`~bale.errors.BaleFormatError`) before anything is written.

:func:`check_root_source` is the ROOT part, for the writers of :mod:`bale.io.root_events`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bale.errors import BaleFormatError
from bale.table import Table

__all__ = ["MIN_ROW_GROUP", "check_root_source", "check_source"]

MIN_ROW_GROUP = 1024  # Parquet row groups are written at least this long (or whole): values never change
_MAX_AXES = 32
_MAX_EXTRA_BYTES = 1 << 20  # what a reader keeps verbatim (bale.io._common.MAX_EXTRA_BYTES)
_PLAIN = re.compile(r"[<>=|]?[biuf][1248]")
_STORAGE_KEYS = {"compression", "compression_opts", "shuffle", "fletcher32", "chunks", "scaleoffset"}
_H5_FILTERS = {"gzip", "lzf"}


def _bad(what: str) -> BaleFormatError:
    return BaleFormatError(f"bad source record in the header: {what}")


def _str_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _bad(f"{what} is not a map of strings")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{what} is not a list of strings")
    return value


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) > _MAX_AXES
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    ):
        raise _bad(f"{what}: shape is not a list of non-negative integers")
    return tuple(value)


def _count(shape: Sequence[int]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def _plain_dtype(value: Any, what: str) -> np.dtype[Any]:
    """A plain numeric dtype (bool, integers, floats of at most 8 bytes), given as a string."""
    if not isinstance(value, str) or not _PLAIN.fullmatch(value):
        raise _bad(f"{what}: dtype {str(value)[:40]!r} is not a plain numeric dtype")
    return np.dtype(value)


def _array_dtype(descr: Any, what: str) -> np.dtype[Any]:
    """The dtype of a verbatim array: numeric, complex or fixed strings; no objects, voids or structures."""
    if not isinstance(descr, str):
        raise _bad(f"{what}: structured verbatim arrays are not kept")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise _bad(f"{what}: bad dtype {descr[:40]!r}") from None
    if dtype.kind not in "biufcSU" or dtype.fields is not None or dtype.shape != () or dtype.itemsize > 1024:
        raise _bad(f"{what}: dtype {dtype} cannot be kept verbatim")
    return dtype


def _encoded_array(enc: Any, what: str) -> None:
    """A verbatim array (``bale.io._common.encode_array``): its bytes must be exactly what it declares."""
    if not isinstance(enc, dict) or not isinstance(enc.get("data"), str):
        raise _bad(f"{what} is not an encoded array")
    dtype = _array_dtype(enc.get("descr"), what)
    shape = _shape(enc.get("shape"), what)
    if len(enc["data"]) > 2 * _MAX_EXTRA_BYTES:
        raise _bad(f"{what} is larger than a verbatim array may be")
    try:
        size = len(base64.b64decode(enc["data"], validate=True))
    except (binascii.Error, ValueError):
        raise _bad(f"{what} is not base64") from None
    if size != _count(shape) * dtype.itemsize:
        raise _bad(f"{what}: {size} bytes do not hold its shape {shape}")


def _member(m: Any, table: Table, fmt: str) -> None:
    """An array of a ``.npz``/``.npy``/HDF5 layout: verbatim, or columns of the table in its own dtype."""
    if not isinstance(m, dict) or not isinstance(m.get("name"), str):
        raise _bad(f"a {fmt} member without a name")
    what = f"{fmt} member {m['name'][:40]!r}"
    if fmt == "hdf5":
        _h5_path(m["name"], what)
        _storage(m.get("storage"), what)
    if "extra" in m:
        _encoded_array(m["extra"], what)
        return
    dtype = _plain_dtype(m.get("dtype"), what)
    shape = _shape(m.get("shape"), what)
    columns = _str_list(m.get("columns"), what)
    if not columns or _count(shape) != len(columns):
        raise _bad(f"{what}: its shape {shape} does not hold its {len(columns)} columns")
    native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
    for c in columns:  # a member of another dtype would change the values as it is written
        if c in table.columns and table.columns[c].dtype != native:
            raise _bad(f"{what}: dtype {dtype} is not that of its column {c!r} ({table.columns[c].dtype})")


def _h5_path(name: str, what: str) -> None:
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise _bad(f"{what}: {name[:40]!r} is not an HDF5 path")


def _storage(opts: Any, what: str) -> None:
    if opts is None:
        return
    if not isinstance(opts, dict) or not set(opts) <= _STORAGE_KEYS:
        raise _bad(f"{what}: unknown storage options")
    compression = opts.get("compression")
    if compression is not None and compression not in _H5_FILTERS:
        raise _bad(f"{what}: compression {str(compression)[:20]!r} is not gzip or lzf")
    level = opts.get("compression_opts")
    if level is not None and not (compression == "gzip" and isinstance(level, int) and 0 <= level <= 9):
        raise _bad(f"{what}: bad compression level")
    for flag in ("shuffle", "fletcher32"):
        if not isinstance(opts.get(flag, False), bool):
            raise _bad(f"{what}: {flag} is not a boolean")
    if "scaleoffset" in opts:  # lossy on floats: kept for integer datasets only, where it is lossless
        scale = opts["scaleoffset"]
        if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 64:
            raise _bad(f"{what}: bad scaleoffset")
    chunks = opts.get("chunks")
    if chunks is not None:
        shape = _shape(chunks, what)
        if not shape or min(shape) < 1 or _count(shape) > 1 << 26:
            raise _bad(f"{what}: bad chunk shape")


def _check_parquet(src: Mapping[str, Any], table: Table) -> dict[str, Any]:
    out = dict(src)
    _str_map(src.get("metadata", {}), "Parquet metadata")
    field_meta = src.get("field_metadata", {})
    if not isinstance(field_meta, dict):
        raise _bad("Parquet field metadata is not a map")
    for name, meta in field_meta.items():
        _str_map(meta, f"Parquet metadata of field {str(name)[:40]!r}")
    _str_list(src.get("non_nullable", []), "Parquet non-nullable fields")
    if not isinstance(src.get("compression", "snappy"), str):
        raise _bad("Parquet compression is not a name")
    size = src.get("row_group_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise _bad("Parquet row group size is not a positive integer")
        # never fewer rows than MIN_ROW_GROUP (a forged 1 bloats the file), never more than the table
        rows = max(len(table), 1)
        out["row_group_size"] = min(max(size, min(MIN_ROW_GROUP, rows)), rows)
    return out


def _check_layout(src: Mapping[str, Any], table: Table, fmt: str) -> dict[str, Any]:
    out = dict(src)
    members = src.get("members", [])
    if not isinstance(members, list):
        raise _bad(f"{fmt} members are not a list")
    for m in members:
        _member(m, table, fmt)
    if fmt == "hdf5":  # scaleoffset quantizes floats: decoded values are written as they are
        out["members"] = [_exact_storage(m) for m in members]
    if fmt == "npz" and not isinstance(src.get("compressed", False), bool):
        raise _bad("npz compressed is not a boolean")
    if fmt == "npy" and "structured" in src:
        _str_list(src.get("columns"), "npy columns")
        descr = src["structured"]
        if not isinstance(descr, list) or not descr:
            raise _bad("npy structured dtype is not a list of fields")
        for field in descr:
            if not isinstance(field, list) or len(field) != 2 or not all(isinstance(x, str) for x in field):
                raise _bad("npy structured dtype: a field is not [name, dtype]")
            name, kind = field
            if name:
                dtype = _plain_dtype(kind, f"npy field {name[:40]!r}")
                native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
                if name in table.columns and table.columns[name].dtype != native:
                    raise _bad(f"npy field {name[:40]!r}: dtype {dtype} is not that of its column")
            elif kind not in {f"|V{n}" for n in range(1, 65)}:
                raise _bad("npy structured dtype: padding of more than 64 bytes")
    if fmt == "hdf5":
        for name in _str_list(src.get("groups", []), "HDF5 groups") + _str_list(src.get("order", []), "HDF5 order"):
            _h5_path(name, f"HDF5 object {name[:40]!r}")
        attrs = src.get("attrs", {})
        if not isinstance(attrs, dict):
            raise _bad("HDF5 attributes are not a map")
        for where, values in attrs.items():
            if not isinstance(values, dict):
                raise _bad(f"HDF5 attributes of {str(where)[:40]!r} are not a map")
            for key, value in values.items():
                what = f"HDF5 attribute {str(key)[:40]!r}"
                if not isinstance(value, dict):
                    raise _bad(f"{what} is not a record")
                if "str" in value:
                    if not isinstance(value["str"], str):
                        raise _bad(f"{what} is not a string")
                elif "strs" in value:
                    _str_list(value["strs"], what)
                else:
                    _encoded_array(value.get("array"), what)
                    if not isinstance(value.get("scalar"), bool):
                        raise _bad(f"{what}: scalar is not a boolean")
    return out


def _exact_storage(member: dict[str, Any]) -> dict[str, Any]:
    storage = member.get("storage")
    if not storage or "scaleoffset" not in storage or "extra" in member or np.dtype(member["dtype"]).kind != "f":
        return member
    return {**member, "storage": {k: v for k, v in storage.items() if k != "scaleoffset"}}


def check_root_source(source: Mapping[str, Any]) -> dict[str, Any]:
    """The ROOT part of a ``source`` record (tree, title, kind, synthetic counters), validated; returns a copy.

    For the ROOT writers (``bale.io.root.write``, ``bale.io.root_events.write_dataset``):
    ``source = check_root_source(source)`` before the file is created.
    """
    if not isinstance(source, Mapping):
        raise _bad("the source record is not a map")
    out = dict(source)
    tree = source.get("tree", "Events")
    if (  # a path inside the ROOT file (``one/two/tree``, ATLAS's ``##Params``): printable, no empty part
        not isinstance(tree, str)
        or not 0 < len(tree) <= 4096
        or not tree.isprintable()
        or any(part in ("", ".", "..") for part in tree.split("/"))
    ):
        raise _bad(f"ROOT tree name {str(tree)[:40]!r}")
    title = source.get("title", "")
    if not isinstance(title, str) or len(title) > 4096 or "\x00" in title:
        raise _bad("ROOT tree title is not a short string")
    if source.get("kind", "ttree") not in ("ttree", "rntuple"):
        raise _bad(f"ROOT kind {str(source.get('kind'))[:20]!r}")
    _str_list(source.get("synthetic_counters", []) or [], "ROOT synthetic counters")
    return out


def check_source(table: Table, fmt: str) -> dict[str, Any]:
    """``table.source`` validated for the writer of ``fmt`` (the part that writer reads); returns a copy.

    Formats other than the record's own ignore it (their writers write the columns flatly).
    """
    src = table.source
    if not isinstance(src, Mapping):
        raise _bad("the source record is not a map")
    if src.get("format") != fmt:
        return dict(src)
    if fmt == "parquet":
        return _check_parquet(src, table)
    if fmt in ("npz", "npy", "hdf5"):
        return _check_layout(src, table, fmt)
    if fmt == "root":
        return check_root_source(src)
    return dict(src)
