"""HDF5 files through h5py.

Every dataset whose first dimension is the row count (the longest numeric dataset) is a
column named by its path, or columns ``<path>_0 ...`` when it has more dimensions. Other
small datasets, the groups, the attributes and the datasets' storage options are kept in
``source`` so that writing back gives the same layout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bale.errors import BaleInputError
from bale.io._common import (
    assemble,
    check_numeric,
    decode_array,
    encode_array,
    flat_names,
    is_numeric,
    keep_extra,
    row_count,
    same_format,
    select_columns,
    split_array,
)
from bale.table import Table

log = logging.getLogger(__name__)

_STORAGE = ("compression", "compression_opts", "shuffle", "fletcher32", "chunks", "scaleoffset")


def _attrs(obj: h5py.HLObject, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in obj.attrs:
        value = obj.attrs[key]
        if isinstance(value, str):
            out[key] = {"str": value}
            continue
        arr = np.asarray(value)
        if arr.dtype.hasobject and arr.ndim == 1 and all(isinstance(v, str) for v in arr):
            out[key] = {"strs": arr.tolist()}
        elif arr.dtype.hasobject:
            log.warning("attribute %r of %r cannot be kept", key, where)
        else:
            out[key] = {"array": encode_array(arr), "scalar": np.ndim(value) == 0}
    return out


def _storage(ds: h5py.Dataset) -> dict[str, Any]:
    opts = {k: getattr(ds, k) for k in _STORAGE}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items() if v not in (None, False)}


def _storage_kwargs(opts: dict[str, Any] | None, shape: tuple[int, ...]) -> dict[str, Any]:
    if not opts or 0 in shape or not shape:
        return {}
    kwargs = dict(opts)
    if "chunks" in kwargs:
        kwargs["chunks"] = tuple(max(1, min(c, s)) for c, s in zip(kwargs["chunks"], shape, strict=True))
    return kwargs


def _walk(group: h5py.Group, prefix: str = "") -> Iterator[tuple[str, h5py.HLObject]]:
    """Objects below ``group`` in its own order (creation order when tracked), parents first."""
    for key in group:
        name = prefix + key
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            log.warning("link %r is not a hard link and will not be kept", name)
            continue
        obj = group[key]
        yield name, obj
        if isinstance(obj, h5py.Group):
            yield from _walk(obj, name + "/")


def read(path: Path, columns: list[str] | None) -> Table:
    """Read the columns of an HDF5 file."""
    with h5py.File(path, "r") as f:
        datasets: list[tuple[str, h5py.Dataset]] = []
        groups: list[str] = []
        order: list[str] = []
        attrs = {"/": _attrs(f, "/")} if f.attrs else {}
        for name, obj in _walk(f):
            order.append(name)
            if isinstance(obj, h5py.Dataset):
                datasets.append((name, obj))
            elif isinstance(obj, h5py.Group):
                groups.append(name)
            if obj.attrs:
                attrs[name] = _attrs(obj, name)
        nrows = row_count([d.shape for _, d in datasets if d.shape is not None and is_numeric(d.dtype)])
        members: list[dict[str, Any]] = []
        owner: dict[str, str] = {}  # column -> dataset
        found: dict[str, tuple[h5py.Dataset, dict[str, Any]]] = {}
        for name, ds in datasets:
            if ds.shape is None:
                log.warning("dataset %r has no data and will not be kept", name)
                continue
            if ds.ndim >= 1 and ds.shape[0] == nrows and int(np.prod(ds.shape[1:])) > 0:
                colnames = flat_names(name, np.empty((0, *ds.shape[1:]), dtype=np.uint8))
                entry = {
                    "name": name,
                    "dtype": ds.dtype.str,
                    "shape": list(ds.shape[1:]),
                    "columns": colnames,
                    "storage": _storage(ds),
                }
                for c in colnames:
                    if c in owner:
                        raise BaleInputError(f"column name {c!r} occurs twice in {path}")
                    owner[c] = name
                found[name] = (ds, entry)
                members.append(entry)
                continue
            extra = keep_extra(name, np.asarray(ds[()]), "dataset")
            if extra is not None:
                members.append({**extra, "storage": _storage(ds)})
        wanted = select_columns(list(owner), columns)
        out: dict[str, np.ndarray] = {}
        for name in dict.fromkeys(owner[c] for c in wanted):
            ds, entry = found[name]
            check_numeric(name, str(ds.dtype), is_numeric(ds.dtype))
            out.update(split_array(name, ds[()], entry["columns"])[1])
    log.debug("read %d columns x %d rows from %s", len(wanted), nrows, path)
    source = {"format": "hdf5", "members": members, "groups": groups, "order": order, "attrs": attrs}
    return Table({c: out[c] for c in wanted}, source)


def _check_paths(arrays: dict[str, Any], groups: set[str]) -> None:
    """Refuse, before writing, a dataset that would also have to be a group (``a`` and ``a/b``)."""
    parents = {"/".join(name.split("/")[:i]) for name in [*arrays, *groups] for i in range(1, name.count("/") + 1)}
    for name in arrays:
        if name in parents:
            inner = next((n for n in [*arrays, *groups] if n.startswith(name + "/")), name + "/…")
            raise BaleInputError(
                f"column name {name!r}: HDF5 cannot hold both {name!r} and {inner!r} ({name!r} would be a group)"
            )


def write(table: Table, path: Path) -> None:
    """Write the table as HDF5, rebuilding the source's datasets, groups and attributes when it was HDF5."""
    src = table.source if same_format(table, "hdf5") else {}
    members = src.get("members", [])
    storage = {m["name"]: m.get("storage") for m in members}
    arrays = dict(assemble(table, members))
    groups = set(src.get("groups", []))
    _check_paths(arrays, groups)
    with h5py.File(path, "w", track_order=True) as f:
        for name in [*src.get("order", []), *arrays]:
            if name in f:
                continue
            parent = f
            for part in name.split("/")[:-1]:
                parent = parent[part] if part in parent else parent.create_group(part, track_order=True)
            if name in groups:
                parent.create_group(name.rsplit("/", 1)[-1], track_order=True)
            elif name in arrays:
                arr = arrays[name]
                parent.create_dataset(
                    name.rsplit("/", 1)[-1], data=arr, **_storage_kwargs(storage.get(name), arr.shape)
                )
        for where, attrs in src.get("attrs", {}).items():
            if where != "/" and where not in f:
                continue
            obj = f if where == "/" else f[where]
            for key, value in attrs.items():
                if "str" in value or "strs" in value:
                    obj.attrs[key] = value.get("str", value.get("strs"))
                else:
                    arr = decode_array(value["array"])
                    obj.attrs[key] = arr[()] if value["scalar"] else arr
