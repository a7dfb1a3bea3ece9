"""Helpers shared by the format modules: column checks, atomic writes and array layouts.

A *layout* is the list of arrays (``.npz`` members, HDF5 datasets, the ``.npy`` array)
that a file held, each as a JSON-serialisable dict kept in ``Table.source["members"]``:

* ``{"name", "dtype", "shape", "columns"}`` for an array split into columns; ``shape`` is
  the trailing shape (``[]`` for a 1-D array) and ``columns`` the column names in order;
* ``{"name", "extra"}`` for an array that is not a column (a scalar, a short array of
  another length), kept verbatim by :func:`encode_array`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from bale.errors import BaleInputError
from bale.table import Table, check_unique

log = logging.getLogger(__name__)

#: Arrays that are not columns are kept in ``source`` up to this many bytes each.
MAX_EXTRA_BYTES = 1 << 20


def check_numeric(name: str, type_name: str, ok: bool) -> None:
    """Raise the standard error for a column bale cannot compress."""
    if not ok:
        raise BaleInputError(f"column {name!r} has type {type_name}; bale compresses numeric columns only")


def is_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biuf" and dtype.fields is None and dtype.shape == ()


def select_columns(available: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The requested columns in order (all when ``None``); unknown and repeated names raise."""
    check_unique(available)
    if requested is None:
        return list(available)
    known = set(available)
    for name in requested:
        if name not in known:
            shown = ", ".join(available[:20]) + (f", ... ({len(available)} in all)" if len(available) > 20 else "")
            raise BaleInputError(f"unknown column {name!r}; available columns: {shown}")
    return list(dict.fromkeys(requested))


def row_count(shapes: Sequence[tuple[int, ...]]) -> int:
    """The row count of a file's arrays: the first dimension that holds the most elements."""
    total: dict[int, int] = {}
    for shape in shapes:
        if len(shape) >= 1:
            total[shape[0]] = total.get(shape[0], 0) + int(np.prod(shape))
    return max(total, key=lambda n: (total[n], n), default=0)


def native(arr: np.ndarray) -> np.ndarray:
    """A contiguous copy-if-needed of ``arr`` in native byte order."""
    if arr.dtype.byteorder not in "=|":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def encode_array(arr: np.ndarray) -> dict[str, Any]:
    """A JSON-serialisable, bit-exact encoding of a small non-object array."""
    arr = np.asarray(arr)
    return {
        "descr": np.lib.format.dtype_to_descr(arr.dtype),
        "shape": list(arr.shape),
        "data": base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii"),
    }


def decode_array(enc: dict[str, Any]) -> np.ndarray:
    descr = enc["descr"]
    if isinstance(descr, list):
        descr = [tuple(f) for f in descr]
    dtype = np.lib.format.descr_to_dtype(descr)
    raw = base64.b64decode(enc["data"])
    return np.frombuffer(raw, dtype=dtype).reshape(enc["shape"]).copy()


def split_array(name: str, arr: np.ndarray, colnames: list[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split ``arr`` (rows first) into columns ``colnames``; return its layout entry and the columns."""
    entry = {"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape[1:]), "columns": colnames}
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    return entry, {c: native(flat[:, i]) for i, c in enumerate(colnames)}


def flat_names(prefix: str, arr: np.ndarray, sep: str = "_") -> list[str]:
    """``[prefix]`` for a 1-D array, else ``prefix{sep}0 ...`` over the flattened trailing dims."""
    if arr.ndim == 1:
        return [prefix]
    return [f"{prefix}{sep}{i}" for i in range(int(np.prod(arr.shape[1:])))]


def keep_extra(name: str, arr: np.ndarray, what: str) -> dict[str, Any] | None:
    """Layout entry for a non-column array, or ``None`` (with a warning) when it cannot be kept."""
    if arr.dtype.hasobject or arr.nbytes > MAX_EXTRA_BYTES:
        log.warning(
            "%s %r (shape %s, dtype %s) is not a column and will not be kept",
            what,
            name,
            arr.shape,
            arr.dtype,
        )
        return None
    return {"name": name, "extra": encode_array(arr)}


def assemble(table: Table, members: list[dict[str, Any]]) -> list[tuple[str, np.ndarray]]:
    """Rebuild the arrays of ``members`` from ``table``; columns outside them follow as 1-D arrays.

    An array is rebuilt only when all of its columns are in the table.
    """
    out: list[tuple[str, np.ndarray]] = []
    used: set[str] = set()
    for m in members:
        if "extra" in m:
            out.append((m["name"], decode_array(m["extra"])))
            continue
        cols = m["columns"]
        if not cols or not all(c in table.columns for c in cols):
            continue
        dtype = np.dtype(m["dtype"])
        if m["shape"]:
            arr = np.stack([table[c] for c in cols], axis=1).reshape(len(table), *m["shape"])
        else:
            arr = table[cols[0]]
        out.append((m["name"], arr.astype(dtype, copy=False)))
        used.update(cols)
    taken = {name for name, _ in out}
    for c in table.names:
        if c not in used:
            if c in taken:
                raise BaleInputError(f"column {c!r} clashes with an array of the same name in the source layout")
            out.append((c, table[c]))
    return out


def same_format(table: Table, fmt: str) -> bool:
    return table.source.get("format") == fmt
