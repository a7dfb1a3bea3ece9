"""Per-column error bounds: parsing, defaults and the check that every value honours them.

A bound is written ``rel=1e-3`` (pointwise: ``|x' - x| <= 1e-3 * |x|``), ``abs=0.01``
(``|x' - x| <= 0.01``) or ``exact`` (bit-exact). A per-column override is written
``COLUMN:BOUND`` (``mass:rel=1e-4``). Integer and bool columns are always exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bale.errors import BaleConfigError, BaleInputError

__all__ = [
    "FUNCTIONS",
    "PAIR_FUNCTIONS",
    "Bound",
    "FieldBound",
    "QuantitySpec",
    "check_bound",
    "parse_bound",
    "parse_bound_options",
    "parse_field_bound",
    "parse_field_spec",
    "parse_quantity",
    "resolve_bounds",
    "resolve_quantities",
    "violations",
]

Mode = Literal["rel", "abs", "exact"]


@dataclass(frozen=True)
class Bound:
    mode: Mode
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("rel", "abs", "exact"):
            raise BaleConfigError(f"unknown bound mode {self.mode!r}: use rel=X, abs=X or exact")
        if self.mode != "exact" and not (math.isfinite(self.value) and self.value > 0):
            raise BaleConfigError(f"{self.mode} bound must be a positive finite number, got {self.value!r}")
        if self.mode == "rel" and self.value >= 1:
            raise BaleConfigError(f"rel bound must be below 1, got {self.value!r}")

    def __str__(self) -> str:
        return "exact" if self.mode == "exact" else f"{self.mode}={self.value:g}"

    def to_json(self) -> str:
        return "exact" if self.mode == "exact" else f"{self.mode}={self.value!r}"


def parse_bound(text: str) -> Bound:
    """Parse ``rel=X``, ``abs=X`` or ``exact``."""
    spec = text.strip().lower().replace(" ", "")
    if spec in ("exact", "lossless"):
        return Bound("exact")
    mode, sep, number = spec.partition("=")
    if not sep or mode not in ("rel", "abs"):
        raise BaleConfigError(f"bad error bound {text!r}: expected rel=X, abs=X or exact")
    try:
        value = float(number)
    except ValueError:
        raise BaleConfigError(f"bad error bound {text!r}: {number!r} is not a number") from None
    return Bound(mode, value)  # type: ignore[arg-type]


def parse_field_spec(text: str) -> Bound | float:
    """The bound of N-D fields as written: ``abs=X`` or ``rel=X`` (a :class:`Bound`), or ``range=X``
    (the fraction ``X`` of the value range, resolved against the data by :func:`parse_field_bound`).

    The one parser of ``range=`` (the configuration checks ``grid.error`` with it, the grid codec
    resolves with it); fields are coded lossy, so ``exact`` is refused.
    """
    spec = text.strip().lower().replace(" ", "")
    mode, _, number = spec.partition("=")
    if mode != "range":
        bound = parse_bound(spec)
        if bound.mode == "exact":
            raise BaleConfigError("grids are coded lossy: give abs=X, rel=X or range=X (use a table for exact)")
        return bound
    try:
        fraction = float(number)
    except ValueError:
        raise BaleConfigError(f"bad error bound {text!r}: {number!r} is not a number") from None
    if not (math.isfinite(fraction) and fraction > 0):
        raise BaleConfigError(f"range bound must be a positive finite number, got {text!r}")
    return fraction


@dataclass(frozen=True)
class FieldBound:
    """A field's bound as given (``spec``: ``range=1e-3``, ``abs=…``, ``rel=…``) and as coded (``bound``)."""

    spec: str
    bound: Bound


