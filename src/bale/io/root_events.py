"""ROOT TTrees of events with jagged collections, read and written in steps of whole events.

A tree such as NanoAOD's ``Events`` becomes a :class:`~bale.table.Dataset`: flat branches
(``run``, ``MET_pt``, the counters ``nJet``, …) form the main table; the jagged branches
sharing a counter (``Jet_pt[nJet]``, ``Jet_eta[nJet]``, …) form one table of objects per
collection (``Jet``). Branches are chosen by name or glob (``Jet_*``); the counter of a
chosen jagged branch comes with it.

Reading and writing go in *steps* of whole events with a bounded number of rows, so
memory does not grow with the file (:func:`plan_steps`, :func:`iter_dataset`,
:func:`write_dataset`).

uproot writes counters as ``int32`` (ROOT's ``Int_t``) whatever they were, so a counter
read as ``uint32`` comes back as ``int32`` with the same values; every other branch keeps
its dtype.

RNTuples (ATLAS PHYSLITE, for example) are read the same way: top-level numeric fields
form the main table, ``var * number`` fields one collection per container prefix
(``AnalysisJetsAuxDyn:pt`` belongs to ``AnalysisJetsAuxDyn``). RNTuples keep their
offsets inside, so bale adds a counter column (``n<collection>``) to the main table and
leaves it out again when it writes the RNTuple back. Fields of other types (nested lists,
records, strings) cannot be selected.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot
from uproot.interpretation.jagged import AsJagged
from uproot.interpretation.numerical import AsDtype

from bale.errors import BaleInputError
from bale.io._common import native
from bale.table import MAIN, Dataset, Table

__all__ = ["EventLayout", "iter_dataset", "layout_of", "plan_steps", "read_dataset", "write_dataset"]

log = logging.getLogger(__name__)

DEFAULT_TREE = "Events"


@dataclass
class EventLayout:
    """Which branches of a tree are read, and how they group into collections."""

    tree: str
    title: str
    num_entries: int
    flat: list[str]  # branches of the main table, counters included
    collections: dict[str, list[str]]  # collection -> its jagged branches
    counters: dict[str, str]  # collection -> counter branch
    dtypes: dict[str, str] = field(default_factory=dict)  # branch -> native dtype (of the content, if jagged)
    kept: list[str] = field(default_factory=list)  # branches read only because of keep_rest (coded exactly)
    kind: str = "ttree"  # or "rntuple"
    synthetic: list[str] = field(default_factory=list)  # counters bale added (RNTuple), not in the file

    @property
    def branches(self) -> list[str]:
        return self.flat + [b for members in self.collections.values() for b in members]

    @property
    def read(self) -> list[str]:
        """What is read from the file: every branch but the counters bale adds."""
        return [b for b in self.branches if b not in self.synthetic]

    def source(self) -> dict[str, Any]:
        source: dict[str, Any] = {"format": "root", "tree": self.tree, "title": self.title}
        if self.kind != "ttree":
            source.update(kind=self.kind, synthetic_counters=self.synthetic)
        return source


def _pick_tree(f: Any, path: Path, tree: str | None) -> str:
    trees = list(dict.fromkeys(f.keys(recursive=True, cycle=False, filter_classname=["TTree", "ROOT::RNTuple"])))
    if tree is not None:
        if tree not in trees:
            raise BaleInputError(f"no TTree or RNTuple {tree!r} in {path}; there are: {', '.join(trees) or 'none'}")
        return tree
    if not trees:
        others = ", ".join(f"{k} ({v})" for k, v in f.classnames(cycle=False).items()) or "nothing"
        raise BaleInputError(f"no TTree or RNTuple in {path} (it holds {others})")
    if len(trees) > 1:
        default = [t for t in trees if t == DEFAULT_TREE]
        if default:
            return default[0]
        raise BaleInputError(f"{path} holds several TTrees: {', '.join(trees)}; choose one with --tree")
    return trees[0]


def _kind(branch: Any) -> tuple[str, np.dtype | None]:
    """("flat" | "jagged" | "unsupported", dtype) of a branch."""
    interp = branch.interpretation
    if branch.branches:
        return "unsupported", None
    if isinstance(interp, AsJagged) and isinstance(interp.content, AsDtype):
        kind, dtype = "jagged", np.dtype(interp.content.to_dtype)
    elif isinstance(interp, AsDtype):
        kind, dtype = "flat", np.dtype(interp.to_dtype)
    else:
        return "unsupported", None
    if dtype.shape != () or dtype.kind not in "biuf":
        return "unsupported", None
    return kind, dtype.newbyteorder("=")


def _select(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    if not patterns:
        return list(names)
    chosen: dict[str, None] = {}
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise BaleInputError(f"no branch matches {pattern!r}")
        chosen.update(dict.fromkeys(hits))
    return [n for n in names if n in chosen]  # in the tree's order


def _drop_unsupported(selected: list[str], bad: list[str], patterns: Sequence[str] | None, what: str) -> list[str]:
    """Unsupported branches named exactly are an error; those a glob (or no selection) matched are left out."""
    named = [n for n in bad if patterns and n in patterns]
    if named:
        raise BaleInputError(
            f"{len(named)} {what} of unsupported type: {', '.join(named[:5])}{' …' if len(named) > 5 else ''}; "
            "leave them out of --branches"
        )
    if bad:
        log.warning("leaving out %d %s of unsupported type: %s%s", len(bad), what, ", ".join(bad[:5]),
                    " …" if len(bad) > 5 else "")  # fmt: skip
    return [n for n in selected if n not in bad]


def _collection_name(counter: str, members: list[str], taken: set[str]) -> str:
    prefix = os.path.commonprefix(members)  # noqa: RUF071 - branch names, not paths
    prefix = prefix[: prefix.rfind("_")] if "_" in prefix else ""
    name = prefix or counter
    while name in taken or name == MAIN:
        name += "_"
    return name


def layout_of(ttree: Any, patterns: Sequence[str] | None = None, *, keep_rest: bool = False) -> EventLayout:
    """The main table and collections of ``ttree`` for the branches matching ``patterns`` (all if None).

    With ``keep_rest``, every other readable branch is read too (the caller codes it losslessly).
    """
    kinds = {b.name: _kind(b) for b in ttree.branches}
    readable = [n for n, (k, _) in kinds.items() if k != "unsupported"]
    unsupported = [n for n, (k, _) in kinds.items() if k == "unsupported"]
    selected = _select(list(kinds), patterns)
    bad = [n for n in selected if kinds[n][0] == "unsupported"]
    selected = _drop_unsupported(selected, bad, patterns, "branch(es)")
    wanted = readable if keep_rest else selected
    if unsupported and keep_rest:
        log.warning("--keep-rest cannot keep %d branch(es) of unsupported type: %s", len(unsupported), unsupported[:5])
    counter_of: dict[str, str] = {}
    for name in wanted:
        if kinds[name][0] == "jagged":
            counter_of[name] = _counter(ttree, name, kinds)
    counters_needed = set(counter_of.values())
    flat = [n for n in readable if (n in wanted and kinds[n][0] == "flat") or n in counters_needed]
    groups: dict[str, list[str]] = {}
    for name, counter in counter_of.items():
        groups.setdefault(counter, []).append(name)
    collections: dict[str, list[str]] = {}
    counters: dict[str, str] = {}
    for counter, members in groups.items():
        cname = _collection_name(counter, members, set(collections))
        collections[cname] = members
        counters[cname] = counter
    dtypes = {n: str(kinds[n][1]) for n in flat + list(counter_of)}
    chosen = set(selected) | {counter_of[n] for n in selected if n in counter_of}
    kept = [n for n in flat + list(counter_of) if n not in chosen]
    return EventLayout(ttree.name, str(ttree.title), int(ttree.num_entries), flat, collections, counters, dtypes, kept)


def _counter(ttree: Any, name: str, kinds: dict[str, tuple[str, np.dtype | None]]) -> str:
    branch = ttree[name]
    counter = branch.count_branch.name if branch.count_branch is not None else None
    if counter is None:  # files written by uproot: the counter is named by the convention n<collection>
        leaf = branch.member("fLeaves")[0] if branch.member("fLeaves") else None
        count_leaf = leaf.member("fLeafCount") if leaf is not None else None
        counter = count_leaf.member("fName") if count_leaf is not None else None
    if counter is None or counter not in kinds or kinds[counter][0] != "flat":
        raise BaleInputError(f"cannot find the counter branch of jagged branch {name!r}")
    dtype = kinds[counter][1]
    if dtype is None or dtype.kind not in "iu":
        raise BaleInputError(f"counter {counter!r} of {name!r} is not an integer branch")
    return counter


def rntuple_layout(ntuple: Any, name: str, patterns: Sequence[str] | None, *, keep_rest: bool) -> EventLayout:
    """The layout of an RNTuple's top-level fields (see the module docstring)."""
    names = [k for k in ntuple.keys() if "." not in k.rsplit(":", 1)[-1]]  # noqa: SIM118 - top-level fields
    selected = _select(names, patterns)
    empty = ntuple.arrays(names if keep_rest else selected, entry_stop=0)
    kinds: dict[str, tuple[str, np.dtype | None]] = {}
    for field_name in ak.fields(empty):
        kind, dtype = "unsupported", None
        tp = empty[field_name].type.content
        if isinstance(tp, ak.types.ListType) and isinstance(tp.content, ak.types.NumpyType):
            kind, dtype = "jagged", np.dtype(ak.types.numpytype.primitive_to_dtype(tp.content.primitive))
        elif isinstance(tp, ak.types.NumpyType):
            kind, dtype = "flat", np.dtype(ak.types.numpytype.primitive_to_dtype(tp.primitive))
        if dtype is not None and (dtype.shape != () or dtype.kind not in "biuf"):
            kind, dtype = "unsupported", None
        kinds[field_name] = (kind, dtype)
    bad = [n for n in selected if kinds.get(n, ("unsupported", None))[0] == "unsupported"]
    selected = _drop_unsupported(selected, bad, patterns, "field(s)")
    wanted = [n for n in kinds if kinds[n][0] != "unsupported"] if keep_rest else selected
    flat = [n for n in wanted if kinds[n][0] == "flat"]
    groups: dict[str, list[str]] = {}
    for n in wanted:
        if kinds[n][0] == "jagged":
            prefix = n.rsplit(":", 1)[0] if ":" in n else n.rsplit(".", 1)[0] if "." in n else n
            groups.setdefault(prefix, []).append(n)
    collections, counters, synthetic = {}, {}, []
    for prefix, members in groups.items():
        cname = _collection_name(prefix, [prefix + "_"], set(collections))
        counter = f"n{prefix}"
        while counter in kinds or counter in synthetic:
            counter += "_"
        collections[cname], counters[cname] = members, counter
        synthetic.append(counter)
    dtypes = {n: str(kinds[n][1]) for n in wanted} | dict.fromkeys(synthetic, "uint32")
    chosen = set(selected)
    kept = [n for n in wanted if n not in chosen]
    return EventLayout(
        name, "", int(ntuple.num_entries), flat + synthetic, collections, counters, dtypes, kept, "rntuple", synthetic
    )


