"""ROOT files as one flat table: the flat branches of one tree, read by bale's one ROOT reader.

Reading goes through :mod:`bale.io.root_events` (tree choice, branch types, ``Double32_t``,
fixed-size arrays, big-endian data), so a table and an event dataset of the same file see
the same branches the same way. A tree with jagged collections is not a table: it is read
as events (``bale.compress`` codes its collections; ``bale.io.root_events.read_dataset``).
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import numpy as np
import uproot

from bale.errors import BaleInputError
from bale.io._common import same_format, select_columns
from bale.io.root_branches import pick_tree
from bale.io.root_events import open_layout, read_dataset
from bale.table import MAIN, Table

log = logging.getLogger(__name__)

DEFAULT_TREE = "events"
_CHUNK_ROWS = 1 << 20


def read(path: Path, columns: list[str] | None, tree: str | None = None) -> Table:
    """Read the flat numeric branches of one tree (all, or ``columns`` in that order).

    What the tree holds is checked on its layout, before any entry is read.
    """
    patterns = [glob.escape(c) for c in columns] if columns else None  # names, not globs
    with uproot.open(path) as f:
        name = pick_tree(f, path, tree)
        select_columns([str(k) for k in f[name].keys(recursive=False)], columns)  # every format's message
        layout = open_layout(f, path, patterns, tree=name)
    for branch, reason in layout.skipped.items():  # nothing left out silently: every branch, or why not
        raise BaleInputError(f"column {branch!r} has type {reason}; bale compresses numeric columns only")
    if layout.collections:
        raise BaleInputError(
            f"{path}: tree {name!r} has jagged collections ({', '.join(layout.collections)}), which a flat table "
            "cannot hold: compress the file as events (bale compress), or read it with "
            "bale.io.root_events.read_dataset"
        )
    table = read_dataset(path, layout=layout).tables[MAIN]
    names = select_columns(table.names, columns)
    log.debug("read %d branches x %d entries of %s from %s", len(names), len(table), name, path)
    return Table({n: table.columns[n] for n in names}, {"format": "root", "tree": name, "title": layout.title})


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
