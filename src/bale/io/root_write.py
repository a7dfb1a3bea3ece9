"""Writing datasets back as ROOT trees with uproot, branch by branch as the file had them.

The header's ``source`` record (:meth:`bale.io.root_layout.EventLayout.source`) lists every
branch with its kind, type and title; the writer rebuilds each from its columns. Where
uproot cannot write a type, the nearest it can is written (``docs/root.md``):

- ``std::vector<T>`` becomes ``T[n]`` with a counter branch ``n<collection>``;
- ``Double32_t``/``Float16_t`` become ``double``/``float`` holding the values ROOT gave;
- ``std::vector<std::vector<T>>`` becomes the values per event (``x``, ``T[n]``) and the
  length of each inner vector (``x_size``, in the outer collection): uproot writes no
  nested vectors. A warning names every such branch.
- a jagged array of fixed-size arrays (``double x[n][4]``) becomes one jagged branch per
  element (``x_0`` … ``x_3``): uproot's writer gets this type wrong.
- a TNtuple becomes a TTree with the same branches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from itertools import chain
from typing import Any

import awkward as ak
import numpy as np
import uproot

from bale.errors import BaleInputError
from bale.io.root_layout import ARRAY, DEFAULT_TREE, FLAT, JAGGED, BranchSpec, unique_name
from bale.io.source_check import check_root_source
from bale.table import Dataset

__all__ = ["specs_of", "write_dataset", "write_tree"]

log = logging.getLogger(__name__)


def specs_of(dataset: Dataset) -> list[BranchSpec]:
    """The branches of ``dataset``: from its source record, or (older files) one per column."""
    recorded = dataset.source.get("branches") if dataset.source.get("format") == "root" else None
    if isinstance(recorded, list):
        return [BranchSpec.from_json(b) for b in recorded]
    specs = [BranchSpec(n, FLAT, str(v.dtype)) for n, v in dataset.main.columns.items()]
    for cname in dataset.counters:
        columns = dataset.tables[cname].columns
        specs += [BranchSpec(n, JAGGED, str(v.dtype), collection=cname) for n, v in columns.items()]
    return specs


def _ak_type(dtype: np.dtype, shape: tuple[int, ...] = ()) -> Any:
    tp: Any = ak.types.NumpyType(ak.types.numpytype.dtype_to_primitive(np.dtype(dtype)))
    for size in reversed(shape):
        tp = ak.types.RegularType(tp, size)
    return tp


def _values(columns: dict[str, np.ndarray], spec: BranchSpec) -> np.ndarray:
    if not spec.shape:
        return columns[spec.name]
    stacked = np.stack([columns[c] for c in spec.columns], axis=1)
    return stacked.reshape(len(stacked), *spec.shape)


class _Plan:
    """What the tree's branches become in uproot's ``mktree`` and how each step's data is built."""

    def __init__(self, first: Dataset, specs: list[BranchSpec]) -> None:
        self.counters = dict(first.counters)
        self.synthetic = set(first.source.get("synthetic_counters") or [])
        real_counters = set(self.counters.values()) - self.synthetic
        taken = {s.name for s in specs} | set(self.counters.values()) | set(self.counters)
        self.renamed: dict[str, list[str]] = {}  # branches uproot cannot write as they were -> what is written
        # collection -> [(branch name in the output, column of the collection's table, dtype)]
        self.members: dict[str, list[tuple[str, str, str]]] = {c: [] for c in self.counters}
        self.types: dict[str, Any] = {}
        self.flat: list[BranchSpec] = []
        for spec in specs:
            if spec.kind in (FLAT, ARRAY):
                if spec.name in real_counters:
                    continue  # uproot writes the counter of its collection
                if np.dtype(spec.dtype) == np.float16:
                    raise BaleInputError(f"branch {spec.name!r} is float16, which ROOT cannot hold")
                self.types[spec.name] = np.dtype((np.dtype(spec.dtype), spec.shape)) if spec.shape else spec.dtype
                self.flat.append(spec)
            elif spec.kind == JAGGED and not spec.shape:
                self._member(spec.collection or "", (spec.name, spec.name, spec.dtype))
            elif spec.kind == JAGGED:  # uproot writes no jagged arrays of fixed-size arrays: one branch per element
                names = [unique_name(f"{spec.name}_{i}", taken) for i in range(len(spec.columns))]
                taken.update(names)
                self.renamed[spec.name] = names
                for name, column in zip(names, spec.columns, strict=True):
                    self._member(spec.collection or "", (name, column, spec.dtype))
            else:  # nor nested vectors: the inner sizes in the outer collection, the values per event
                sizes = unique_name(f"{spec.name}_size", taken)
                taken.add(sizes)
                self.renamed[spec.name] = [spec.name, sizes]
                self._member(spec.collection or "", (sizes, spec.sizes_column, "int32"))
                self._member(spec.values or "", (spec.name, spec.name, spec.dtype))

    def _member(self, cname: str, member: tuple[str, str, str]) -> None:
        if cname not in self.types:
            self.types[cname] = None  # placed where its first branch was
        self.members[cname].append(member)

    def branch_types(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, tp in self.types.items():
            if tp is not None:
                out[name] = tp
                continue
            fields = [_ak_type(np.dtype(dtype)) for _, _, dtype in self.members[name]]
            out[name] = ak.types.ListType(ak.types.RecordType(fields, [n for n, _, _ in self.members[name]]))
        return out

    def data(self, piece: Dataset) -> dict[str, Any]:
        out: dict[str, Any] = {}
        main = piece.main.columns
        for spec in self.flat:
            out[spec.name] = _values(main, spec)
        for cname, members in self.members.items():
            columns = piece.tables[cname].columns
            counts = main[self.counters[cname]]
            fields = {name: ak.unflatten(columns[column], counts) for name, column, _ in members}
            out[cname] = ak.zip(fields, depth_limit=2)
        return out


def _restore_branches(tree: Any, specs: list[BranchSpec], counters: set[str]) -> None:
    """Give the branches their titles (NanoAOD keeps its documentation there) and the counters their
    integer type (uproot makes every counter ``int32``), through uproot's writer state."""
    try:
        cascading = tree._cascading
        for spec in specs:
            index = cascading._branch_lookup.get(spec.name)
            if index is None:
                continue
            datum = cascading._branch_data[index]
            if "fTitle" in datum:
                datum["fTitle"] = spec.title
            dtype = np.dtype(spec.dtype).newbyteorder(">")
            if spec.name in counters and datum.get("kind") == "counter" and dtype.kind in "iu":
                datum["dtype"] = dtype
        # mktree has written the tree's metadata already: have the first extend write it anew, titles included
        cascading._needs_relocation_before_extend = True
    except AttributeError:  # another uproot: the titles are uproot's own
        log.warning("this uproot does not let bale set branch titles; they are written as uproot names them")


def write_tree(f: Any, first: Dataset, pieces: Iterable[Dataset]) -> None:
    """Write ``first`` and then ``pieces`` (same structure) as one tree into the open uproot file ``f``."""
    source = check_root_source(first.source) if first.source.get("format") == "root" else {}
    specs = specs_of(first)
    name = source.get("tree") or DEFAULT_TREE
    if source.get("kind") == "rntuple":
        _write_rntuple(f, name, first, pieces, specs)
        return
    plan = _Plan(first, specs)
    if plan.renamed:
        log.warning(
            "uproot cannot write %d branch(es) as they were (docs/root.md); written as: %s",
            len(plan.renamed), "; ".join(f"{k} -> {', '.join(v)}" for k, v in plan.renamed.items()),
        )  # fmt: skip
    types = plan.branch_types()
    if not types:
        raise BaleInputError(f"tree {name!r} has no branch that can be written")
    tree = f.mktree(
        name, types, title=str(source.get("title") or ""),
        counter_name=lambda collection: plan.counters[collection],
        field_name=lambda outer, inner: inner,  # the branches keep their full names
    )  # fmt: skip
    if isinstance(source.get("branches"), list):  # files written before bale kept titles: uproot's own
        _restore_branches(tree, specs, set(plan.counters.values()) - plan.synthetic)
    for piece in chain([first], pieces):
        if piece.num_events:
            tree.extend(plan.data(piece))


def _write_rntuple(f: Any, name: str, first: Dataset, pieces: Iterable[Dataset], specs: list[BranchSpec]) -> None:
    types: dict[str, Any] = {}
    for spec in specs:
        if spec.kind in (FLAT, ARRAY):
            types[spec.name] = _ak_type(np.dtype(spec.dtype), spec.shape)
        elif spec.kind == JAGGED:
            types[spec.name] = ak.types.ListType(_ak_type(np.dtype(spec.dtype), spec.shape))
        else:
            types[spec.name] = ak.types.ListType(ak.types.ListType(_ak_type(np.dtype(spec.dtype))))
    ntuple = f.mkrntuple(name, types)
    for piece in chain([first], pieces):
        if not piece.num_events:
            continue
        data: dict[str, Any] = {}
        for spec in specs:
            if spec.kind in (FLAT, ARRAY):
                data[spec.name] = _values(piece.main.columns, spec)
                continue
            outer = piece.tables[spec.collection or ""].columns
            counts = piece.main.columns[first.counters[spec.collection or ""]]
            if spec.kind == JAGGED:
                data[spec.name] = ak.unflatten(_values(outer, spec), counts)
            else:
                inner = ak.unflatten(_values(piece.tables[spec.values or ""].columns, spec), outer[spec.sizes_column])
                data[spec.name] = ak.unflatten(inner, counts)
        ntuple.extend(data)


def write_dataset(first: Dataset, pieces: Iterable[Dataset], path: str | os.PathLike[str]) -> None:
    """Write ``first`` and then ``pieces`` (same structure) as one tree of events in a new file."""
    with uproot.recreate(path) as f:
        write_tree(f, first, pieces)