def plan_steps(counts: Sequence[np.ndarray], num_entries: int, max_rows: int) -> list[tuple[int, int]]:
    """Entry ranges of whole events, each with at most ``max_rows`` rows per table (or a single event)."""
    cumulative = [np.cumsum(c, dtype=np.int64) for c in counts]
    steps, start = [], 0
    while start < num_entries:
        stop = min(start + max_rows, num_entries)
        for cum in cumulative:
            before = int(cum[start - 1]) if start else 0
            stop = min(stop, max(int(np.searchsorted(cum, before + max_rows, side="right")), start + 1))
        steps.append((start, stop))
        start = stop
    return steps


_PLAN_BLOCK = 1 << 20  # events whose counters are read at once to plan the steps


def _plan(ttree: Any, layout: EventLayout, entries: int, step_rows: int) -> list[tuple[int, int]]:
    """The steps of the first ``entries`` events, planned a block of events at a time.

    Steps do not cross block boundaries, so memory stays bounded by one block of counters
    however many events the file holds.
    """
    if not layout.collections:
        return plan_steps([], entries, step_rows)
    steps: list[tuple[int, int]] = []
    for start in range(0, entries, _PLAN_BLOCK):
        stop = min(start + _PLAN_BLOCK, entries)
        if layout.kind == "rntuple":
            first = [members[0] for members in layout.collections.values()]
            arrays = ttree.arrays(first, entry_start=start, entry_stop=stop)
            counts = [ak.to_numpy(ak.num(arrays[b], axis=1)) for b in first]
        else:
            names = list(dict.fromkeys(layout.counters.values()))
            arrays = ttree.arrays(names, entry_start=start, entry_stop=stop, library="np")
            counts = [arrays[c] for c in names]
        del arrays
        steps += [(start + a, start + b) for a, b in plan_steps(counts, stop - start, step_rows)]
    return steps


