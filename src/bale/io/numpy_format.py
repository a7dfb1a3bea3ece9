"""NumPy ``.npz`` (one array per member) and ``.npy`` (one array) files.

``.npz``: a member whose first dimension is the row count is a column (1-D) or several
columns ``<member>_0 ...`` (trailing dimensions flattened); a 1-D string member ``names``
of the right length names the columns of the one multi-column member. Other members
are kept verbatim in ``source``. ``.npy``: a 1-D or N-D array gives ``col0 ...``; a
structured array gives one column per field.
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bale.errors import BaleInputError
from bale.io._common import (
    assemble,
    check_numeric,
    flat_names,
    is_numeric,
    keep_extra,
    native,
    row_count,
    same_format,
    select_columns,
    split_array,
)
from bale.table import Table

log = logging.getLogger(__name__)


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], bool]:
    with zipfile.ZipFile(path) as zf:
        compressed = any(i.compress_type != zipfile.ZIP_STORED for i in zf.infolist())
    with np.load(path, allow_pickle=False) as z:
        arrays: dict[str, np.ndarray] = {}
        for key in z.files:
            try:
                arrays[key] = z[key]
            except ValueError as exc:
                raise BaleInputError(f"member {key!r} of {path} holds Python objects; not supported") from exc
    return arrays, compressed


def read_npz(path: Path, columns: list[str] | None) -> Table:
    """Read a ``.npz`` file."""
    arrays, compressed = _load_npz(path)
    nrows = row_count([a.shape for a in arrays.values() if is_numeric(a.dtype)])
    is_col = {k: a.ndim >= 1 and a.shape[0] == nrows and int(np.prod(a.shape[1:])) > 0 for k, a in arrays.items()}
    names_arr = arrays.get("names")
    if names_arr is not None and names_arr.dtype.kind in "US":
        is_col["names"] = False
    wide = [k for k, a in arrays.items() if is_col[k] and a.ndim > 1]
    labels = names_arr.tolist() if names_arr is not None and names_arr.dtype.kind in "US" else []
    labels = [n.decode() if isinstance(n, bytes) else str(n) for n in np.ravel(labels)]
    use_names = (
        len(wide) == 1
        and names_arr is not None
        and names_arr.ndim == 1
        and len(labels) == int(np.prod(arrays[wide[0]].shape[1:]))
        and len(set(labels)) == len(labels)
        and all(labels)
    )
    members: list[dict[str, Any]] = []
    owner: dict[str, str] = {}  # column -> member
    for key, arr in arrays.items():
        if not is_col[key]:
            extra = keep_extra(key, arr, "npz member")
            if extra is not None:
                members.append(extra)
            continue
        names = labels if use_names and key == wide[0] else flat_names(key, arr)
        for n in names:
            if n in owner:
                raise BaleInputError(f"column name {n!r} occurs twice in {path}")
            owner[n] = key
        members.append({"name": key, "dtype": arr.dtype.str, "shape": list(arr.shape[1:]), "columns": names})
    wanted = select_columns(list(owner), columns)
    out: dict[str, np.ndarray] = {}
    by_name = {m["name"]: m for m in members if "columns" in m}
    for key in dict.fromkeys(owner[c] for c in wanted):
        check_numeric(key, str(arrays[key].dtype), is_numeric(arrays[key].dtype))
        out.update(split_array(key, arrays[key], by_name[key]["columns"])[1])
    log.debug("read %d columns x %d rows from %s", len(wanted), nrows, path)
    source = {"format": "npz", "compressed": compressed, "members": members}
    return Table({c: out[c] for c in wanted}, source)


def write_npz(table: Table, path: Path) -> None:
    """Write a ``.npz`` file, rebuilding the source's members when it was one.

    Members are written as ``np.savez`` does, one ``NAME.npy`` entry each, but not through its
    keyword arguments: a column named ``file`` or ``allow_pickle`` is a member like any other.
    Two names NumPy would read as one (``x`` and ``x.npy``) are refused.
    """
    src = table.source if same_format(table, "npz") else {}
    arrays = dict(assemble(table, src.get("members", [])))
    for name in arrays:
        if name.endswith(".npy") and name[:-4] in arrays:
            raise BaleInputError(f"column name {name!r}: a .npz file cannot hold both {name[:-4]!r} and {name!r}")
    compression = zipfile.ZIP_DEFLATED if src.get("compressed") else zipfile.ZIP_STORED
    with open(path, "wb") as fh, zipfile.ZipFile(fh, "w", compression=compression, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                _write_array(member, np.asanyarray(arr))


def _write_array(fh: Any, arr: np.ndarray) -> None:
    """``np.save`` of one array, without pickles; names and fields of any Unicode (format 3.0 when needed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stored array in format 3.0", UserWarning)
        np.lib.format.write_array(fh, arr, allow_pickle=False)


def read_npy(path: Path, columns: list[str] | None) -> Table:
    """Read a ``.npy`` file."""
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise BaleInputError(f"{path} holds Python objects or is not a .npy file: {exc}") from exc
    if arr.ndim == 0:
        raise BaleInputError(f"{path} holds a scalar, not an array")
    if arr.dtype.names is not None:
        if arr.ndim != 1:
            raise BaleInputError(f"{path}: structured arrays must be 1-D, got shape {arr.shape}")
        fields = list(arr.dtype.names)
        wanted = select_columns(fields, columns)
        for f in wanted:
            check_numeric(f, str(arr.dtype[f]), is_numeric(arr.dtype[f]))
        source = {"format": "npy", "structured": np.lib.format.dtype_to_descr(arr.dtype), "columns": fields}
        return Table({f: native(arr[f]) for f in wanted}, source)
    names = flat_names("col", arr, sep="") if arr.ndim > 1 else ["col0"]
    wanted = select_columns(names, columns)
    check_numeric(names[0], str(arr.dtype), is_numeric(arr.dtype))
    entry, cols = split_array("", arr, names)
    return Table({c: cols[c] for c in wanted}, {"format": "npy", "members": [entry]})


def _npy_array(table: Table) -> np.ndarray:
    src = table.source if same_format(table, "npy") else {}
    if "structured" in src and src["columns"] == table.names:
        descr = src["structured"]
        dtype = np.lib.format.descr_to_dtype([tuple(f) for f in descr] if isinstance(descr, list) else descr)
        out = np.empty(len(table), dtype=dtype)
        for c in table.names:
            out[c] = table[c]
        return out
    members = src.get("members", [])
    if len(members) == 1 and members[0]["columns"] == table.names:
        return assemble(table, members)[0][1]
    dtypes = {v.dtype for v in table.columns.values()}
    if len(dtypes) == 1 and table.names == [f"col{i}" for i in range(len(table.names))]:
        stacked = np.stack(list(table.columns.values()), axis=1)
        return stacked[:, 0] if stacked.shape[1] == 1 else stacked
    out = np.empty(len(table), dtype=[(c, v.dtype) for c, v in table.columns.items()])
    for c in table.names:
        out[c] = table[c]
    return out


def write_npy(table: Table, path: Path) -> None:
    """Write a ``.npy`` file: the source's array, a 2-D array of ``col0 ...``, or a structured array."""
    if not table.columns:
        raise BaleInputError("cannot write a table without columns to .npy")
    arr = _npy_array(table)
    with open(path, "wb") as fh:
        _write_array(fh, arr)
