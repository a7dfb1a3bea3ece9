"""How the branches of a ROOT tree map onto bale's tables: one :class:`BranchSpec` per branch.

Every branch whose values uproot reads as numbers is coded; its spec says how it becomes
columns and how the writer gives it back:

============ ======================================= ==============================================
kind         ROOT types                              columns
============ ======================================= ==============================================
``flat``     ``bool``, ``int8``…``uint64``,          one column of the main table
             ``float``, ``double``, ``Double32_t``,
             ``Float16_t``
``array``    ``float w[4]``, ``int a[2][3]``         one main-table column per element (``w[0]`` …)
``jagged``   ``float x[n]``, ``std::vector<T>``      a column of a collection table (one row per
                                                     object); fixed inner dims one column each
``jagged2``  ``std::vector<std::vector<T>>``         the inner sizes as a column of the outer
                                                     collection, the values as a collection of
                                                     their own
============ ======================================= ==============================================

Jagged branches with a counter branch (``Jet_pt[nJet]``) form one collection per counter.
Jagged branches without one (``std::vector<T>``) are grouped by equal lengths in every
event, over the whole tree, and counted by a counter bale adds (``n<collection>``). A
collection is named after its branches' common prefix (``jet_pt``, ``jet_eta`` → ``jet``)
and never after a branch of the tree. Branches of other types (strings, objects, structs,
deeper nesting) are listed in :attr:`EventLayout.skipped` with the reason.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from itertools import product
from typing import Any

import awkward as ak
import numpy as np

from bale.errors import BaleFormatError
from bale.table import MAIN

__all__ = [
    "DEFAULT_TREE",
    "FLAT",
    "BranchSpec",
    "EventLayout",
    "classify",
    "collection_name",
    "element_names",
    "unique_name",
]

FLAT, ARRAY, JAGGED, JAGGED2 = "flat", "array", "jagged", "jagged2"
DEFAULT_TREE = "Events"  # the tree bale picks when a file holds several, and the name of one it writes
_KINDS = (FLAT, ARRAY, JAGGED, JAGGED2)
_MAX_DIMS = 4
_MAX_ELEMENTS = 4096  # elements of one fixed-size array branch that bale splits into columns


@dataclass(frozen=True)
class BranchSpec:
    """One branch of the file: how it is read into columns and written back."""

    name: str
    kind: str  # flat | array | jagged | jagged2
    dtype: str  # NumPy dtype of the values as uproot gives them back
    typename: str = ""  # the type in the file (``std::vector<float>``, ``Double32_t``, ``float[4]``)
    title: str = ""
    shape: tuple[int, ...] = ()  # fixed dims of each value (``array``, or a jagged branch of arrays)
    collection: str | None = None  # the table of its objects (jagged kinds)
    values: str | None = None  # jagged2: the collection of its innermost values

    @property
    def columns(self) -> list[str]:
        """The columns holding this branch's values (in its main table or collection)."""
        return element_names(self.name, self.shape)

    @property
    def sizes_column(self) -> str:
        """jagged2: the column of the outer collection with each inner vector's length."""
        return f"{self.name}#size"

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in (None, "", ())}
        if self.shape:
            out["shape"] = list(self.shape)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> BranchSpec:
        """A spec read from a file's header, checked before any writer trusts it."""
        if not isinstance(obj, dict):
            raise BaleFormatError("a branch in the header is not an object")
        try:
            spec = cls(
                name=_text(obj["name"]),
                kind=_text(obj["kind"]),
                dtype=_text(obj["dtype"]),
                typename=_text(obj.get("typename", "")),
                title=_text(obj.get("title", "")),
                shape=tuple(int(d) for d in obj.get("shape", ())),
                collection=None if obj.get("collection") is None else _text(obj["collection"]),
                values=None if obj.get("values") is None else _text(obj["values"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BaleFormatError(f"bad branch in the header: {exc!r}") from None
        dtype = np.dtype(spec.dtype) if spec.dtype in _DTYPES else None
        if (
            not spec.name
            or spec.kind not in _KINDS
            or dtype is None
            or len(spec.shape) > _MAX_DIMS
            or any(d < 1 for d in spec.shape)
            or int(np.prod(spec.shape, dtype=np.int64)) > _MAX_ELEMENTS
            or (spec.kind in (JAGGED, JAGGED2)) != (spec.collection is not None)
            or (spec.kind == JAGGED2) != (spec.values is not None)
        ):
            raise BaleFormatError(f"bad branch {spec.name[:40]!r} in the header")
        return spec


_DTYPES = {str(np.dtype(t)) for t in ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]}


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise TypeError("not a string")
    return value


def element_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """``w`` with shape (2,) → ``w[0]``, ``w[1]``; no shape → ``w``."""
    if not shape:
        return [name]
    return [name + "".join(f"[{i}]" for i in index) for index in product(*(range(d) for d in shape))]


@dataclass
class EventLayout:
    """Which branches of a tree are read, and how they group into a main table and collections."""

    tree: str  # its path in the file
    title: str
    num_entries: int
    specs: list[BranchSpec]  # the branches read, in the tree's order (counters included, as flat)
    counters: dict[str, str]  # collection -> its counter column in the main table
    synthetic: list[str] = field(default_factory=list)  # counters bale added; not written back as branches
    kept: list[str] = field(default_factory=list)  # columns read only because of keep_rest (coded exactly)
    skipped: dict[str, str] = field(default_factory=dict)  # branch -> why bale leaves it out
    kind: str = "ttree"  # or "rntuple"
    classname: str = "TTree"

    @property
    def flat(self) -> list[str]:
        """Columns of the main table: flat branches, array elements, counters (bale's included)."""
        out: list[str] = []
        for spec in self.specs:
            if spec.kind in (FLAT, ARRAY):
                out += spec.columns
        return out + [c for c in self.synthetic if c not in out]

    @property
    def collections(self) -> dict[str, list[str]]:
        """Collection -> its columns, in the order of the counters."""
        out: dict[str, list[str]] = {name: [] for name in self.counters}
        for spec in self.specs:
            if spec.kind == JAGGED:
                out[spec.collection or ""] += spec.columns
            elif spec.kind == JAGGED2:
                out[spec.collection or ""].append(spec.sizes_column)
                out[spec.values or ""] += spec.columns
        return out

    @property
    def branches(self) -> list[str]:
        """Every column of every table."""
        return self.flat + [c for members in self.collections.values() for c in members]

    @property
    def read(self) -> list[str]:
        """The branches read from the file."""
        return [s.name for s in self.specs]

    @property
    def dtypes(self) -> dict[str, str]:
        out = {c: s.dtype for s in self.specs for c in s.columns}
        out.update({s.sizes_column: "int32" for s in self.specs if s.kind == JAGGED2})
        out.update(dict.fromkeys(self.synthetic, "int32" if self.kind == "ttree" else "uint32"))
        return out

    def source(self) -> dict[str, Any]:
        """What a writer needs to give the tree back: name, title, class and every branch's spec."""
        source: dict[str, Any] = {
            "format": "root",
            "tree": self.tree,
            "title": self.title,
            "branches": [s.to_json() for s in self.specs],
            "synthetic_counters": list(self.synthetic),
        }
        if self.classname != "TTree":
            source["classname"] = self.classname
        if self.skipped:
            source["skipped"] = dict(self.skipped)
        if self.kind != "ttree":
            source["kind"] = self.kind
        return source


def classify(tp: Any) -> tuple[str, np.dtype | None, tuple[int, ...], str]:
    """(kind, dtype, fixed dims, reason) of one entry's awkward type; kind ``""`` when bale cannot code it."""
    if isinstance(tp, ak.types.OptionType):
        return "", None, (), "values may be missing (option type)"
    depth = 0
    while isinstance(tp, ak.types.ListType):
        depth += 1
        tp = tp.content
    shape: list[int] = []
    while isinstance(tp, ak.types.RegularType):
        shape.append(tp.size)
        tp = tp.content
    if isinstance(tp, ak.types.ListType):
        return "", None, (), "variable-length lists inside fixed-size arrays"
    if isinstance(tp, ak.types.RecordType):
        fields = ", ".join(tp.fields) if tp.fields else "no fields"
        return "", None, (), f"records ({fields[:60]})"
    if not isinstance(tp, ak.types.NumpyType) or tp.parameters.get("__array__") in ("char", "byte"):
        what = "strings" if "string" in str(tp) or "char" in str(tp) else f"values of type {str(tp)[:60]}"
        return "", None, (), what
    dtype = np.dtype(ak.types.numpytype.primitive_to_dtype(tp.primitive))
    if dtype.kind not in "biuf" or dtype.itemsize > 8 or (dtype == np.float16 and depth):
        return "", None, (), f"dtype {dtype}"
    if len(shape) > _MAX_DIMS or int(np.prod(shape, dtype=np.int64)) > _MAX_ELEMENTS:
        return "", None, (), f"fixed-size arrays of shape {tuple(shape)} (more than {_MAX_ELEMENTS} elements)"
    if depth > 2 or (depth == 2 and shape):
        return "", None, (), f"lists nested {depth} deep"
    kind = {0: ARRAY if shape else FLAT, 1: JAGGED, 2: JAGGED2}[depth]
    return kind, dtype.newbyteorder("="), tuple(shape), ""


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted`` with underscores appended until no name in ``taken`` is hit."""
    name = wanted
    while name in taken or name == MAIN:
        name += "_"
    return name


def collection_name(members: list[str], counter: str | None, taken: set[str]) -> str:
    """The collection of ``members``: their common prefix up to the last ``_``, else the counter's name.

    ``Jet_pt``, ``Jet_eta`` → ``Jet``; ``LHEPdfWeight`` counted by ``nLHEPdfWeight`` →
    ``LHEPdfWeight_`` (a collection is never named as a branch: uproot would merge them).
    """
    prefix = os.path.commonprefix(members)  # noqa: RUF071 - branch names, not paths
    prefix = prefix[: max(prefix.rfind(sep) for sep in "_:.")] if any(sep in prefix for sep in "_:.") else ""
    for candidate in (prefix.rstrip("_:."), (counter or "")[1:] if (counter or "")[:1] in "nN" else "", members[0]):
        if candidate:
            return unique_name(candidate, taken)
    return unique_name("collection", taken)