def _piece(arrays: Any, layout: EventLayout) -> Dataset:
    columns = {}
    for cname, counter in layout.counters.items():
        if counter in layout.synthetic:
            columns[counter] = ak.to_numpy(ak.num(arrays[layout.collections[cname][0]], axis=1)).astype(np.uint32)
    main = Table({n: columns[n] if n in columns else native(np.asarray(ak.to_numpy(arrays[n]))).astype(
        layout.dtypes[n], copy=False) for n in layout.flat})  # fmt: skip
    tables = {MAIN: main}
    for cname, members in layout.collections.items():
        counts = main.columns[layout.counters[cname]]
        columns = {}
        for b in members:
            jagged = arrays[b]
            if not np.array_equal(ak.to_numpy(ak.num(jagged, axis=1)), counts):
                raise BaleInputError(f"branch {b!r} does not have {layout.counters[cname]} entries per event")
            columns[b] = native(np.asarray(ak.to_numpy(ak.flatten(jagged, axis=1)))).astype(layout.dtypes[b])
        tables[cname] = Table(columns)
    return Dataset(tables, dict(layout.counters), layout.source())


def iter_dataset(
    path: str | os.PathLike[str],
    patterns: Sequence[str] | None = None,
    *,
    tree: str | None = None,
    keep_rest: bool = False,
    step_rows: int = 262144,
    max_events: int | None = None,
    layout: EventLayout | None = None,
) -> tuple[EventLayout, Iterator[Dataset]]:
    """The layout of the tree, and its events in steps of at most ``step_rows`` rows per table.

    The file is opened again when the steps are iterated, and closed when they end. A
    ``layout`` from an earlier call saves working it out again (slow for wide RNTuples).
    """
    path = Path(path)
    try:
        with uproot.open(path, array_cache=None) as f:  # nothing cached: memory stays with the step
            name = _pick_tree(f, path, tree) if layout is None else layout.tree
            ttree = f[name]
            if layout is not None:
                pass
            elif "RNTuple" in type(ttree).__name__:
                layout = rntuple_layout(ttree, name, patterns, keep_rest=keep_rest)
            else:
                layout = layout_of(ttree, patterns, keep_rest=keep_rest)
            layout.tree = name  # its path in the file
            entries = layout.num_entries if max_events is None else min(max_events, layout.num_entries)
            steps = _plan(ttree, layout, entries, step_rows)
    except BaleInputError:
        raise
    except Exception as exc:
        raise BaleInputError(f"cannot read {path} as ROOT: {exc}") from exc

    def pieces() -> Iterator[Dataset]:
        with uproot.open(path, array_cache=None) as f:
            ttree = f[layout.tree]
            for start, stop in steps:
                arrays = ttree.arrays(layout.read, entry_start=start, entry_stop=stop, library="ak")
                yield _piece(arrays, layout)

    log.debug("%s: %d events in %d steps, %d collections", path, entries, len(steps), len(layout.collections))
    return layout, pieces()


