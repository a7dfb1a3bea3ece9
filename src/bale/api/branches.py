"""How the keys a reader shows (ROOT branch names, table columns) map onto a ``.bale`` file's columns.

A one-table file shows its columns. A tree's dataset shows the branches of the original
tree when the header lists them (``source.branches``, :class:`bale.io.root_layout.BranchSpec`):
a fixed-size array branch ``w`` is its columns ``w[0]`` … put back together, a jagged branch
the column of its collection cut per event by the counter, a ``vector<vector<T>>`` the
values cut by the inner sizes, then per event. Without that list (a dataset compressed from
memory), the main table's columns are flat keys and every collection column a jagged one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from bale.container import TableEntry
from bale.errors import BaleFormatError, BaleInputError
from bale.io.root_layout import ARRAY, FLAT, JAGGED, JAGGED2, BranchSpec

__all__ = ["BranchMap", "Piece", "branch_maps", "build", "cut", "to_library", "to_pandas", "zip_collections"]

_C_TYPES = {
    "bool": "bool", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t",
    "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t", "uint64": "uint64_t",
    "float32": "float", "float64": "double",
}  # fmt: skip


@dataclass(frozen=True)
class BranchMap:
    """One key: its kind, the table and columns holding its values, and what cuts them per event."""

    name: str
    kind: str  # flat | array | jagged | jagged2
    dtype: str
    typename: str
    table: int  # the table of its values
    columns: tuple[str, ...]  # in ``table``, row-major over ``shape``
    shape: tuple[int, ...] = ()  # fixed dims of each value
    counter: str | None = None  # jagged kinds: the main-table column counting the (outer) objects per event
    outer: int | None = None  # jagged2: the table of the outer objects
    sizes: str | None = None  # jagged2: the column of ``outer`` with each inner vector's length

    def needs(self) -> dict[int, tuple[str, ...]]:
        """Table -> the stored columns read to give this key's values."""
        out: dict[int, list[str]] = {}
        if self.counter is not None:
            out.setdefault(0, []).append(self.counter)
        if self.outer is not None and self.sizes is not None:
            out.setdefault(self.outer, []).append(self.sizes)
        out.setdefault(self.table, []).extend(self.columns)
        return {t: tuple(dict.fromkeys(cols)) for t, cols in out.items()}


def _typename(dtype: str, kind: str, shape: tuple[int, ...]) -> str:
    base = _C_TYPES.get(dtype, dtype) + "".join(f"[{d}]" for d in shape)
    return {JAGGED: f"{base}[]", JAGGED2: f"std::vector<std::vector<{base}>>"}.get(kind, base)


def branch_maps(tables: Sequence[TableEntry], source: Mapping[str, Any]) -> dict[str, BranchMap]:
    """Key -> its map, in the file's order; every column named is checked to be in its table."""
    index = {str(t["name"]): i for i, t in enumerate(tables)}
    counters = {str(t["name"]): str(t.get("counter")) for t in tables[1:]}
    dtypes = [{str(c["name"]): str(c["dtype"]) for c in t["schema"]} for t in tables]
    out: dict[str, BranchMap] = {}
    listed = source.get("branches")
    try:
        if isinstance(listed, list) and listed:
            for obj in listed:
                spec = BranchSpec.from_json(obj)
                out[spec.name] = _from_spec(spec, index, counters)
        else:
            for name, dtype in dtypes[0].items():
                out[name] = BranchMap(name, FLAT, dtype, _typename(dtype, FLAT, ()), 0, (name,))
            for t, table in enumerate(tables[1:], start=1):
                for name, dtype in dtypes[t].items():
                    counter = counters[str(table["name"])]
                    out[name] = BranchMap(name, JAGGED, dtype, _typename(dtype, JAGGED, ()), t, (name,), (), counter)
    except KeyError as exc:
        raise BaleFormatError(f"a branch refers to a collection the file does not hold: {exc}") from None
    for m in out.values():
        for t, cols in m.needs().items():
            missing = [c for c in cols if c not in dtypes[t]]
            if missing:
                raise BaleFormatError(f"branch {m.name!r} refers to columns {missing[:3]} the file does not hold")
    return out


def _from_spec(spec: BranchSpec, index: Mapping[str, int], counters: Mapping[str, str]) -> BranchMap:
    typename = spec.typename or _typename(spec.dtype, spec.kind, spec.shape)
    cols = tuple(spec.columns)
    if spec.kind in (FLAT, ARRAY):
        return BranchMap(spec.name, spec.kind, spec.dtype, typename, 0, cols, spec.shape)
    collection = spec.collection or ""
    if spec.kind == JAGGED:
        return BranchMap(
            spec.name, JAGGED, spec.dtype, typename, index[collection], cols, spec.shape, counters[collection]
        )
    return BranchMap(
        spec.name, JAGGED2, spec.dtype, typename, index[spec.values or ""], cols, spec.shape,
        counters[collection], index[collection], spec.sizes_column,
    )  # fmt: skip


