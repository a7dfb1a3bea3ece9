"""Bounds on quantities computed from several columns: the invariant mass of a four-vector, pt.

A per-column bound does not protect what an analysis computes from several columns: the
mass rebuilt from ``(E, px, py, pz)``, each within ``rel=1e-3``, can be off by several
per cent (``δm/m ≈ (E/m)²·δE/E``). A *quantity* is declared like a column bound,
``mass(energy,px,py,pz):rel=1e-3``, and holds on every row like one: the encoder computes
it on the values the decoder will produce and codes the components otherwise where it
would break (``models/quantity_coding.py``; docs/codec.md, "Bounds on derived quantities").

Built in (the formula is the definition of the guarantee; float64 from the stored values):

- ``mass(E,px,py,pz)``: ``m² = E² − (px² + py² + pz²)``, ``m = sign(m²)·sqrt(|m²|)`` (ROOT's
  convention for a spacelike vector);
- ``mass(pt,eta,phi,m)``: the mass of a four-vector in these coordinates is ``m`` itself: its
  bound is a column bound on ``m`` (the same guarantee, with nothing to rebuild);
- ``pt(px,py)``: ``hypot(px, py)``.

``mass`` reads its form from the names: ``(pt, eta, phi, m)`` when the second and third end
in ``eta`` and ``phi``; ``mass_epxpypz`` and ``mass_ptetaphim`` name the form outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.bounds import Bound, parse_bound
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError

__all__ = [
    "FUNCTIONS",
    "QuantityPlan",
    "QuantitySpec",
    "parse_quantity",
    "quantity_values",
    "resolve_quantities",
]

# function -> number of columns; the canonical forms (what a plan stores)
FUNCTIONS: dict[str, int] = {"mass_epxpypz": 4, "mass_ptetaphim": 4, "pt": 2}
_ALIASES = {"mass": 4}
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*(?::\s*(.+?))?\s*$")
CODED = ("grid", "delta", "relation", "learned")  # predictors the coded value of a quantity may use


@dataclass(frozen=True)
class QuantitySpec:
    """A declared quantity: a built-in function of columns and its pointwise bound."""

    function: str  # a key of FUNCTIONS
    inputs: tuple[str, ...]
    bound: Bound

    @property
    def label(self) -> str:
        """``mass(energy,px,py,pz)``: how it is written, without the bound."""
        return f"{_shown(self.function)}({','.join(self.inputs)})"

    def __str__(self) -> str:
        return f"{self.label}:{self.bound}"


def _shown(function: str) -> str:
    return "mass" if function.startswith("mass_") else function


def _form(inputs: Sequence[str]) -> str:
    """``mass``'s form from its columns' names."""
    eta, phi = inputs[1].lower(), inputs[2].lower()
    return "mass_ptetaphim" if eta.endswith("eta") and phi.endswith("phi") else "mass_epxpypz"


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
    function = _form(inputs) if name == "mass" else name
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


def quantity_values(function: str, columns: Sequence[np.ndarray]) -> np.ndarray:
    """The quantity, in float64, from its columns (original or decoded): the formula the bound is about."""
    with np.errstate(all="ignore"):
        x = [np.asarray(c).astype(np.float64) for c in columns]
        if function == "mass_epxpypz":
            e, px, py, pz = x
            m2 = e * e - (px * px + py * py + pz * pz)
            return np.copysign(np.sqrt(np.abs(m2)), m2)
        if function == "mass_ptetaphim":
            return x[3]
        if function == "pt":
            return np.hypot(x[0], x[1])
    raise BaleFormatError(f"unknown quantity function {function!r}")


@dataclass
class QuantityPlan:
    """How one quantity is kept in bound, stored in the model.

    ``derived``: the component whose section codes the quantity (it comes after the others
    in the coding order). ``mode``: ``"value"`` codes the quantity itself and rebuilds the
    derived component from it (``E = sqrt(m² + p²)``); ``"check"`` codes the derived
    component as usual (``predictor``) and only patches the rows where the quantity breaks.
    ``predictor``: of the coded value (the quantity in ``value`` mode, the column in ``check``).
    """

    function: str
    inputs: list[str]
    bound: Bound
    derived: str
    mode: str  # "value" or "check"
    predictor: dict[str, Any] = field(default_factory=lambda: {"kind": "grid"})

    @property
    def spec(self) -> QuantitySpec:
        return QuantitySpec(self.function, tuple(self.inputs), self.bound)

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "inputs": list(self.inputs),
            "bound": self.bound.to_json(),
            "derived": self.derived,
            "mode": self.mode,
            "predictor": self.predictor,
        }

    @classmethod
    def from_json(cls, data: Any) -> QuantityPlan:
        try:
            plan = cls(
                str(data["function"]),
                [str(i) for i in data["inputs"]],
                parse_bound(data["bound"]),
                str(data["derived"]),
                str(data["mode"]),
                dict(data["predictor"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, SyntaxError) as exc:
            raise BaleFormatError(f"bad quantity plan: {exc}") from None
        if plan.function not in FUNCTIONS or len(plan.inputs) != FUNCTIONS[plan.function]:
            raise BaleFormatError(f"bad quantity plan: unknown function {plan.function!r} or wrong inputs")
        if plan.derived not in plan.inputs or plan.mode not in ("value", "check") or plan.bound.mode == "exact":
            raise BaleFormatError(f"bad quantity plan for {plan.spec.label}")
        if plan.mode == "value" and (plan.function != "mass_epxpypz" or plan.derived != plan.inputs[0]):
            raise BaleFormatError(f"quantity {plan.spec.label}: only a mass rebuilds its energy")
        if plan.predictor.get("kind") not in CODED:
            raise BaleFormatError(f"quantity {plan.spec.label}: predictor {plan.predictor.get('kind')!r}")
        return plan
