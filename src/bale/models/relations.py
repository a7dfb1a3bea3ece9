"""Closed-form relations between columns, found by search: the cheapest predictor there is.

HEP tables are full of exact identities: ``px = pt*cos(phi)``, ``pz = pt*sinh(eta)``,
``E = hypot(pt*cosh(eta), m)``, energy fractions that sum to one. A column that is such a
function of columns decoded before it costs about a bit per value when predicted by it.
The search tries every formula below on every combination of earlier columns and keeps
the one whose residuals would code smallest.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bale.bounds import Bound
from bale.codec.estimate import estimated_cost
from bale.codec.lossy import Prediction, domain_step, to_domain

__all__ = ["FORMULAS", "Relation", "evaluate", "relation_prediction", "search_relation"]

log = logging.getLogger(__name__)

Formula = Callable[..., np.ndarray]

FORMULAS: dict[str, tuple[int, Formula]] = {
    "a": (1, lambda a: a),
    "-a": (1, lambda a: -a),
    "a+b": (2, lambda a, b: a + b),
    "a-b": (2, lambda a, b: a - b),
    "a*b": (2, lambda a, b: a * b),
    "a/b": (2, lambda a, b: a / b),
    "1-a-b": (2, lambda a, b: 1.0 - a - b),
    "hypot(a,b)": (2, np.hypot),
    "atan2(a,b)": (2, np.arctan2),
    "a*cos(b)": (2, lambda a, b: a * np.cos(b)),
    "a*sin(b)": (2, lambda a, b: a * np.sin(b)),
    "a*sinh(b)": (2, lambda a, b: a * np.sinh(b)),
    "a*cosh(b)": (2, lambda a, b: a * np.cosh(b)),
    "a/cosh(b)": (2, lambda a, b: a / np.cosh(b)),
    "asinh(a/b)": (2, lambda a, b: np.arcsinh(a / b)),
    "sqrt(a^2+b^2+c^2)": (3, lambda a, b, c: np.sqrt(a * a + b * b + c * c)),
    "hypot(a*cosh(b),c)": (3, lambda a, b, c: np.hypot(a * np.cosh(b), c)),
    "asinh(c/hypot(a,b))": (3, lambda a, b, c: np.arcsinh(c / np.hypot(a, b))),
    "1-a-b-c": (3, lambda a, b, c: 1.0 - a - b - c),
}
_SYMMETRIC = {"a+b", "a*b", "hypot(a,b)", "sqrt(a^2+b^2+c^2)", "1-a-b", "1-a-b-c"}
MAX_PAIR_COLUMNS = 64
SCREEN_ROWS = 256
KEEP_AFTER_SCREEN = 6
MIN_GAIN_BITS = 2.0  # a relation must save this much over the fallback to be used
MAX_TRIPLE_COLUMNS = 24


@dataclass(frozen=True)
class Relation:
    formula: str
    inputs: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"formula": self.formula, "inputs": list(self.inputs)}


def evaluate(relation: Relation, decoded: Mapping[str, np.ndarray]) -> np.ndarray:
    _, fn = FORMULAS[relation.formula]
    args = [decoded[name].astype(np.float64) for name in relation.inputs]
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args), dtype=np.float64)


def relation_prediction(relation: Relation, decoded: Mapping[str, np.ndarray], bound: Bound) -> Prediction:
    linear = evaluate(relation, decoded)
    if bound.mode == "rel":
        with np.errstate(all="ignore"):
            return Prediction(value=np.log(np.abs(linear)), sign=np.where(linear < 0, -1, 1).astype(np.int8))
    return Prediction(value=linear)


def _screen_cost(target: np.ndarray, bound: Bound, prediction: Prediction) -> float:
    """A quick proxy for :func:`_cost` on few rows: mean log-size of the residuals."""
    domain = to_domain(target, bound)
    with np.errstate(all="ignore"):
        q = np.abs((domain - prediction.value) / domain_step(bound))
    q = np.where(np.isfinite(q), q, 2.0**40)
    return float(np.mean(np.log2(1.0 + q)))


def _evaluations(width: int) -> int:
    """How many formulas the search tries on ``width`` candidate columns."""
    per_arity = {1: width, 2: width * (width - 1), 3: width * (width - 1) * (width - 2)}
    return sum(
        per_arity[arity]
        for arity, _ in FORMULAS.values()
        if not (arity == 2 and width > MAX_PAIR_COLUMNS) and not (arity == 3 and width > MAX_TRIPLE_COLUMNS)
    )


def _window(names: list[str], max_evaluations: int) -> list[str]:
    """The most recently decoded candidates, as many as the evaluation budget allows (wide tables)."""
    width = len(names)
    while width > 1 and _evaluations(width) > max_evaluations:
        width -= 1
    return names[len(names) - width :]


def search_relation(
    target: np.ndarray,
    bound: Bound,
    candidates: Mapping[str, np.ndarray],
    *,
    budget: float,
    max_evaluations: int = 50_000,
) -> tuple[Relation | None, float]:
    """The relation of ``candidates`` (decoded earlier columns) that predicts ``target`` best.

    Every formula and combination of inputs (of the most recent candidates, up to
    ``max_evaluations`` formulas) is screened on a few rows, the best few are
    costed on all rows given. Returns ``(None, budget)`` unless one saves at least
    ``MIN_GAIN_BITS`` bits per value against ``budget``.
    """
    names: Sequence[str] = _window(list(candidates), max_evaluations)
    head = {name: candidates[name][:SCREEN_ROWS] for name in names}
    head_target = target[:SCREEN_ROWS]
    screened: list[tuple[float, Relation]] = []
    for formula, (arity, _) in FORMULAS.items():
        if (arity == 2 and len(names) > MAX_PAIR_COLUMNS) or (arity == 3 and len(names) > MAX_TRIPLE_COLUMNS):
            continue
        combos = itertools.combinations(names, arity) if formula in _SYMMETRIC else itertools.permutations(names, arity)
        for inputs in combos:
            relation = Relation(formula, tuple(inputs))
            screened.append((_screen_cost(head_target, bound, relation_prediction(relation, head, bound)), relation))
    screened.sort(key=lambda item: item[0])
    best: tuple[Relation | None, float] = (None, budget - MIN_GAIN_BITS)
    for _, relation in screened[:KEEP_AFTER_SCREEN]:
        cost = estimated_cost(target, bound, relation_prediction(relation, candidates, bound))
        if cost < best[1]:
            best = (relation, cost)
    if best[0] is None:
        return None, budget
    log.debug("relation %s%s: %.2f bits/value", best[0].formula, best[0].inputs, best[1])
    return best
