"""Reading and writing tables: Parquet, NumPy ``.npz``/``.npy``, HDF5, CSV and ROOT.

The format follows the file extension. A :class:`~bale.table.Table` read from a file
carries in ``source`` what its writer needs to give back the same structure; writing
to another format writes the columns flatly.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bale.errors import BaleError, BaleInputError
from bale.fsutil import atomic_target
from bale.io.source_check import check_source
from bale.table import Table

__all__ = ["FORMATS", "detect_format", "read_table", "write_table"]

log = logging.getLogger(__name__)

#: Format name -> file extensions, the first being the usual one.
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq"),
    "npz": (".npz",),
    "npy": (".npy",),
    "hdf5": (".h5", ".hdf5"),
    "csv": (".csv",),
    "root": (".root",),
}


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """``bale.io.<module>.<name>``, imported when first called: a format's library (pyarrow, h5py,
    uproot) is imported only when a file of that format is read or written."""

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(f"bale.io.{module}"), name)(*args)

    return call


_READERS: dict[str, Callable[..., Table]] = {
    "parquet": _lazy("parquet", "read"),
    "npz": _lazy("numpy_format", "read_npz"),
    "npy": _lazy("numpy_format", "read_npy"),
    "hdf5": _lazy("hdf5", "read"),
    "csv": _lazy("csv", "read"),
    "root": _lazy("root", "read"),
}
_WRITERS: dict[str, Callable[[Table, Path], None]] = {
    "parquet": _lazy("parquet", "write"),
    "npz": _lazy("numpy_format", "write_npz"),
    "npy": _lazy("numpy_format", "write_npy"),
    "hdf5": _lazy("hdf5", "write"),
    "csv": _lazy("csv", "write"),
    "root": _lazy("root", "write"),
}


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format name for ``path``'s extension."""
    suffix = Path(path).suffix.lower()
    for name, exts in FORMATS.items():
        if suffix in exts:
            return name
    supported = ", ".join(ext for exts in FORMATS.values() for ext in exts)
    raise BaleInputError(f"unknown file extension {suffix or '(none)'!r} for {path}; supported: {supported}")


def read_table(path: str | os.PathLike[str], *, columns: list[str] | None = None, tree: str | None = None) -> Table:
    """Read the numeric columns of ``path`` (all, or ``columns`` in that order)."""
    path = Path(path)
    if not path.exists():
        raise BaleInputError(f"no such file: {path}")
    if not path.is_file():
        raise BaleInputError(f"not a file: {path}")
    fmt = detect_format(path)
    if tree is not None and fmt != "root":
        raise BaleInputError(f"tree= applies to ROOT files only, not {fmt}")
    if columns is not None and isinstance(columns, str):
        columns = [columns]
    try:
        table = _READERS[fmt](path, columns, tree) if fmt == "root" else _READERS[fmt](path, columns)
    except BaleError:
        raise
    except Exception as exc:  # the libraries' own errors for unreadable or corrupt files
        raise BaleInputError(f"cannot read {path} as {fmt}: {exc}") from exc
    log.info("read %s: %d columns x %d rows (%s)", path, len(table.columns), len(table), fmt)
    return table


def write_table(table: Table, path: str | os.PathLike[str], *, format: str | None = None) -> None:
    """Write ``table`` to ``path`` atomically, in ``format`` or the one its extension names."""
    path = Path(path)
    if format is None:
        fmt = detect_format(path)
    elif format in FORMATS:
        fmt = format
    else:
        raise BaleInputError(f"unknown format {format!r}; supported: {', '.join(FORMATS)}")
    source = check_source(table, fmt)  # a forged record in a .bale header never reaches a writer
    if source != table.source:
        table = Table(table.columns, source)
    try:
        with atomic_target(path) as tmp:
            _WRITERS[fmt](table, tmp)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:  # the libraries' own errors: one line
        if isinstance(exc, BaleError):
            raise
        message = " ".join(str(exc).split())[:300]
        raise BaleInputError(f"cannot write {path} as {fmt}: {type(exc).__name__}: {message}") from exc
    log.info("wrote %s: %d columns x %d rows (%s)", path, len(table.columns), len(table), fmt)