def read_dataset(
    path: str | os.PathLike[str],
    patterns: Sequence[str] | None = None,
    *,
    tree: str | None = None,
    keep_rest: bool = False,
) -> Dataset:
    """The whole tree in memory."""
    layout, pieces = iter_dataset(path, patterns, tree=tree, keep_rest=keep_rest, step_rows=1 << 22)
    parts = list(pieces)
    if not parts:  # no events: the structure with empty columns
        tables = {MAIN: Table({n: np.zeros(0, layout.dtypes[n]) for n in layout.flat})}
        for cname, members in layout.collections.items():
            tables[cname] = Table({b: np.zeros(0, layout.dtypes[b]) for b in members})
        return Dataset(tables, dict(layout.counters), layout.source())
    return Dataset.concat(parts)


def _ak_type(dtype: np.dtype) -> ak.types.NumpyType:
    return ak.types.NumpyType(ak.types.numpytype.dtype_to_primitive(np.dtype(dtype)))


def write_dataset(first: Dataset, pieces: Iterable[Dataset], path: str | os.PathLike[str]) -> None:
    """Write ``first`` and then ``pieces`` (same structure) as one tree of events with jagged collections."""
    source = first.source if first.source.get("format") == "root" else {}
    counter_columns = set(first.counters.values())
    branch_types: dict[str, Any] = {}
    for name, values in first.main.columns.items():
        if name not in counter_columns:
            if values.dtype == np.float16:
                raise BaleInputError(f"column {name!r} is float16, which ROOT cannot hold")
            branch_types[name] = values.dtype
    for cname in first.counters:
        columns = first.tables[cname].columns
        record = ak.types.RecordType([_ak_type(v.dtype) for v in columns.values()], list(columns))
        branch_types[cname] = ak.types.ListType(record)
    if source.get("kind") == "rntuple":
        _write_rntuple(first, pieces, path, source)
        return
    with uproot.recreate(path) as f:
        tree = f.mktree(
            source.get("tree", DEFAULT_TREE), branch_types, title=source.get("title", ""),
            counter_name=lambda collection: first.counters[collection],
            field_name=lambda outer, inner: inner,  # the columns keep their full branch names
        )  # fmt: skip
        for piece in _chain(first, pieces):
            if piece.num_events == 0:
                continue
            data: dict[str, Any] = {n: v for n, v in piece.main.columns.items() if n not in counter_columns}
            for cname, counter in piece.counters.items():
                counts = piece.main.columns[counter]
                data[cname] = ak.zip({b: ak.unflatten(v, counts) for b, v in piece.tables[cname].columns.items()})
            tree.extend(data)


def _write_rntuple(first: Dataset, pieces: Iterable[Dataset], path: str | os.PathLike[str], source: dict) -> None:
    synthetic = set(source.get("synthetic_counters") or [])
    types: dict[str, Any] = {n: v.dtype for n, v in first.main.columns.items() if n not in synthetic}
    for cname in first.counters:
        for b, v in first.tables[cname].columns.items():
            types[b] = ak.types.ListType(_ak_type(v.dtype))
    with uproot.recreate(path) as f:
        ntuple = f.mkrntuple(source.get("tree", DEFAULT_TREE), types)
        for piece in _chain(first, pieces):
            if piece.num_events == 0:
                continue
            data: dict[str, Any] = {n: v for n, v in piece.main.columns.items() if n not in synthetic}
            for cname, counter in piece.counters.items():
                counts = piece.main.columns[counter]
                data.update({b: ak.unflatten(v, counts) for b, v in piece.tables[cname].columns.items()})
            ntuple.extend(data)


def _chain(first: Dataset, rest: Iterable[Dataset]) -> Iterator[Dataset]:
    yield first
    yield from rest
