"""Which branches of a ROOT tree bale reads, and into which tables: :func:`layout_of`.

A tree's branches are chosen by name or glob (``Jet_*``); the counter of a chosen jagged
branch comes with it, and jagged branches without a counter are grouped by their lengths
into collections. What each branch type becomes is :mod:`bale.io.root_layout`'s; reading
the chosen branches in steps of events is :mod:`bale.io.root_events`'s.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from bale.errors import BaleInputError
from bale.io.root_layout import (
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
from bale.table import name_problem

__all__ = ["TREE_CLASSES", "layout_of", "pick_tree", "tree_paths"]

TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple")
#: Events whose jagged lengths are read at once when grouping branches without a counter.
GROUP_EVENTS = (1 << 20) // 32
_GROUP_BRANCHES = 32  # jagged branches read at once to group them by length


def tree_paths(f: Any) -> dict[str, str]:
    """Every tree of an open file: path -> class name, in the file's order (highest cycle only)."""
    classes = f.classnames(recursive=True, cycle=False)
    return {k: v for k, v in classes.items() if v in TREE_CLASSES}


def pick_tree(f: Any, path: Path, tree: str | None) -> str:
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
    block = max(1, GROUP_EVENTS)
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
