"""``.bale`` files as a lazy ``dask_awkward`` array: :func:`from_bale`, with column projection.

>>> import bale.dask
>>> events = bale.dask.from_bale("data/*.bale")                  # doctest: +SKIP
>>> dimuon = events.Muon_pt[events.nMuon == 2]                   # doctest: +SKIP
>>> dask_awkward.necessary_columns(dimuon)                       # doctest: +SKIP
{'from-bale-…': frozenset({'Muon_pt', 'nMuon'})}
>>> dimuon.compute()                                             # doctest: +SKIP

One partition per group of whole steps (the chunks the file was written in, across every
table of a tree), so no chunk is decoded twice. The fields are the branches (a table's
columns), with the types :func:`bale.open` gives. When the graph is computed, dask_awkward's
column optimization tells each partition which fields the analysis touches; the partition
then reads and decodes only those branches and the columns they are predicted from (their
closure, :meth:`bale.api.reading.BaleTree.closure`), through the same ranged reads as
:func:`bale.open` (paths and fsspec URLs).

Each partition opens its file itself (header, index and model, then its sections), so the
graph holds only paths and entry ranges and runs on the synchronous or threaded scheduler,
a ``dask.distributed`` local cluster or an existing scheduler.

Needs ``dask_awkward``: ``pip install 'bale[dask]'``.
"""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

import awkward as ak

from bale.api.reading import BaleTree, Filter
from bale.api.reading import open as bale_open
from bale.errors import BaleInputError

__all__ = ["BaleReadFn", "from_bale", "partitions"]

_INSTALL_HINT = "bale.dask needs dask_awkward: pip install 'bale[dask]'"
_GLOB_CHARS = frozenset("*?[")
Part = tuple[str, str | None, int, int]  # source, tree, first entry, stop entry


def _dak() -> Any:
    try:
        import dask_awkward
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise BaleInputError(_INSTALL_HINT) from exc
    return dask_awkward