def parse_field_bound(text: str, values: np.ndarray | None = None) -> FieldBound:
    """``abs=X``, ``rel=X`` or ``range=X`` (``abs = X·(max − min)`` of the finite values of ``values``)."""
    parsed = parse_field_spec(text)
    if isinstance(parsed, Bound):
        return FieldBound(text.strip().lower().replace(" ", ""), parsed)
    if values is None:
        raise BaleConfigError("a range bound needs the data to resolve")
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.asarray(values, dtype=np.float64)[np.isfinite(values)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
    if not np.isfinite(span):
        raise BaleInputError("the value range of the grid overflows float64: give an abs bound")
    if span == 0.0:  # a constant grid: any positive bound codes it exactly on the lattice
        span = max(float(np.abs(finite).max()) if finite.size else 0.0, 1.0)
    return FieldBound(f"range={parsed!r}", Bound("abs", parsed * span))


def parse_bound_options(options: Iterable[str]) -> tuple[Bound | None, dict[str, Bound]]:
    """Split CLI ``--error`` values into a default bound and per-column overrides."""
    default: Bound | None = None
    per_column: dict[str, Bound] = {}
    for option in options:
        name, sep, spec = option.rpartition(":")
        if sep:
            if not name:
                raise BaleConfigError(f"bad error bound {option!r}: empty column name")
            per_column[name] = parse_bound(spec)
        else:
            default = parse_bound(option)
    return default, per_column


def resolve_bounds(
    dtypes: Mapping[str, np.dtype], default: Bound, per_column: Mapping[str, Bound] | None = None
) -> dict[str, Bound]:
    """The bound of every column: overrides, then the default for floats, exact for the rest."""
    per_column = dict(per_column or {})
    unknown = sorted(set(per_column) - set(dtypes))
    if unknown:
        raise BaleInputError(f"error bound given for unknown column(s) {unknown}; columns are {list(dtypes)}")
    bounds: dict[str, Bound] = {}
    for name, dtype in dtypes.items():
        if np.dtype(dtype).kind != "f":
            bound = per_column.get(name, Bound("exact"))
            if bound.mode != "exact":
                raise BaleInputError(f"column {name!r} is {np.dtype(dtype)}: integer and bool columns are exact")
        else:
            bound = per_column.get(name, default)
        bounds[name] = bound
    return bounds


def violations(original: np.ndarray, decoded: np.ndarray, bound: Bound) -> np.ndarray:
    """Boolean mask of values that break ``bound`` (NaN must stay NaN, ±0 and ±inf exact)."""
    if original.shape != decoded.shape:
        raise ValueError("shapes differ")
    if bound.mode == "exact" or original.dtype.kind != "f":
        a = np.ascontiguousarray(original)
        b = np.ascontiguousarray(decoded).astype(a.dtype)
        width = a.dtype.itemsize
        differ: np.ndarray = a.view(f"u{width}") != b.view(f"u{width}") if a.dtype.kind in "fiu" else a != b
        return differ
    with np.errstate(invalid="ignore"):  # signalling NaNs are compared by their bits below
        x = original.astype(np.float64)
        y = decoded.astype(np.float64)
    special = ~np.isfinite(x) | (x == 0)
    same_bits = original.view(f"u{original.dtype.itemsize}") == decoded.astype(original.dtype).view(
        f"u{original.dtype.itemsize}"
    )
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(y - x)
        limit = bound.value * np.abs(x) if bound.mode == "rel" else np.full_like(x, bound.value)
        bad = ~(err <= limit)
    bad[special] = ~same_bits[special]
    return bad


def check_bound(original: np.ndarray, decoded: np.ndarray, bound: Bound) -> int:
    """Number of values that violate ``bound``."""
    return int(violations(original, decoded, bound).sum())


# Bounds on quantities of several columns (models/quantities.py computes and codes them).
# function -> number of columns; the canonical forms (what a plan stores)
FUNCTIONS: dict[str, int] = {
    "mass_epxpypz": 4,
    "mass_ptetaphim": 4,
    "pt": 2,
    "pairmass_epxpypz": 4,  # the leading pair of a collection's objects in each event (jagged datasets)
    "pairmass_ptetaphim": 4,
}
PAIR_FUNCTIONS = ("pairmass_epxpypz", "pairmass_ptetaphim")
_ALIASES = {"mass": 4, "pairmass": 4}
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*(?::\s*(.+?))?\s*$")


@dataclass(frozen=True)
class QuantitySpec:
    """A declared quantity: a built-in function of columns and its pointwise bound."""

    function: str  # a key of FUNCTIONS
    inputs: tuple[str, ...]
    bound: Bound

    @property
    def label(self) -> str:
        """``mass(energy,px,py,pz)``: how it is written, without the bound."""
        alias = self.function.partition("_")[0]
        shown = alias if alias in _ALIASES and _form(alias, self.inputs) == self.function else self.function
        return f"{shown}({','.join(self.inputs)})"

    def __str__(self) -> str:
        return f"{self.label}:{self.bound}"


def _form(alias: str, inputs: Sequence[str]) -> str:
    """``mass``'s (or ``pairmass``'s) form from its columns' names: ``(pt, eta, phi, m)`` or ``(E, px, py, pz)``."""
    eta, phi = inputs[1].lower(), inputs[2].lower()
    return f"{alias}_ptetaphim" if eta.endswith("eta") and phi.endswith("phi") else f"{alias}_epxpypz"


def parse_quantity(text: str, default: Bound | None = None) -> QuantitySpec:
    """Parse ``mass(energy,px,py,pz):rel=1e-3``; without ``:BOUND`` the ``default`` bound (else an error)."""
    match = _SPEC.match(str(text))
    if match is None:
        raise BaleConfigError(f"bad quantity {text!r}: expected FUNCTION(COLUMN,...):BOUND, e.g. pt(px,py):rel=1e-3")
    name, args, bound_text = match.group(1), match.group(2), match.group(3)
    inputs = tuple(a.strip() for a in args.split(",")) if args.strip() else ()
    known = sorted({*_ALIASES, *FUNCTIONS})
    arity = _ALIASES.get(name, FUNCTIONS.get(name))
    if arity is None:
        raise BaleConfigError(f"bad quantity {text!r}: unknown function {name!r}; known: {', '.join(known)}")
    if len(inputs) != arity or not all(inputs):
        raise BaleConfigError(f"bad quantity {text!r}: {name} takes {arity} column names, got {len(inputs)}")
    if len(set(inputs)) != len(inputs):
        raise BaleConfigError(f"bad quantity {text!r}: a column is named twice")
    function = _form(name, inputs) if name in _ALIASES else name
    if bound_text is None:
        if default is None:
            raise BaleConfigError(f"bad quantity {text!r}: no bound; write {name}(...):rel=1e-3 or :abs=X")
        bound = default
    else:
        bound = parse_bound(bound_text)
    if bound.mode == "exact":
        raise BaleConfigError(f"bad quantity {text!r}: a quantity's bound is rel=X or abs=X (exact columns are exact)")
    return QuantitySpec(function, inputs, bound)


def resolve_quantities(texts: Sequence[str | QuantitySpec], dtypes: Mapping[str, np.dtype]) -> list[QuantitySpec]:
    """Parse and check every declared quantity against the columns: present, float, not declared twice."""
    specs: list[QuantitySpec] = []
    for text in texts:
        spec = text if isinstance(text, QuantitySpec) else parse_quantity(text)
        missing = [c for c in spec.inputs if c not in dtypes]
        if missing:
            raise BaleInputError(f"quantity {spec.label}: no column {missing[0]!r} in the table")
        ints = [c for c in spec.inputs if np.dtype(dtypes[c]).kind != "f"]
        if ints:
            raise BaleInputError(
                f"quantity {spec.label}: column {ints[0]!r} is {np.dtype(dtypes[ints[0]])}, not a float column"
            )
        if any((s.function, s.inputs) == (spec.function, spec.inputs) for s in specs):
            raise BaleInputError(f"quantity {spec.label} is declared twice")
        specs.append(spec)
    return specs
