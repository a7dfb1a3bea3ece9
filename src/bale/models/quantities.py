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
- ``pt(px,py)``: ``hypot(px, py)``;
- ``pairmass(...)``, of a collection (jagged) in either form: the mass of the sum of the first
  two objects of every event with two or more (NanoAOD sorts by pt: the leading pair), one
  value per pair; ``(pt, eta, phi, m)`` become ``px = pt·cos φ``, ``py = pt·sin φ``,
  ``pz = pt·sinh η``, ``E = sqrt(p² + m·|m|)``.

``mass`` and ``pairmass`` read their form from the names: ``(pt, eta, phi, m)`` when the second
and third end in ``eta`` and ``phi``; ``mass_epxpypz``, ``mass_ptetaphim``,
``pairmass_epxpypz`` and ``pairmass_ptetaphim`` name the form outright.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from bale.bounds import FUNCTIONS, PAIR_FUNCTIONS, Bound, QuantitySpec, parse_bound, parse_quantity, resolve_quantities
from bale.errors import BaleFormatError
from bale.models.predictor_kinds import CODED, KIND_GRID, PredictorSpec

__all__ = [
    "FUNCTIONS",
    "PAIR_FUNCTIONS",
    "QuantityPlan",
    "QuantitySpec",
    "pair_starts",
    "parse_quantity",
    "quantity_values",
    "resolve_quantities",
]


def pair_starts(counts: np.ndarray, n: int) -> np.ndarray:
    """The first row of every event with at least two objects: where its leading pair starts."""
    counts = np.asarray(counts, dtype=np.int64)
    if int(counts.sum()) != n or (counts < 0).any():
        raise BaleFormatError(f"the event counts add up to {int(counts.sum())} objects, not {n}")
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return offsets[counts >= 2]


def _cartesian(function: str, x: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    """``(E, px, py, pz)`` of four-vectors given in the function's form."""
    if not function.endswith("_ptetaphim"):
        return x
    pt, eta, phi, m = x
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.sqrt(px * px + py * py + pz * pz + m * np.abs(m)), px, py, pz


def quantity_values(function: str, columns: Sequence[np.ndarray], starts: np.ndarray | None = None) -> np.ndarray:
    """The quantity, in float64, from its columns (original or decoded): the formula the bound is about.

    A pair mass has one value per pair: the objects at rows ``starts`` and ``starts + 1``.
    """
    with np.errstate(all="ignore"):
        x = [np.asarray(c).astype(np.float64) for c in columns]
        if function in PAIR_FUNCTIONS:
            if starts is None:
                raise BaleFormatError(f"{function} needs the events' object counts")
            e1, x1, y1, z1 = _cartesian(function, [c[starts] for c in x])
            e2, x2, y2, z2 = _cartesian(function, [c[starts + 1] for c in x])
            e, px, py, pz = e1 + e2, x1 + x2, y1 + y2, z1 + z2
            m2 = e * e - (px * px + py * py + pz * pz)
            pair_mass: np.ndarray = np.copysign(np.sqrt(np.abs(m2)), m2)
            return pair_mass
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
    predictor: PredictorSpec = field(default_factory=lambda: PredictorSpec(kind=KIND_GRID))

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
                cast(PredictorSpec, dict(data["predictor"])),
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