def _sources(paths_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Paths and URLs, globs expanded (sorted); a glob that matches nothing is an error."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise BaleInputError(f"from_bale takes paths, URLs or globs, not {type(item).__name__}")
        text = os.fspath(item)
        if not _GLOB_CHARS.intersection(text):
            out.append(text)
            continue
        if "://" in text:
            import fsspec

            fs, _, matches = fsspec.get_fs_token_paths(text)
            found = [fs.unstrip_protocol(m) for m in sorted(matches)]
        else:
            found = sorted(_glob.glob(text))
        if not found:
            raise BaleInputError(f"no .bale file matches {text!r}")
        out.extend(found)
    if not out:
        raise BaleInputError("from_bale needs at least one file")
    return out


def _open(source: str, tree: str | None, model: Any) -> BaleTree:
    opened = bale_open(source, tree=tree, model=model, workers=1)
    if not isinstance(opened, BaleTree):
        names = ", ".join(opened.keys())
        opened.close()
        raise BaleInputError(f"{source} holds several trees ({names}): choose one with tree=")
    return opened


def partitions(tree: BaleTree, step_size: int | None) -> list[tuple[int, int]]:
    """Entry ranges of whole steps: one step each (``step_size=None``), or consecutive steps
    grouped while they hold at most ``step_size`` entries (a larger step stands alone)."""
    if step_size is not None and (isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1):
        raise BaleInputError(f"step_size must be a positive number of entries, not {step_size!r}")
    out: list[tuple[int, int]] = []
    for first, events in tree.steps():
        if out and step_size is not None and out[-1][1] == first and events + first - out[-1][0] <= step_size:
            out[-1] = (out[-1][0], first + events)
        else:
            out.append((first, first + events))
    return out


class BaleReadFn:
    """The partition reader given to ``dask_awkward.from_map``: reads the fields in ``columns``
    of one entry range, and implements dask_awkward's column-projection protocol
    (``project_columns``; ``mock``, ``prepare_for_projection``, ``necessary_columns`` and
    ``project`` from its ``ColumnProjectionMixin``)."""

    def __init__(
        self,
        form: ak.forms.Form,
        columns: Sequence[str],
        *,
        model: Any = None,
        behavior: Mapping[str, Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        original_form: ak.forms.Form | None = None,
    ) -> None:
        self.form = form
        self.columns = tuple(columns)
        self.model = model
        self.behavior = behavior
        self.attrs = attrs
        self.original_form = original_form

    @property
    def use_optimization(self) -> bool:
        return True

    def project_columns(self, columns: frozenset[str]) -> BaleReadFn:
        keep = [c for c in self.columns if c in columns]
        return type(self)(
            self.form.select_columns(keep),
            keep,
            model=self.model,
            behavior=self.behavior,
            attrs=self.attrs,
            original_form=self.original_form or self.form,
        )

    def __call__(self, part: Part) -> ak.Array:
        source, tree, start, stop = part
        with _open(source, tree, self.model) as t:
            if self.columns:
                layout = t.arrays(list(self.columns), entry_start=start, entry_stop=stop).layout
            else:
                layout = ak.contents.RecordArray([], [], length=stop - start)
        if self.original_form is not None:
            from dask_awkward.lib.unproject_layout import unproject_layout

            layout = unproject_layout(self.original_form, layout)
        return ak.Array(layout, behavior=self.behavior, attrs=self.attrs)


_PROJECTING: list[type] = []


def _projection_class() -> type:
    """:class:`BaleReadFn` with dask_awkward's ``ColumnProjectionMixin`` (made when first used, and
    reachable as ``bale.dask.BaleProjectingReadFn`` so that worker processes unpickle it by name)."""
    if not _PROJECTING:
        from dask_awkward.lib.io.columnar import ColumnProjectionMixin

        name = "BaleProjectingReadFn"
        _PROJECTING.append(type(name, (BaleReadFn, ColumnProjectionMixin), {"__module__": __name__}))
    return _PROJECTING[0]


def __getattr__(name: str) -> Any:
    if name == "BaleProjectingReadFn":
        return _projection_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_bale(
    paths_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    tree: str | None = None,
    filter_name: Filter = None,
    step_size: int | None = None,
    model: Any = None,
    behavior: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Any:
    """A ``dask_awkward.Array`` of the events (rows) of one or more ``.bale`` files.

    ``paths_or_glob``: a path, fsspec URL or glob, or a list of them (globs sorted). Every
    file must hold the same branches with the same types. ``tree``: the tree to read in
    whole-ROOT-file ``.bale`` files. ``filter_name``: the branches to expose (globs,
    ``/regex/`` or a predicate, as :meth:`BaleTree.keys`); all by default. ``step_size``:
    entries per partition, grouping whole steps (default: one step per partition). ``model``:
    the model file for files compressed without an embedded one.
    """
    dak = _dak()
    sources = _sources(paths_or_glob)
    parts: list[Part] = []
    form: ak.forms.Form | None = None
    columns: list[str] = []
    for source in sources:
        with _open(source, tree, model) as t:
            names = t.keys(filter_name)
            if not names:
                raise BaleInputError(f"no branch of {source} matches filter_name={filter_name!r}")
            this = t.arrays(names, entry_start=0, entry_stop=0).layout.form
            if form is None:
                form, columns = this, names
            elif names != columns or this != form:
                raise BaleInputError(
                    f"{source} does not hold the same branches and types as {sources[0]}: "
                    f"files read together must match"
                )
            parts.extend((source, tree, lo, hi) for lo, hi in partitions(t, step_size))
    assert form is not None
    if not parts:  # every file empty: one empty partition keeps a valid collection
        parts.append((sources[0], tree, 0, 0))
    divisions = [0]
    for _, _, lo, hi in parts:
        divisions.append(divisions[-1] + hi - lo)
    io_func = _projection_class()(form, columns, model=model, behavior=behavior, attrs=attrs)
    return dak.from_map(io_func, parts, label="from-bale", divisions=tuple(divisions))
