"""ROOT trees of events (TTree, TNtuple, RNTuple), read and written in steps of whole events.

A tree such as NanoAOD's ``Events`` becomes a :class:`~bale.table.Dataset`: flat branches,
the elements of fixed-size arrays and the counters form the main table; jagged branches
form one table of objects per collection (``Jet``), see :mod:`bale.io.root_layout` for
how each branch type maps onto columns. Branches are chosen by name or glob (``Jet_*``);
the counter of a chosen jagged branch comes with it (:mod:`bale.io.root_branches`).

Reading and writing go in *steps* of whole events with a bounded number of rows, so
memory does not grow with the file (:func:`plan_steps`, :func:`iter_dataset`,
:func:`write_dataset`). The writer gives back every branch under its name, type and
title, with the limits of what uproot writes (``docs/root.md``):
``std::vector<T>`` becomes a C-style jagged array with a counter, ``Double32_t`` and
``Float16_t`` become ``double`` and ``float``, a TNtuple a TTree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from bale.errors import BaleInputError
from bale.io._common import native
from bale.io.root_branches import TREE_CLASSES, layout_of, pick_tree, tree_paths
from bale.io.root_layout import (
    ARRAY,
    FLAT,
    JAGGED,
    JAGGED2,
    BranchSpec,
    EventLayout,
)
from bale.io.root_write import write_dataset
from bale.table import MAIN, Dataset, Table

__all__ = [
    "TREE_CLASSES",
    "EventLayout",
    "iter_dataset",
    "layout_of",
    "plan_steps",
    "read_dataset",
    "tree_paths",
    "write_dataset",
]

log = logging.getLogger(__name__)

_PLAN_BLOCK = 1 << 20  # events whose counts are read at once to plan the steps


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
    name = pick_tree(f, path, tree)
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
    layout: EventLayout | None = None,
) -> Dataset:
    """The whole tree in memory (``layout``: one worked out already, see :func:`iter_dataset`)."""
    layout, pieces = iter_dataset(path, patterns, tree=tree, keep_rest=keep_rest, step_rows=1 << 22, layout=layout)
    parts = list(pieces)
    return Dataset.concat(parts) if parts else empty_dataset(layout)
