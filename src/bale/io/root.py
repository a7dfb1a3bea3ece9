"""ROOT files through uproot: the flat branches of one TTree."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import uproot
from uproot.interpretation.jagged import AsJagged
from uproot.interpretation.numerical import Numerical
from uproot.interpretation.strings import AsStrings

from bale.errors import BaleInputError
from bale.io._common import check_numeric, native, same_format, select_columns
from bale.table import Table

log = logging.getLogger(__name__)

DEFAULT_TREE = "events"
_CHUNK_ROWS = 1 << 20


def _pick_tree(f: Any, path: Path, tree: str | None) -> str:
    trees: list[str] = list(dict.fromkeys(f.keys(recursive=True, cycle=False, filter_classname="TTree")))
    if tree is not None:
        if tree not in trees:
            raise BaleInputError(f"no TTree {tree!r} in {path}; trees: {', '.join(trees) or 'none'}")
        return tree
    if not trees:
        others = ", ".join(f"{k} ({v})" for k, v in f.classnames(cycle=False).items()) or "nothing"
        raise BaleInputError(f"no TTree in {path} (it holds {others}); RNTuples are not supported yet")
    if len(trees) > 1:
        raise BaleInputError(f"{path} holds several TTrees: {', '.join(trees)}; choose one with tree=")
    return trees[0]


def _check_branch(branch: Any) -> None:
    name = branch.name
    if branch.branches:
        raise BaleInputError(f"branch {name!r} has sub-branches; only flat branches are supported")
    interp = branch.interpretation
    if isinstance(interp, AsJagged):
        raise BaleInputError(f"branch {name!r} is jagged ({branch.typename}); jagged collections are not supported yet")
    if isinstance(interp, AsStrings):
        check_numeric(name, "string", False)
    if not isinstance(interp, Numerical):
        check_numeric(name, branch.typename or type(interp).__name__, False)
    dtype = np.dtype(interp.to_dtype)
    if dtype.shape != ():
        raise BaleInputError(f"branch {name!r} holds fixed-size arrays ({branch.typename}); not supported yet")
    check_numeric(name, str(dtype), dtype.kind in "biuf")


def read(path: Path, columns: list[str] | None, tree: str | None = None) -> Table:
    """Read the flat numeric branches of one TTree."""
    with uproot.open(path) as f:
        name = _pick_tree(f, path, tree)
        ttree = f[name]
        wanted = select_columns([b.name for b in ttree.branches], columns)
        for b in wanted:
            _check_branch(ttree[b])
        arrays = ttree.arrays(wanted, library="np") if wanted else {}
        source = {"format": "root", "tree": name, "title": ttree.title}
        log.debug("read %d branches x %d entries of %s from %s", len(wanted), ttree.num_entries, name, path)
    return Table({b: native(np.asarray(arrays[b])) for b in wanted}, source)


def write(table: Table, path: Path) -> None:
    """Write the table as one TTree (the source's name and title when it came from ROOT)."""
    src = table.source if same_format(table, "root") else {}
    for name, arr in table.columns.items():
        if arr.dtype == np.float16:
            raise BaleInputError(f"column {name!r} is float16, which ROOT cannot hold")
    with uproot.recreate(path) as f:
        tree = f.mktree(
            src.get("tree", DEFAULT_TREE),
            {n: a.dtype for n, a in table.columns.items()},
            title=src.get("title", ""),
        )
        for start in range(0, len(table), _CHUNK_ROWS):
            tree.extend({n: a[start : start + _CHUNK_ROWS] for n, a in table.columns.items()})
