"""ROOT trees of events (TTree, TNtuple, RNTuple), read and written in steps of whole events.

A tree such as NanoAOD's ``Events`` becomes a :class:`~bale.table.Dataset`: flat branches,
the elements of fixed-size arrays and the counters form the main table; jagged branches
form one table of objects per collection (``Jet``), see :mod:`bale.io.root_layout` for
how each branch type maps onto columns. Branches are chosen by name or glob (``Jet_*``);
the counter of a chosen jagged branch comes with it.

Reading and writing go in *steps* of whole events with a bounded number of rows, so
memory does not grow with the file (:func:`plan_steps`, :func:`iter_dataset`,
:func:`write_dataset`). The writer gives back every branch under its name, type and
title, with the limits of what uproot writes (``docs/root.md``):
``std::vector<T>`` becomes a C-style jagged array with a counter, ``Double32_t`` and
``Float16_t`` become ``double`` and ``float``, a TNtuple a TTree.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from bale.errors import BaleInputError
from bale.io._common import native
from bale.io.root_layout import (
    ARRAY,
    DEFAULT_TREE,
    FLAT,
    JAGGED,
    JAGGED2,
    BranchSpec,
    EventLayout,
    classify,
    collection_name,
    unique_name,
)
from bale.io.root_write import write_dataset
from bale.table import MAIN, Dataset, Table, name_problem

__all__ = ["TREE_CLASSES", "EventLayout", "iter_dataset", "layout_of", "plan_steps", "read_dataset", "write_dataset"]

log = logging.getLogger(__name__)

TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple")
_PLAN_BLOCK = 1 << 20  # events whose counts are read at once (planning steps, grouping vectors)
_GROUP_BRANCHES = 32  # jagged branches read at once to group them by length


def tree_paths(f: Any) -> dict[str, str]:
    """Every tree of an open file: path -> class name, in the file's order (highest cycle only)."""
    classes = f.classnames(recursive=True, cycle=False)
    return {k: v for k, v in classes.items() if v in TREE_CLASSES}


def _pick_tree(f: Any, path: Path, tree: str | None) -> str:
    trees = list(tree_paths(f))
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
        raise BaleInputError(f"{path} holds several trees: {', '.join(trees)}; choose one with --tree")
    return trees[0]


def _select(names: Sequence[str], patterns: Sequence[str] | None, *, strict: bool = True) -> list[str]:
    if not patterns:
        return list(names)
    chosen: dict[str, None] = {}
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits and strict:
            raise BaleInputError(f"no branch matches {pattern!r}")
        chosen.update(dict.fromkeys(hits))
    return [n for n in names if n in chosen]  # in the tree's order


def _types(ttree: Any, names: list[str]) -> dict[str, tuple[Any, str]]:
    """Each branch's per-entry awkward type, or the reason uproot cannot read it."""
    try:
        empty = ttree.arrays(names, entry_stop=0, library="ak")
        return {n: (empty[n].type.content, "") for n in names}
    except Exception:  # one unreadable branch spoils the lot: ask one at a time
        out: dict[str, tuple[Any, str]] = {}
        for name in names:
            try:
                out[name] = (ttree.arrays([name], entry_stop=0, library="ak")[name].type.content, "")
            except Exception as exc:
                out[name] = (None, f"uproot cannot read it ({type(exc).__name__})")
        return out


def _kinds(ttree: Any, names: list[str]) -> dict[str, tuple[str, np.dtype | None, tuple[int, ...], str]]:
    kinds: dict[str, tuple[str, np.dtype | None, tuple[int, ...], str]] = {}
    readable = []
    for name in names:
        subs = None if "RNTuple" in type(ttree).__name__ else ttree[name].branches
        if subs:
            kinds[name] = ("", None, (), f"an object split into {len(subs)} sub-branches")
        else:
            readable.append(name)
    for name, (tp, reason) in _types(ttree, readable).items():
        kinds[name] = classify(tp) if tp is not None else ("", None, (), reason)
    return {n: kinds[n] for n in names}


