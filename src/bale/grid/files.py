"""Reading and writing grids: NumPy ``.npz``/``.npy``, HDF5 datasets and zarr arrays.

In grid mode every float32/float64 array with at least one value is a grid, whatever
its shape (``(frames, H, W)``, ``(D, H, W)``, 2-D, 1-D, or more axes, leading ones merged
into frames). Other members (integers, strings, empty arrays) are kept verbatim in the
header when they are small (up to 64 kB), so an ``.npz`` comes back with all its members.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bale.errors import BaleFormatError, BaleInputError
from bale.fsutil import atomic_target, finish_output

__all__ = ["GRID_FORMATS", "grid_format", "read_grids", "write_grids"]

log = logging.getLogger(__name__)

GRID_FORMATS = {".npz": "npz", ".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5", ".zarr": "zarr"}
_MAX_EXTRA = 64 * 1024


def grid_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in GRID_FORMATS:
        raise BaleInputError(
            f"grid mode reads and writes {', '.join(GRID_FORMATS)} files, not {suffix or '(no extension)'!r}"
        )
    return GRID_FORMATS[suffix]


def _is_grid(a: np.ndarray) -> bool:
    return a.dtype.kind == "f" and a.dtype.itemsize in (4, 8) and a.size > 0


def _pack_extra(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def _unpack_extra(record: dict[str, Any]) -> np.ndarray:
    try:
        dtype = np.dtype(record["dtype"])
        if dtype.kind not in "biufcUS" or dtype.fields is not None or dtype.shape != () or dtype.itemsize > 1024:
            raise ValueError(f"dtype {dtype}")
        data = base64.b64decode(record["data"])
        return np.frombuffer(data, dtype=dtype).reshape(record["shape"]).copy()
    except (KeyError, TypeError, ValueError, SyntaxError, AttributeError) as exc:
        raise BaleFormatError(f"bad verbatim member in the header: {exc}") from None


def read_grids(
    path: str | os.PathLike[str], names: list[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The grids of ``path`` (all, or ``names``) and a ``source`` record to write the file back."""
    path = Path(path)
    if not path.exists():
        raise BaleInputError(f"no such file: {path}")
    fmt = grid_format(path)
    try:
        arrays = _read(path, fmt)
    except BaleInputError:
        raise
    except Exception as exc:  # the libraries' own errors for unreadable files
        raise BaleInputError(f"cannot read {path} as {fmt}: {exc}") from exc
    if names is not None:
        missing = sorted(set(names) - set(arrays))
        if missing:
            raise BaleInputError(f"no array(s) {missing} in {path}; it holds {sorted(arrays)}")
        grids = {n: arrays[n] for n in names}
    else:
        grids = {n: a for n, a in arrays.items() if _is_grid(a)}
    for name, a in grids.items():
        if not _is_grid(a):
            raise BaleInputError(f"array {name!r} is {a.dtype} of shape {a.shape}: grids are float32 or float64")
    if not grids:
        raise BaleInputError(f"{path} holds no float32 or float64 array with values to code as a grid")
    extra = {}
    for n, a in arrays.items():
        if n in grids or names is not None:
            continue
        if a.nbytes > _MAX_EXTRA or a.dtype.kind not in "biufcUS":
            log.warning(
                "dropping member %r of %s (%s %s): not a grid, too large to keep verbatim", n, path, a.dtype, a.shape
            )
            continue
        extra[n] = _pack_extra(a)
    order = [n for n in arrays if n in grids or n in extra]
    log.info("read %s: grids %s", path, {n: list(a.shape) for n, a in grids.items()})
    return {n: np.ascontiguousarray(a) for n, a in grids.items()}, {"format": fmt, "extra": extra, "order": order}


def _read(path: Path, fmt: str) -> dict[str, np.ndarray]:
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if fmt == "npy":
        return {path.stem: np.load(path, allow_pickle=False)}
    if fmt == "hdf5":
        import h5py

        out: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as f:

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf":
                    out[name] = obj[()]

            f.visititems(visit)
        return out
    import zarr

    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        return {path.stem: np.asarray(node[...])}
    return {name: np.asarray(arr[...]) for name, arr in node.arrays()}


def write_grids(
    grids: dict[str, np.ndarray], path: str | os.PathLike[str], source: dict[str, Any] | None = None
) -> None:
    """Write ``grids`` (and the verbatim members in ``source``) to ``path``, in the format of its extension."""
    path = Path(path)
    fmt = grid_format(path)
    source = source or {}
    order, records = source.get("order", []), source.get("extra") or {}
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order) or not isinstance(records, dict):
        raise BaleFormatError("bad source record in the header: grid order or verbatim members")
    extra = {n: _unpack_extra(t) for n, t in records.items()} if fmt != "npy" else {}
    arrays = {**grids, **extra}
    order = [n for n in order if n in arrays] + [n for n in arrays if n not in order]
    arrays = {n: arrays[n] for n in order}
    if fmt == "npy":
        if len(grids) != 1:
            raise BaleInputError(f"{path}: a .npy file holds one array; this file has {len(grids)}: write .npz")
        with atomic_target(path) as tmp, open(tmp, "wb") as f:
            np.save(f, next(iter(grids.values())), allow_pickle=False)
        return
    if fmt == "npz":
        with atomic_target(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        return
    if fmt == "hdf5":
        import h5py

        with atomic_target(path) as tmp, h5py.File(tmp, "w") as f:
            for name, a in arrays.items():
                f.create_dataset(name, data=a)
        return
    import zarr

    if path.exists():
        raise BaleInputError(f"{path} exists; zarr stores are not overwritten")
    # a store is a directory: written beside the target, renamed into place when complete
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if len(arrays) == 1 and source.get("format") == "zarr" and not extra:
            name, a = next(iter(arrays.items()))
            z = zarr.create_array(str(tmp), shape=a.shape, dtype=a.dtype)
            z[...] = a
        else:
            group = zarr.open_group(str(tmp), mode="w")
            for name, a in arrays.items():
                z = group.create_array(name, shape=a.shape, dtype=a.dtype)
                z[...] = a
        finish_output(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
