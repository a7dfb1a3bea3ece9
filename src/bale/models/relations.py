"""Closed-form relations between columns, found by search: the cheapest predictor there is.

HEP tables are full of exact identities: ``px = pt*cos(phi)``, ``pz = pt*sinh(eta)``,
``E = hypot(pt*cosh(eta), m)``, energy fractions that sum to one. A column that is such a
function of columns decoded before it costs about a bit per value when predicted by it.
The search tries every formula below on every combination of earlier columns and keeps
the one whose residuals would code smallest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bale.bounds import Bound
from bale.codec.estimate import estimated_cost
from bale.codec.lossy import Prediction, domain_step, to_domain
from bale.models.predictor_kinds import KIND_RELATION, PredictorSpec

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

    def predictor(self) -> PredictorSpec:
        """The column's predictor spec: ``{"kind": "relation", "formula": ..., "inputs": [...]}``."""
        return {"kind": KIND_RELATION, "formula": self.formula, "inputs": list(self.inputs)}


def evaluate(relation: Relation, decoded: Mapping[str, np.ndarray]) -> np.ndarray:
    _, fn = FORMULAS[relation.formula]
    args = [decoded[name].astype(np.float64) for name in relation.inputs]
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args), dtype=np.float64)


def relation_prediction(relation: Relation, decoded: Mapping[str, np.ndarray], bound: Bound) -> Prediction:
    linear = evaluate(relation, decoded)
    if bound.mode == "rel":
        sign = np.where(linear < 0, np.int8(-1), np.int8(1))  # int8 at once, no int64 temporary
        with np.errstate(all="ignore"):
            value = np.abs(linear)
            np.log(value, out=value)  # in place: one temporary fewer
        return Prediction(value=value, sign=sign)
    return Prediction(value=linear)


def _screen_costs(target: np.ndarray, bound: Bound, linear: np.ndarray) -> np.ndarray:
    """A quick proxy for the coded size on few rows, for many predictions at once (last axis: rows).

    The mean log-size of the residuals; ``linear`` holds predictions in the value space.
    """
    domain = to_domain(target, bound)
    with np.errstate(all="ignore"):
        pred = np.log(np.abs(linear)) if bound.mode == "rel" else linear
        q = np.abs((domain - pred) / domain_step(bound))
    q[~np.isfinite(q)] = 2.0**40
    costs: np.ndarray = np.log2(1.0 + q).mean(axis=-1)
    return costs


def _screen(
    target: np.ndarray,
    bound: Bound,
    names: Sequence[str],
    head: Mapping[str, np.ndarray],
    keep: int,
    allowed: Callable[[tuple[str, ...]], bool] | None = None,
) -> list[Relation]:
    """The ``keep`` relations of lowest screen cost among every formula on every combination of ``names``.

    Each formula is evaluated on all combinations at once by broadcasting, one axis per
    input; ties go to the earlier formula, then the earlier combination. With ``allowed``,
    only relations whose inputs it accepts are kept.
    """
    k = len(names)
    x = np.stack([head[n].astype(np.float64) for n in names]) if k else np.zeros((0, len(target)))
    costs, formulas, combos = [], [], []
    index = np.arange(k)
    for formula, (arity, fn) in FORMULAS.items():
        if (arity == 2 and k > MAX_PAIR_COLUMNS) or (arity == 3 and k > MAX_TRIPLE_COLUMNS) or k < arity:
            continue
        axes = [x.reshape((1,) * a + (k,) + (1,) * (arity - 1 - a) + (-1,)) for a in range(arity)]
        with np.errstate(all="ignore"):
            cost = _screen_costs(target, bound, fn(*axes))
        grids = np.meshgrid(*([index] * arity), indexing="ij")
        valid = np.ones(cost.shape, dtype=bool)
        for a in range(arity):  # distinct inputs; in order for symmetric formulas
            for b in range(a + 1, arity):
                valid &= (grids[a] < grids[b]) if formula in _SYMMETRIC else (grids[a] != grids[b])
        costs.append(cost[valid])
        combos.append(np.stack([g[valid] for g in grids], axis=1))
        formulas.append(formula)
    if not costs:
        return []
    all_costs = np.concatenate(costs)
    owner = np.repeat(np.arange(len(costs)), [len(c) for c in costs])
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in costs])])
    found: list[Relation] = []
    for i in np.argsort(all_costs, kind="stable").tolist():
        relation = Relation(formulas[owner[i]], tuple(names[j] for j in combos[owner[i]][i - offsets[owner[i]]]))
        if allowed is None or allowed(relation.inputs):
            found.append(relation)
            if len(found) == keep:
                break
    return found


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
    if width > MAX_PAIR_COLUMNS:  # only one-input formulas: the count is linear, skip to where it fits
        singles = sum(1 for arity, _ in FORMULAS.values() if arity == 1)
        if singles:
            width = max(min(width, max_evaluations // singles), MAX_PAIR_COLUMNS)
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
    allowed: Callable[[tuple[str, ...]], bool] | None = None,
    hints: Sequence[Relation] = (),
) -> tuple[Relation | None, float]:
    """The relation of ``candidates`` (decoded earlier columns) that predicts ``target`` best.

    Every formula and combination of inputs (of the most recent candidates, up to
    ``max_evaluations`` formulas) is screened on a few rows, the best few are
    costed on all rows given. Returns ``(None, budget)`` unless one saves at least
    ``MIN_GAIN_BITS`` bits per value against ``budget``. ``allowed``: which input
    tuples may be used (``model.max_closure``); by default all. ``hints``: relations known
    to hold on the true values (``training.fit`` finds fractions that sum to one), costed on
    all rows whatever the screen and the window say.
    """
    names: Sequence[str] = _window(list(candidates), max_evaluations)
    head = {name: candidates[name][:SCREEN_ROWS] for name in names}
    head_target = target[:SCREEN_ROWS]
    best: tuple[Relation | None, float] = (None, budget - MIN_GAIN_BITS)
    usable = [
        r for r in hints if all(name in candidates for name in r.inputs) and (allowed is None or allowed(r.inputs))
    ]
    screened = _screen(head_target, bound, names, head, KEEP_AFTER_SCREEN, allowed)
    for relation in usable + [r for r in screened if r not in usable]:
        cost = estimated_cost(target, bound, relation_prediction(relation, candidates, bound))
        if cost < best[1]:
            best = (relation, cost)
    if best[0] is None:
        return None, budget
    log.debug("relation %s%s: %.2f bits/value", best[0].formula, best[0].inputs, best[1])
    return best
