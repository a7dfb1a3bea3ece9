"""The in-memory tables that flow between readers, the codec and writers.

A :class:`Table` is an ordered mapping of column name to a one-dimensional NumPy
array, all of the same length, plus ``source`` metadata that a writer needs to
give back the input's structure (for example the ROOT tree name, the HDF5
dataset paths, or the shape of a 2-D ``.npy`` array).

A :class:`Dataset` is what a file of events with jagged collections becomes: a main
table with one row per event and, per collection (``Jet``, ``Muon``, …), a table of
objects, the objects of each event consecutive, counted by an integer column of the
main table (``nJet``). A plain table is a dataset with a main table only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.errors import BaleInputError

__all__ = ["MAIN", "Dataset", "Forest", "Table", "check_column_names", "check_unique", "name_problem"]

MAIN = ""  # the name of a dataset's main table (one row per event)


def name_problem(name: Any) -> str | None:
    """Why bale does not accept ``name`` as a column name (``None``: it does); see docs/reliability.md.

    Accepted: any non-empty string of Unicode text (combining marks and all) without control
    characters (NUL, tab, newline, DEL, C1), without leading or trailing whitespace, not
    starting with ``@`` (bale's own sections), and whose ``/``-separated parts (HDF5 groups)
    are each non-empty and neither ``.`` nor ``..``. Every writer holds each accepted name
    exactly, or refuses it before writing (CSV: ``,``, ``"``).
    """
    if not isinstance(name, str) or not name:
        return "column names must be non-empty strings"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode text"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "it holds a control character (NUL, tab, newline …)"
    if name != name.strip():
        return "it starts or ends with whitespace"
    if name.startswith("@"):
        return "names starting with '@' are reserved by bale"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "'/' separates groups (HDF5): no part of the name may be empty, '.' or '..'"
    return None


def check_column_names(names: Iterable[Any]) -> None:
    """Refuse, in one line, a column name that some writer could not hold exactly (:func:`name_problem`)."""
    for name in names:
        problem = name_problem(name)
        if problem is not None:
            raise BaleInputError(f"column name {name!r} is not accepted: {problem}; rename the column")


def check_unique(names: Iterable[Any]) -> None:
    """Refuse column names that repeat (as strings): one of them would be lost."""
    seen: dict[str, int] = {}
    for name in names:
        seen[str(name)] = seen.get(str(name), 0) + 1
    repeated = sorted(n for n, count in seen.items() if count > 1)
    if repeated:
        raise BaleInputError(f"duplicate column name(s) {repeated}: every column needs a name of its own")


@dataclass
class Table:
    """Columns of equal length, in order, and the metadata to write them back."""

    columns: dict[str, np.ndarray]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = set()
        for name, values in self.columns.items():
            if not isinstance(name, str) or not name:
                raise BaleInputError(f"column names must be non-empty strings, got {name!r}")
            if name.startswith("@"):
                raise BaleInputError(f"column name {name!r}: names starting with '@' are reserved by bale")
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise BaleInputError(f"column {name!r} is not one-dimensional (shape {arr.shape})")
            if arr.dtype.kind not in "biuf":
                raise BaleInputError(
                    f"column {name!r} has dtype {arr.dtype}, bale compresses numeric and bool columns only"
                )
            self.columns[name] = arr
            lengths.add(len(arr))
        if len(lengths) > 1:
            raise BaleInputError(f"columns have different lengths: {sorted(lengths)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: dict[str, Any] | None = None) -> Table:
        check_unique(data)
        return cls({str(k): np.asarray(v) for k, v in data.items()}, dict(source or {}))

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def nbytes(self) -> int:
        """Raw size in bytes: what the ratio is measured against."""
        return int(sum(v.nbytes for v in self.columns.values()))

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def slice(self, start: int, stop: int) -> Table:
        return Table({k: v[start:stop] for k, v in self.columns.items()}, dict(self.source))


@dataclass
class Dataset:
    """A main table and collections of objects, each counted per event by a column of the main table."""

    tables: dict[str, Table]  # MAIN first, then the collections
    counters: dict[str, str] = field(default_factory=dict)  # collection -> counter column of the main table
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if MAIN not in self.tables:
            raise BaleInputError("a dataset needs a main table")
        self.tables = {MAIN: self.tables[MAIN], **{k: v for k, v in self.tables.items() if k != MAIN}}
        main = self.tables[MAIN]
        if set(self.counters) != set(self.tables) - {MAIN}:
            raise BaleInputError("every collection of a dataset needs a counter, and only collections have one")
        seen: dict[str, str] = {}
        for table_name, table in self.tables.items():
            for column in table.columns:
                if column in seen:
                    raise BaleInputError(f"column {column!r} is in both {seen[column]!r} and {table_name!r}")
                seen[column] = table_name
        for name, counter in self.counters.items():
            if counter not in main.columns:
                raise BaleInputError(f"collection {name!r}: no counter column {counter!r} in the main table")
            counts = main.columns[counter]
            if counts.dtype.kind not in "iu" or (len(counts) and int(counts.min()) < 0):
                raise BaleInputError(f"counter {counter!r} must hold non-negative integers")
            if int(counts.sum(dtype=np.int64)) != self.tables[name].num_rows:
                raise BaleInputError(
                    f"collection {name!r} has {self.tables[name].num_rows} rows, its counter {counter!r} "
                    f"adds up to {int(counts.sum(dtype=np.int64))}"
                )

    @classmethod
    def single(cls, table: Table) -> Dataset:
        return cls({MAIN: table}, {}, dict(table.source))

    @property
    def main(self) -> Table:
        return self.tables[MAIN]

    @property
    def num_events(self) -> int:
        return self.main.num_rows

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tables.values())

    def slice(self, start: int, stop: int) -> Dataset:
        """Events ``start`` to ``stop`` with their objects."""
        tables = {MAIN: self.main.slice(start, stop)}
        for name, counter in self.counters.items():
            counts = self.main.columns[counter]
            first = int(counts[:start].sum(dtype=np.int64))
            last = first + int(counts[start:stop].sum(dtype=np.int64))
            tables[name] = self.tables[name].slice(first, last)
        return Dataset(tables, dict(self.counters), dict(self.source))

    def steps(self, max_rows: int) -> Iterator[Dataset]:
        """Consecutive pieces of whole events, each with at most ``max_rows`` rows per table (or one event)."""
        n = self.num_events
        cumulative = [np.cumsum(self.main.columns[c], dtype=np.int64) for c in self.counters.values()]
        start = 0
        while start < n:
            stop = min(start + max_rows, n)
            for cum in cumulative:  # shrink until every collection fits
                before = int(cum[start - 1]) if start else 0
                fits = int(np.searchsorted(cum, before + max_rows, side="right"))
                stop = min(stop, max(fits, start + 1))
            yield self.slice(start, stop)
            start = stop

    @classmethod
    def concat(cls, pieces: Iterable[Dataset]) -> Dataset:
        pieces = list(pieces)
        if not pieces:
            raise BaleInputError("nothing to concatenate")
        first = pieces[0]
        tables = {
            name: Table(
                {c: np.concatenate([p.tables[name].columns[c] for p in pieces]) for c in table.columns},
                dict(table.source),
            )
            for name, table in first.tables.items()
        }
        return cls(tables, dict(first.counters), dict(first.source))


@dataclass
class Forest:
    """A whole ROOT file: its trees (each a :class:`Dataset`) by path, and the other objects kept."""

    trees: dict[str, Dataset]
    objects: dict[str, str] = field(default_factory=dict)  # path -> class, copied back into the file
    left_out: dict[str, str] = field(default_factory=dict)  # path -> why it was not kept

    @property
    def nbytes(self) -> int:
        return sum(d.nbytes for d in self.trees.values())


class Fields(dict[str, np.ndarray]):
    """N-D fields (grids, docs/grids.md) by name: what :func:`bale.decompress` gives for a file of fields.

    A plain mapping of name to array (NumPy's ``np.load`` of an ``.npz`` reads the same way).
    """

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.values())