@dataclass
class Piece:
    """A key's values over some events: per-event counts (jagged kinds), inner sizes (jagged2), the values."""

    values: np.ndarray  # (rows, *shape)
    counts: np.ndarray | None = None  # objects per event
    sizes: np.ndarray | None = None  # jagged2: values per object


def cut(m: BranchMap, decoded: Sequence[Mapping[str, np.ndarray]], lo: int, hi: int) -> Piece:
    """Events ``lo``..``hi`` of one step's decoded columns (per table), as ``m``'s values."""

    def values(t: int, start: int, stop: int) -> np.ndarray:
        cols = [decoded[t][c][start:stop] for c in m.columns]
        if not m.shape:
            return cols[0]
        return np.stack(cols, axis=-1).reshape(stop - start, *m.shape)

    if m.counter is None:
        return Piece(values(0, lo, hi))
    counts = decoded[0][m.counter].astype(np.int64)
    first = _offsets(counts)
    if m.outer is None:
        return Piece(values(m.table, int(first[lo]), int(first[hi])), counts[lo:hi])
    assert m.sizes is not None
    sizes = decoded[m.outer][m.sizes].astype(np.int64)
    inner = _offsets(sizes)
    start, stop = int(first[lo]), int(first[hi])
    return Piece(values(m.table, int(inner[start]), int(inner[stop])), counts[lo:hi], sizes[start:stop])


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def build(m: BranchMap, pieces: Sequence[Piece]) -> Piece:
    """The pieces of consecutive steps as one."""
    if not pieces:
        empty = np.zeros((0, *m.shape), np.dtype(m.dtype))
        none = np.zeros(0, np.int64)
        return Piece(empty, none if m.counter else None, none if m.outer is not None else None)
    if len(pieces) == 1:
        return pieces[0]

    def join(parts: list[np.ndarray | None]) -> np.ndarray | None:
        return None if parts[0] is None else np.concatenate(parts)  # type: ignore[arg-type]

    values = np.concatenate([p.values for p in pieces])
    return Piece(values, join([p.counts for p in pieces]), join([p.sizes for p in pieces]))


def to_library(m: BranchMap, piece: Piece, library: str) -> Any:
    """A key's values as awkward (``ak``), NumPy (``np``: object arrays per event when jagged) or a column."""
    if library == "ak":
        values = ak.from_numpy(piece.values, regulararray=True)
        if piece.sizes is not None:
            values = ak.unflatten(values, piece.sizes)
        if piece.counts is not None:
            values = ak.unflatten(values, piece.counts)
        return values
    if library == "np":
        if piece.counts is None:
            return piece.values
        values = piece.values
        if piece.sizes is not None:
            values = _split(values, piece.sizes)
        return _split(values, piece.counts)
    raise BaleInputError(f"library must be 'ak', 'np' or 'pd', not {library!r}")


def _split(values: Any, counts: np.ndarray) -> np.ndarray:
    """An object array of one array per count (uproot's ``library="np"`` for jagged branches)."""
    out = np.empty(len(counts), dtype=object)
    bounds = _offsets(counts)
    for i in range(len(counts)):
        out[i] = values[bounds[i] : bounds[i + 1]]
    return out


def to_pandas(maps: Sequence[BranchMap], pieces: Sequence[Piece]) -> Any:
    """Flat and fixed-size array keys as a DataFrame (array elements as columns ``w[0]`` …)."""
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    for m, piece in zip(maps, pieces, strict=True):
        if piece.counts is not None:
            raise BaleInputError(f"branch {m.name!r} is jagged: read it with library='ak' or 'np', not 'pd'")
        if m.shape:
            flat = piece.values.reshape(len(piece.values), -1)
            columns.update({c: flat[:, i] for i, c in enumerate(m.columns)})
        else:
            columns[m.name] = piece.values
    return pd.DataFrame(columns)


def zip_collections(arrays: dict[str, Any], maps: Sequence[BranchMap]) -> dict[str, Any]:
    """Jagged keys sharing a counter as one field of records, named after their common prefix."""
    groups: dict[str, list[str]] = {}
    for m in maps:
        if m.kind == "jagged" and m.counter is not None:
            groups.setdefault(m.counter, []).append(m.name)
    out: dict[str, Any] = {}
    zipped: dict[str, str] = {}
    for counter, names in groups.items():
        common = os.path.commonprefix(names) if len(names) > 1 else names[0]  # noqa: RUF071 - names, not paths
        prefix = common[: common.rfind("_")] if "_" in common else (counter[1:] if counter[:1] in "nN" else "")
        if not prefix or prefix in arrays or prefix in out:
            continue
        fields = {n[len(prefix) + 1 :] if n.startswith(prefix + "_") else n: arrays[n] for n in names}
        out[prefix] = ak.zip(fields, depth_limit=2)
        zipped.update(dict.fromkeys(names, prefix))
    result: dict[str, Any] = {}
    for name, values in arrays.items():
        if name not in zipped:
            result[name] = values
        elif zipped[name] not in result:
            result[zipped[name]] = out[zipped[name]]
    return result