def _counter(ttree: Any, name: str, kinds: dict[str, Any]) -> str | None:
    """The counter branch of a C-style jagged branch (``x[n]``), or None (``std::vector``, or not found)."""
    if "RNTuple" in type(ttree).__name__:
        return None
    branch = ttree[name]
    counter = branch.count_branch.name if getattr(branch, "count_branch", None) is not None else None
    if counter is None:  # files written by uproot link the counter only through the leaf's fLeafCount
        try:
            leaves = branch.member("fLeaves")
            count_leaf = leaves[0].member("fLeafCount") if leaves else None
            counter = count_leaf.member("fName") if count_leaf is not None else None
        except Exception:
            counter = None
    if counter is None or counter not in kinds:
        return None
    kind, dtype, _, _ = kinds[counter]
    return counter if kind == FLAT and dtype is not None and dtype.kind in "iu" else None


def _length_groups(ttree: Any, names: list[str], entries: int) -> list[list[str]]:
    """Branches with the same number of entries in every event, in groups (a pass over the tree)."""
    if not names:
        return []
    digests = {n: hashlib.sha256() for n in names}
    block = max(1, _PLAN_BLOCK // _GROUP_BRANCHES)
    for start in range(0, entries, block):
        stop = min(start + block, entries)
        for first in range(0, len(names), _GROUP_BRANCHES):  # a few branches at a time: bounded memory
            batch = names[first : first + _GROUP_BRANCHES]
            arrays = ttree.arrays(batch, entry_start=start, entry_stop=stop, library="ak")
            for name in batch:
                digests[name].update(ak.to_numpy(ak.num(arrays[name], axis=1)).astype("<i8").tobytes())
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:  # equal lengths and a common family (``jet_`` and ``el_`` stay apart by chance)
        family = re.split(r"[_:.]", name, maxsplit=1)[0]
        groups.setdefault((digests[name].hexdigest(), family), []).append(name)
    return list(groups.values())


def _refuse_named(bad: dict[str, str], patterns: Sequence[str] | None, what: str) -> None:
    named = [n for n in bad if patterns and n in patterns]
    if named:
        listing = "; ".join(f"{n}: {bad[n]}" for n in named)
        raise BaleInputError(f"bale cannot code {what} {listing}; leave them out of --branches")


def layout_of(
    ttree: Any,
    patterns: Sequence[str] | None = None,
    *,
    keep_rest: bool = False,
    strict: bool = True,
    classname: str = "TTree",
) -> EventLayout:
    """The main table and collections of a tree for the branches matching ``patterns`` (all if None).

    With ``keep_rest``, every other readable branch is read too (the caller codes it
    losslessly). Branches bale cannot code are an error when named exactly, and listed in
    :attr:`EventLayout.skipped` when a glob (or no selection) matched them.
    """
    is_rntuple = "RNTuple" in type(ttree).__name__
    if is_rntuple:
        names = [k for k in ttree.keys() if "." not in k.rsplit(":", 1)[-1]]  # noqa: SIM118 - top-level fields
    else:
        names = [b.name for b in ttree.branches]
    repeated = {n for n, k in Counter(names).items() if k > 1}  # uproot reads only the first of two equal names
    names = list(dict.fromkeys(names))
    kinds = _kinds(ttree, [n for n in names if n not in repeated])
    kinds.update(dict.fromkeys(repeated, ("", None, (), "several branches of the tree have this name")))
    for n in names:  # names some writer could not hold exactly (docs/reliability.md)
        problem = name_problem(n)
        if problem is not None:
            kinds[n] = ("", None, (), f"its name: {problem}")
    selected = _select(names, patterns, strict=strict)
    bad = {n: kinds[n][3] for n in names if not kinds[n][0]}
    _refuse_named(bad, patterns, "branch(es)")
    chosen = [n for n in selected if n not in bad]
    counter_of = {n: _counter(ttree, n, kinds) for n in names if kinds[n][0] == JAGGED}
    wanted = [n for n in names if n not in bad] if keep_rest else chosen
    needed = {counter_of[n] for n in wanted if counter_of.get(n)}
    wanted = [n for n in names if n in set(wanted) | needed]
    skipped = {n: r for n, r in bad.items() if not patterns or n in selected or keep_rest}
    entries = int(ttree.num_entries)
    taken = set(names)
    counters: dict[str, str] = {}
    collection_of: dict[str, str] = {}
    by_counter: dict[str, list[str]] = {}
    for n in wanted:
        if counter_of.get(n):
            by_counter.setdefault(counter_of[n] or "", []).append(n)
    for counter, members in by_counter.items():
        cname = collection_name(members, counter, taken)
        taken.add(cname)
        counters[cname] = counter
        collection_of.update(dict.fromkeys(members, cname))
    uncounted = [n for n in wanted if kinds[n][0] in (JAGGED, JAGGED2) and not counter_of.get(n)]
    synthetic: list[str] = []

    def add_synthetic(cname: str) -> None:
        counter = unique_name(f"n{cname}", taken)
        taken.add(counter)
        counters[cname] = counter
        synthetic.append(counter)

    for members in _length_groups(ttree, uncounted, entries):
        cname = collection_name(members, None, taken)
        taken.add(cname)
        add_synthetic(cname)
        collection_of.update(dict.fromkeys(members, cname))
    specs: list[BranchSpec] = []
    for n in wanted:
        kind, dtype, shape, _ = kinds[n]
        values = None
        if kind == JAGGED2:
            values = unique_name(n, taken)
            taken.add(values)
            add_synthetic(values)
        typename, title = ("", "") if is_rntuple else (_typename(ttree, n), _title(ttree, n))
        specs.append(BranchSpec(n, kind, str(dtype), typename, title, shape, collection_of.get(n), values))
    exact_names = {c for s in specs if s.name not in set(chosen) | needed for c in s.columns}
    if is_rntuple:
        kind, title = "rntuple", ""
    else:
        kind, title = "ttree", str(ttree.title)
    layout = EventLayout(ttree.name, title, entries, specs, counters, synthetic, [], skipped, kind, classname)
    layout.kept = [c for c in layout.branches if c in exact_names]
    return layout


def _typename(ttree: Any, name: str) -> str:
    try:
        return str(ttree[name].typename)
    except Exception:
        return ""


def _title(ttree: Any, name: str) -> str:
    try:
        return str(ttree[name].title)
    except Exception:
        return ""


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


def _synthetic_sources(layout: EventLayout) -> dict[str, tuple[str, bool]]:
    """Counter bale adds -> (the branch it is counted from, whether it counts inner values of a jagged2)."""
    out: dict[str, tuple[str, bool]] = {}
    for cname, counter in layout.counters.items():
        if counter not in layout.synthetic:
            continue
        for spec in layout.specs:
            if spec.collection == cname:
                out[counter] = (spec.name, False)
                break
            if spec.values == cname:
                out[counter] = (spec.name, True)
                break
    return out


def _count(values: Any, inner: bool) -> np.ndarray:
    per_event = ak.sum(ak.num(values, axis=2), axis=1) if inner else ak.num(values, axis=1)
    counts: np.ndarray = ak.to_numpy(per_event).astype(np.int64)
    return counts


def _plan(ttree: Any, layout: EventLayout, entries: int, step_rows: int) -> list[tuple[int, int]]:
    """The steps of the first ``entries`` events, planned a block of events at a time.

    Steps do not cross block boundaries, so memory stays bounded by one block of counts
    however many events the file holds.
    """
    if not layout.counters:
        return plan_steps([], entries, step_rows)
    sources = _synthetic_sources(layout)
    real = [c for c in dict.fromkeys(layout.counters.values()) if c not in sources]
    steps: list[tuple[int, int]] = []
    for start in range(0, entries, _PLAN_BLOCK):
        stop = min(start + _PLAN_BLOCK, entries)
        counts = []
        if real:
            arrays = ttree.arrays(real, entry_start=start, entry_stop=stop, library="np")
            counts += [np.asarray(arrays[c]).astype(np.int64) for c in real]
        for branch, inner in sources.values():
            counts.append(_count(ttree.arrays([branch], entry_start=start, entry_stop=stop)[branch], inner))
        steps += [(start + a, start + b) for a, b in plan_steps(counts, stop - start, step_rows)]
    return steps


def _numbers(values: Any, dtype: str) -> np.ndarray:
    return native(np.asarray(ak.to_numpy(values))).astype(dtype, copy=False)


def _columns(spec: BranchSpec, values: np.ndarray) -> dict[str, np.ndarray]:
    if not spec.shape:
        return {spec.name: values}
    flat = values.reshape(len(values), -1)
    return {c: np.ascontiguousarray(flat[:, i]) for i, c in enumerate(spec.columns)}


def _piece(arrays: Any, layout: EventLayout) -> Dataset:
    """One step's arrays as a dataset (every count checked against its counter)."""
    main: dict[str, np.ndarray] = {}
    tables: dict[str, dict[str, np.ndarray]] = {c: {} for c in layout.counters}
    synthetic = {c: _count(arrays[b], inner) for c, (b, inner) in _synthetic_sources(layout).items()}
    dtypes = layout.dtypes
    for spec in layout.specs:
        if spec.kind in (FLAT, ARRAY):
            main.update(_columns(spec, _numbers(arrays[spec.name], spec.dtype)))
    for counter, counts in synthetic.items():
        main[counter] = counts.astype(dtypes[counter])
    for spec in layout.specs:
        if spec.kind not in (JAGGED, JAGGED2):
            continue
        values = arrays[spec.name]
        cname = spec.collection or ""
        counter = layout.counters[cname]
        if not np.array_equal(ak.to_numpy(ak.num(values, axis=1)), main[counter]):
            raise BaleInputError(f"branch {spec.name!r} does not have {counter} entries per event")
        objects = ak.flatten(values, axis=1)
        if spec.kind == JAGGED:
            tables[cname].update(_columns(spec, _numbers(objects, spec.dtype)))
        else:
            tables[cname][spec.sizes_column] = ak.to_numpy(ak.num(objects, axis=1)).astype(np.int32)
            tables[spec.values or ""].update(_columns(spec, _numbers(ak.flatten(objects, axis=1), spec.dtype)))
    ordered = {MAIN: Table({n: main[n] for n in layout.flat})}
    for cname, members in layout.collections.items():
        ordered[cname] = Table({c: tables[cname][c] for c in members})
    return Dataset(ordered, dict(layout.counters), layout.source())


def open_layout(
    f: Any,
    path: Path,
    patterns: Sequence[str] | None = None,
    *,
    tree: str | None = None,
    keep_rest: bool = False,
    strict: bool = True,
) -> EventLayout:
    """The layout of ``tree`` (or the file's one tree) of an open file."""
    name = _pick_tree(f, path, tree)
    classname = tree_paths(f).get(name, "TTree")
    layout = layout_of(f[name], patterns, keep_rest=keep_rest, strict=strict, classname=classname)
    layout.tree = name  # its path in the file
    return layout


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
    ``layout`` from an earlier call saves working it out again (slow for wide trees).
    """
    path = Path(path)
    try:
        with uproot.open(path, array_cache=None) as f:  # nothing cached: memory stays with the step
            if layout is None:
                layout = open_layout(f, path, patterns, tree=tree, keep_rest=keep_rest)
            entries = layout.num_entries if max_events is None else min(max_events, layout.num_entries)
            steps = _plan(f[layout.tree], layout, entries, step_rows)
    except BaleInputError:
        raise
    except Exception as exc:
        raise BaleInputError(f"cannot read {path} as ROOT: {exc}") from exc
    final = layout

    def pieces() -> Iterator[Dataset]:
        with uproot.open(path, array_cache=None) as f:
            ttree = f[final.tree]
            for start, stop in steps:
                yield _piece(_read_step(ttree, final, start, stop, path), final)

    log.debug("%s: %d events in %d steps, %d collections", path, entries, len(steps), len(layout.counters))
    return layout, pieces()


def _read_step(ttree: Any, layout: EventLayout, start: int, stop: int, path: Path) -> Any:
    """The branches of entries ``start`` to ``stop``; a branch uproot cannot read is named in one line."""
    try:
        return ttree.arrays(layout.read, entry_start=start, entry_stop=stop, library="ak")
    except Exception:
        broken = []
        for name in layout.read:  # which ones: each alone
            try:
                ttree.arrays([name], entry_start=start, entry_stop=stop, library="ak")
            except Exception as exc:
                broken.append(f"{name} ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})")
        raise BaleInputError(
            f"{path}: tree {layout.tree}: uproot cannot read entries {start}-{stop - 1} of "
            f"{'; '.join(broken) or 'its branches'}; leave them out with --branches"
        ) from None


def empty_dataset(layout: EventLayout) -> Dataset:
    """The tree's structure with no events."""
    dtypes = layout.dtypes
    tables = {MAIN: Table({n: np.zeros(0, dtypes[n]) for n in layout.flat})}
    for cname, members in layout.collections.items():
        tables[cname] = Table({b: np.zeros(0, dtypes[b]) for b in members})
    return Dataset(tables, dict(layout.counters), layout.source())


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
    return Dataset.concat(parts) if parts else empty_dataset(layout)
