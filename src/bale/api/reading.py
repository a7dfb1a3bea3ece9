"""Reading ``.bale`` files in place, lazily, with uproot's vocabulary: :func:`open`.

>>> import bale
>>> events = bale.open("events.bale")                          # doctest: +SKIP
>>> events.keys(filter_name="Jet_*")                           # doctest: +SKIP
>>> jets = events.arrays(["Jet_pt", "Jet_eta"], entry_stop=1000)  # doctest: +SKIP
>>> events["Jet_pt"].array()                                   # doctest: +SKIP
<Array [[52.3, 31.9], ...] type='200 * var * float32'>

Only what is asked for is read and decoded: the header, index and model on opening, then
for each request only the chunks (steps) covering its entries and, within them, only the
sections of the requested columns and of the columns they are predicted from (their
dependency closure, :meth:`BaleTree.closure`). The source may be a path, bytes, a binary
file object or an fsspec URL (:class:`bale.container.BaleReader`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from bale.api.branches import BranchMap, Piece, branch_maps, build, cut, to_library, to_pandas, zip_collections
from bale.api.selection import Filter, entry_range, filtered
from bale.api.training import _open_model
from bale.chunks import DEFAULT_WORKERS, closure, decode_chunk, map_chunks
from bale.container import FIELDS_KIND, MEMBERS_KIND, TREE_MEMBER, BaleReader, Source
from bale.errors import BaleInputError
from bale.models import CompressionModel

__all__ = ["BaleBranch", "BaleFile", "BaleTree", "Closure", "Filter", "open"]


@dataclass(frozen=True)
class Closure:
    """What reading one key costs: the stored columns decoded for it and their compressed bytes."""

    name: str
    columns: tuple[str, ...]  # counters, the key's own columns and every column they are predicted from
    bytes: int  # their sections' bytes in the whole file (``@latent`` included when needed)
    total_bytes: int  # every section's bytes in the file

    @property
    def fraction(self) -> float:
        return self.bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class _Step:
    index: int
    first: int  # first event
    events: int
    chunks: dict[int, int]  # table -> chunk index (a table with no rows in the step has none)


def open(
    source: Source,
    *,
    tree: str | None = None,
    model: Any = None,
    workers: int = DEFAULT_WORKERS,
) -> BaleTree | BaleFile:
    """A lazy reader of a ``.bale`` file: a :class:`BaleTree` (a table or a tree's events), or a
    :class:`BaleFile` for a whole ROOT file of several trees (``f["Events"]``, or ``tree="Events"``).
    """
    reader = BaleReader(source)
    try:
        kind = reader.header.get("kind")
        if kind == FIELDS_KIND:
            raise BaleInputError(f"{reader.path} holds grids: read it with bale.decompress, not bale.open")
        if kind == MEMBERS_KIND:
            whole = BaleFile(reader, model, workers)
            return whole if tree is None else whole[tree]
        if tree is not None:
            tree_name = str((reader.header.get("source") or {}).get("tree", ""))
            if tree.split(";")[0] != tree_name:
                raise BaleInputError(f"{reader.path} holds one tree ({tree_name or 'a table'}), not {tree!r}")
        return BaleTree(reader, model, workers)
    except BaseException:
        reader.close()
        raise


class _Closable:
    _reader: BaleReader

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class BaleFile(_Closable):
    """A whole ROOT file's ``.bale``: its trees by path, each read in place as a :class:`BaleTree`."""

    def __init__(self, reader: BaleReader, model: Any = None, workers: int = DEFAULT_WORKERS) -> None:
        self._reader, self._model, self._workers = reader, model, workers
        self._trees = {t["name"]: i for i, t in enumerate(reader.tables) if t.get("kind") == TREE_MEMBER}

    def keys(self, filter_name: Filter = None) -> list[str]:
        """The trees' paths."""
        return filtered(list(self._trees), filter_name)

    def classnames(self) -> dict[str, str]:
        """Tree path -> its class in the original file, and the objects kept beside the trees."""
        source = self._reader.header.get("source") or {}
        objects = source.get("objects")
        if not isinstance(objects, dict):
            objects = {}
        trees = {}
        for name, table in self._trees.items():
            chunk = next(i for i, c in enumerate(self._reader.chunks) if c.table == table)
            with self._reader.member(chunk) as inner:  # its header only
                trees[name] = str((inner.header.get("source") or {}).get("classname", "TTree"))
        return {**trees, **{str(k): str(v) for k, v in objects.items()}}

    def __getitem__(self, name: str) -> BaleTree:
        key = name.split(";")[0]
        if key not in self._trees:
            raise KeyError(f"no tree {name!r} in {self._reader.path}; trees: {', '.join(self._trees)}")
        chunk = next(i for i, c in enumerate(self._reader.chunks) if c.table == self._trees[key])
        return BaleTree(self._reader.member(chunk), self._model, self._workers)

    def __contains__(self, name: str) -> bool:
        return name.split(";")[0] in self._trees

    def __repr__(self) -> str:
        return f"<BaleFile {self._reader.path} trees={list(self._trees)}>"


class BaleTree(_Closable):
    """A table or a tree's events in a ``.bale`` file, read lazily (uproot's ``TTree`` vocabulary)."""

    def __init__(self, reader: BaleReader, model: Any = None, workers: int = DEFAULT_WORKERS) -> None:
        self._reader = reader
        self._workers = workers
        self._coders: list[CompressionModel] = _open_model(reader, model)
        self._maps = branch_maps(reader.tables, reader.header.get("source") or {})
        self._steps = _steps(reader)
        self._cache: tuple[int, dict[int, dict[str, np.ndarray]]] | None = None  # the last step decoded

    @property
    def name(self) -> str:
        return str((self._reader.header.get("source") or {}).get("tree", ""))

    @property
    def num_entries(self) -> int:
        return self._reader.num_rows

    @property
    def bytes_read(self) -> int:
        """Bytes read from the source so far (header, index, model and sections)."""
        return self._reader.bytes_read

    def keys(self, filter_name: Filter = None) -> list[str]:
        """Branch names (a table's columns), those matching ``filter_name`` (globs or a predicate) when given."""
        return filtered(list(self._maps), filter_name)

    def typenames(self, filter_name: Filter = None) -> dict[str, str]:
        """Branch name -> its C++ type in the original file (``float``, ``float[]``, ``float[4]`` …)."""
        return {k: self._maps[k].typename for k in self.keys(filter_name)}

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    def __contains__(self, name: str) -> bool:
        return name in self._maps

    def __getitem__(self, name: str) -> BaleBranch:
        return BaleBranch(self, self._map(name))

    def __repr__(self) -> str:
        return f"<BaleTree {self.name or self._reader.path!s} entries={self.num_entries} keys={len(self._maps)}>"

    def _map(self, name: str) -> BranchMap:
        try:
            return self._maps[name]
        except KeyError:
            raise KeyError(f"no branch {name!r} in {self._reader.path}") from None

    def steps(self) -> list[tuple[int, int]]:
        """The steps the file was written in (a chunk of every table each): (first entry, entries)."""
        return [(s.first, s.events) for s in self._steps]

    def closure(self, name: str) -> Closure:
        """The stored columns reading ``name`` decodes (its counter and predictors' inputs too), and their bytes."""
        needs = self._map(name).needs()
        sections = {t: set(closure(self._coders[t], cols)) for t, cols in needs.items()}
        size = sum(length for c in self._reader.chunks for n, length, _ in c.sections if n in sections.get(c.table, ()))
        total = sum(c.length for c in self._reader.chunks)
        ordered = [n for t in sorted(sections) for n in closure(self._coders[t], needs[t])]
        columns = tuple(n for n in ordered if not n.startswith("@"))
        return Closure(name, columns, size, total)

    def arrays(
        self,
        expressions: str | Sequence[str] | None = None,
        filter_name: Filter = None,
        *,
        entry_start: int | None = None,
        entry_stop: int | None = None,
        library: str = "ak",
        how: str | None = None,
    ) -> Any:
        """The branches asked for, over ``entry_start``..``entry_stop``: an awkward array of records
        (``ak``), a dict of NumPy arrays (``np``) or a DataFrame (``pd``, flat and fixed-size branches).

        ``how="zip"`` (``ak`` only), as uproot's: the jagged branches of one collection become
        one field of records per object (``Jet_pt``, ``Jet_eta`` → ``Jet.pt``, ``Jet.eta``).
        """
        if library not in ("ak", "np", "pd"):
            raise BaleInputError(f"library must be 'ak', 'np' or 'pd', not {library!r}")
        if how not in (None, "zip") or (how == "zip" and library != "ak"):
            raise BaleInputError(f"how must be None or 'zip' (with library='ak'), not {how!r}")
        names = self._select(expressions, filter_name)
        start, stop = entry_range(entry_start, entry_stop, self.num_entries)
        maps = [self._maps[n] for n in names]
        pieces = self._read(maps, start, stop)
        if library == "pd":
            return to_pandas(maps, pieces)
        out = {m.name: to_library(m, p, library) for m, p in zip(maps, pieces, strict=True)}
        if library == "np":
            return out
        if how == "zip":
            out = zip_collections(out, maps)
        return ak.zip(out, depth_limit=1) if out else ak.Array(np.zeros((stop - start, 0)))

    def iterate(
        self,
        expressions: str | Sequence[str] | None = None,
        filter_name: Filter = None,
        *,
        step_size: int | None = None,
        entry_start: int | None = None,
        entry_stop: int | None = None,
        library: str = "ak",
    ) -> Iterator[Any]:
        """:meth:`arrays` in ranges of ``step_size`` entries (default: the file's own steps)."""
        start, stop = entry_range(entry_start, entry_stop, self.num_entries)
        if step_size is not None and (not isinstance(step_size, (int, np.integer)) or step_size < 1):
            raise BaleInputError(f"step_size must be a positive number of entries, not {step_size!r}")
        if step_size is None:
            edges = sorted({start, stop} | {s.first for s in self._steps if start < s.first < stop})
        else:
            edges = [*range(start, stop, int(step_size)), stop]
        for lo, hi in itertools.pairwise(edges):
            yield self.arrays(expressions, filter_name, entry_start=lo, entry_stop=hi, library=library)

    def _select(self, expressions: str | Sequence[str] | None, filter_name: Filter) -> list[str]:
        if isinstance(expressions, str):
            expressions = [expressions]
        if expressions is not None:
            unknown = [e for e in expressions if e not in self._maps]
            if unknown:
                raise BaleInputError(
                    f"no branch {unknown[0]!r} in {self._reader.path} (expressions are branch names; "
                    f"formulas are not evaluated)"
                )
            names = list(dict.fromkeys(expressions))
            return filtered(names, filter_name) if filter_name is not None else names
        return self.keys(filter_name)

    def _read(self, maps: Sequence[BranchMap], start: int, stop: int) -> list[Piece]:
        """Each key's values over events ``start``..``stop``: only the covering steps, only the needed columns."""
        needs: dict[int, list[str]] = {}
        for m in maps:
            for t, cols in m.needs().items():
                needs.setdefault(t, []).extend(c for c in cols if c not in needs.get(t, []))
        steps = [s for s in self._steps if s.first < stop and s.first + s.events > start]
        if stop <= start or not steps:
            return [build(m, []) for m in maps]

        def decode(step: _Step) -> list[Piece]:
            decoded = self._decode(step, needs)
            lo, hi = max(start - step.first, 0), min(stop, step.first + step.events) - step.first
            return [cut(m, decoded, lo, hi) for m in maps]

        per_step = list(map_chunks(decode, steps, self._workers if len(steps) > 1 else 1))
        return [build(m, [p[i] for p in per_step]) for i, m in enumerate(maps)]

    def _decode(self, step: _Step, needs: dict[int, list[str]]) -> list[dict[str, np.ndarray]]:
        """The needed columns of every table in ``step`` (a table without rows there gives empty columns)."""
        index = step.index
        cached = self._cache[1] if self._cache is not None and self._cache[0] == index else {}
        out: list[dict[str, np.ndarray]] = []
        for t, table in enumerate(self._reader.tables):
            have = dict(cached.get(t, {}))
            missing = [c for c in needs.get(t, []) if c not in have]
            if missing and t in step.chunks:
                chunk = step.chunks[t]
                coder = self._coders[t]
                sections = self._reader.chunk(chunk, closure(coder, missing))
                rows = self._reader.chunks[chunk].rows
                have.update(decode_chunk(sections, rows, coder, self._reader.version, missing))
            elif missing:
                dtypes = {c["name"]: np.dtype(c["dtype"]) for c in table["schema"]}
                have.update({c: np.zeros(0, dtypes[c]) for c in missing})
            out.append(have)
        self._cache = (index, dict(enumerate(out)))
        return out


class BaleBranch:
    """One key of a :class:`BaleTree`: ``.array()`` reads its values alone."""

    def __init__(self, tree: BaleTree, m: BranchMap) -> None:
        self._tree, self._map = tree, m

    @property
    def name(self) -> str:
        return self._map.name

    @property
    def typename(self) -> str:
        return self._map.typename

    @property
    def num_entries(self) -> int:
        return self._tree.num_entries

    def closure(self) -> Closure:
        return self._tree.closure(self.name)

    def array(self, *, entry_start: int | None = None, entry_stop: int | None = None, library: str = "ak") -> Any:
        """Its values over ``entry_start``..``entry_stop`` (awkward, NumPy, or a pandas DataFrame)."""
        if library == "pd":
            return self._tree.arrays([self.name], entry_start=entry_start, entry_stop=entry_stop, library="pd")
        start, stop = entry_range(entry_start, entry_stop, self.num_entries)
        return to_library(self._map, self._tree._read([self._map], start, stop)[0], library)

    def __repr__(self) -> str:
        return f"<BaleBranch {self.name!r} ({self.typename})>"


def _steps(reader: BaleReader) -> list[_Step]:
    """The file's steps: their first event, events and chunk per table."""
    by_step: dict[int, dict[int, int]] = {}
    for i, c in enumerate(reader.chunks):
        by_step.setdefault(c.step, {})[c.table] = i
    out: list[_Step] = []
    first = 0
    for chunks in by_step.values():
        events = reader.chunks[chunks[0]].rows if 0 in chunks else 0
        if events:
            out.append(_Step(len(out), first, events, chunks))
        first += events
    return out
