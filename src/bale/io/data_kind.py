"""What kind of data an input holds: a *table* of columns or *fields* (N-D grids, docs/grids.md).

A user should not need a flag to say what their data is. The rule, in one line: **an input
whose values are float arrays of three or more dimensions, with no column names, holds
fields**; everything else (Parquet, CSV, ROOT, structured arrays, 1-D columns, a 2-D
``rows x columns`` matrix) is a table. A 2-D image is ambiguous with a matrix of columns, so
it stays a table unless ``--grid`` (``kind="field"``) says otherwise; ``--table``
(``kind="table"``) overrides the other way.

Only headers are read: NumPy's array headers inside ``.npy``/``.npz``, HDF5 and zarr
metadata, never the values.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bale.errors import BaleInputError

DataKind = Literal["table", "field"]
DATA_KINDS: tuple[DataKind, ...] = ("table", "field")
FIELD_MIN_DIMS = 3
_SMALL = 64 * 1024  # bytes of a non-field array a field file may carry verbatim (grid.files keeps them)


def check_kind(kind: str | None) -> DataKind | None:
    if kind is None or kind in DATA_KINDS:
        return kind
    raise BaleInputError(f"unknown kind of data {kind!r}: choose {' or '.join(DATA_KINDS)}")


def detect_kind(data: object) -> DataKind:
    """``"field"`` when ``data`` (a path, an array or a mapping of arrays) holds fields, else ``"table"``."""
    if isinstance(data, np.ndarray):
        return _kind([(data.dtype, data.shape)])
    if isinstance(data, Mapping):
        arrays = list(data.values())
        if arrays and all(isinstance(a, np.ndarray) for a in arrays):
            return _kind([(a.dtype, a.shape) for a in arrays])
        return "table"
    if isinstance(data, (str, Path)):
        try:
            return _kind(_headers(Path(data)))
        except BaleInputError:
            raise
        except Exception:  # an unreadable file is the reader's to report, with its own message
            return "table"
    return "table"


def _kind(headers: Iterable[tuple[np.dtype[Any], tuple[int, ...]]]) -> DataKind:
    fields = 0
    for dtype, shape in headers:
        size = int(np.prod(shape, dtype=object))
        if dtype.kind == "f" and dtype.fields is None and len(shape) >= FIELD_MIN_DIMS and size > 0:
            fields += 1
        elif size > 0 and (dtype.kind == "f" or dtype.fields is not None or size * dtype.itemsize > _SMALL):
            return "table"  # columns of values beside the arrays: not a file of fields
    return "field" if fields else "table"


def _headers(path: Path) -> list[tuple[np.dtype[Any], tuple[int, ...]]]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        return [(a.dtype, a.shape)]
    if suffix == ".npz":
        out = []
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".npy"):
                    with z.open(name) as f:
                        version = np.lib.format.read_magic(f)
                        read = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _, dtype = read(f)  # the header only, never the values
                        out.append((np.dtype(dtype), tuple(shape)))
        return out
    if suffix in (".h5", ".hdf5"):
        import h5py

        found: list[tuple[np.dtype[Any], tuple[int, ...]]] = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda _, obj: found.append((obj.dtype, obj.shape)) if isinstance(obj, h5py.Dataset) else None)
        return found
    if suffix == ".zarr":
        import zarr

        node = zarr.open(str(path), mode="r")
        if isinstance(node, zarr.Array):
            return [(node.dtype, node.shape)]
        return [(a.dtype, a.shape) for _, a in node.arrays()]
    return []
