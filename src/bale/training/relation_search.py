"""Relation search beyond one pass in coding order: groups of fractions that sum to one, found on
the true values; the largest of such a group derived from the others; and columns whose
relation needs columns the table lists after them (issue 19: relations found robustly).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from bale.codec.estimate import estimated_cost
from bale.models.plan import ColumnPlan
from bale.models.relations import Relation, relation_prediction, search_relation
from bale.training.closure import ClosureBudget

log = logging.getLogger(__name__)

def _dependents(lossy: list[ColumnPlan], name: str) -> set[str]:
    """The columns whose relation needs ``name``, directly or through other relations."""
    needs = {name}
    for plan in lossy:  # relations point to earlier columns: one pass in coding order
        if plan.predictor["kind"] == "relation" and needs.intersection(plan.predictor["inputs"]):
            needs.add(plan.name)
    needs.discard(name)
    return needs


def relations_on_later_columns(
    lossy: list[ColumnPlan],
    sample: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    costs: dict[str, dict[str, float]],
    rows: slice,
    max_evaluations: int,
) -> list[ColumnPlan]:
    """A column no relation of earlier columns explains is searched again among every other column.

    The first search sees only columns coded before the target, so an identity whose inputs
    the table lists after it (``E`` before ``px, py, pz``) is missed. Here the candidates are
    all columns but those that need the target (no cycles); a relation found moves the
    column to just after its last input, unless a column that needs it would then come first.
    """
    for plan in list(lossy):
        if plan.predictor["kind"] in ("relation", "quantity"):
            continue
        position = {p.name: i for i, p in enumerate(lossy)}
        dependents = _dependents(lossy, plan.name)
        later = [p.name for p in lossy[position[plan.name] + 1 :] if p.name not in dependents]
        if not later:
            continue  # nothing new to search: every candidate was seen before
        candidates = {k: v[rows] for k, v in decoded.items() if k != plan.name and k not in dependents}
        relation, cost = search_relation(
            sample[plan.name][rows],
            plan.bound,
            candidates,
            budget=min(costs[plan.name].values()),
            max_evaluations=max_evaluations,
        )
        if relation is None:
            continue
        last = max(position.get(name, -1) for name in relation.inputs)  # an exact input: -1
        if any(position[d] <= last for d in dependents):
            continue
        log.info("%s: %s%s of columns coded after it, %.2f bits/value", plan.name, relation.formula,
                 relation.inputs, cost)  # fmt: skip
        plan.predictor = {"kind": "relation", **relation.to_json()}
        costs[plan.name]["relation"] = cost
        if last > position[plan.name]:
            lossy.remove(plan)
            lossy.insert(last, plan)  # after the removal, index ``last`` is just after the last input
    return lossy


_SUM_FORMULAS = {2: "1-a-b", 3: "1-a-b-c"}
_SUM_SCREEN_ROWS = 256
_SUM_MAX_COLUMNS = 24  # fraction columns searched for groups that sum to one (triples and quadruples)
_SUM_HOLDS = 0.99  # share of rows on which the sum must be one


def _sum_tolerance(columns: list[np.ndarray]) -> float:
    """How far from one a sum of fractions stored in these dtypes may be, from their rounding alone."""
    eps = max(float(np.finfo(c.dtype).eps) if c.dtype.kind == "f" else 0.0 for c in columns)
    return 8 * len(columns) * eps


def _sums_to_one(columns: list[np.ndarray], tolerance: float) -> bool:
    total = np.sum([c.astype(np.float64) for c in columns], axis=0)
    finite = np.isfinite(total)
    if finite.sum() < 16:
        return False
    return bool(np.mean(np.abs(total[finite] - 1.0) <= tolerance) >= _SUM_HOLDS)


def _sum_groups(sample: Mapping[str, np.ndarray], names: list[str], rows: slice) -> list[tuple[str, ...]]:
    """Groups of 3 or 4 of ``names`` whose values sum to one on the true values, each column in one group.

    Found on the values themselves, not on decoded ones, so whether the relation shows does
    not depend on the bound or on which column of the group comes last in the table. Only
    fraction-like columns (finite values within [0, 1]) are tried, at most
    ``_SUM_MAX_COLUMNS`` of them; candidates are screened on a few rows, then checked on all.
    """
    fractions = []
    for name in names:
        x = sample[name][rows]
        if x.dtype.kind != "f" or not len(x):
            continue
        finite = x[np.isfinite(x)]
        if len(finite) >= 16 and finite.min() >= -1e-6 and finite.max() <= 1 + 1e-6 and finite.max() > finite.min():
            fractions.append(name)
    fractions = fractions[:_SUM_MAX_COLUMNS]
    head = {n: sample[n][rows][:_SUM_SCREEN_ROWS] for n in fractions}
    groups: list[tuple[str, ...]] = []
    used: set[str] = set()
    for size in (3, 4):
        for group in itertools.combinations(fractions, size):
            if used.intersection(group):
                continue
            members = [sample[n][rows] for n in group]
            tolerance = _sum_tolerance(members)
            if _sums_to_one([head[n] for n in group], tolerance) and _sums_to_one(members, tolerance):
                groups.append(group)
                used.update(group)
    return groups


def _finite_median(x: np.ndarray) -> float:
    finite = np.abs(x[np.isfinite(x)])
    return float(np.median(finite)) if len(finite) else 0.0


def order_sum_groups(
    lossy: list[ColumnPlan], sample: Mapping[str, np.ndarray], rows: slice
) -> tuple[list[ColumnPlan], dict[str, Relation]]:
    """Columns that sum to one: the largest moves after the others, and is to be derived from them.

    A derived column's prediction error is the sum of its inputs' quantization errors, which
    is small relative to a large column and large relative to a small one. The search of
    relations sees only columns coded before the target, so without this the identity is
    found only when the table happens to list the right column last, and only when the
    last one's relation saves enough at the bound (rel=1e-2 on a W + jets table: not).
    Returns the new order and, per derived column, the relation to try first.
    """
    groups = _sum_groups(sample, [p.name for p in lossy], rows)
    derived: dict[str, Relation] = {}
    for group in groups:
        largest = max(group, key=lambda name: _finite_median(sample[name][rows]))
        others = tuple(name for name in group if name != largest)
        position = {p.name: i for i, p in enumerate(lossy)}
        moved = lossy.pop(position[largest])
        position = {p.name: i for i, p in enumerate(lossy)}
        lossy.insert(max(position[name] for name in others) + 1, moved)
        derived[largest] = Relation(_SUM_FORMULAS[len(others)], others)
        log.info("%s: derived from %s, which sum to one with it", largest, list(others))
    return lossy, derived


def derive_largest_of_sums(
    lossy: list[ColumnPlan],
    sample: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    costs: dict[str, dict[str, float]],
    rows: slice,
    budget: ClosureBudget | None = None,
) -> list[ColumnPlan]:
    """For columns that sum to one, derive the largest rather than the last.

    A derived column's prediction error is the sum of its inputs' quantization errors,
    which is small relative to a large column and large relative to a small one: so the
    column with the largest values should be the one predicted, and it moves after the others.
    Under a closure ``budget`` the swap is made only when every closure stays within it.
    """
    position = {p.name: i for i, p in enumerate(lossy)}
    for plan in list(lossy):
        spec = plan.predictor
        if spec["kind"] != "relation" or spec["formula"] not in _SUM_FORMULAS.values():
            continue
        group = [plan.name, *spec["inputs"]]
        if any(name not in position for name in group):
            continue  # an exact column is part of the sum: leave it
        largest = max(group, key=lambda name: float(np.median(np.abs(decoded[name][rows]))))
        if largest == plan.name:
            continue
        if lossy[position[largest]].predictor["kind"] == "quantity":
            continue  # a quantity codes that column
        between = lossy[position[largest] + 1 : position[plan.name]]
        if any(largest in p.predictor.get("inputs", ()) for p in between):
            continue  # a column in between is predicted from the one to move
        others = [name for name in group if name != largest]
        candidate: dict[str, Any] = {"kind": "relation", "formula": _SUM_FORMULAS[len(others)], "inputs": others}
        moved = lossy[position[largest]]
        relation = Relation(candidate["formula"], tuple(others))
        head = {name: decoded[name][rows] for name in others}
        new_cost = estimated_cost(sample[largest][rows], moved.bound, relation_prediction(relation, head, moved.bound))
        old_total = costs[plan.name]["relation"] + min(costs[largest]["grid"], costs[largest]["delta"])
        new_total = new_cost + min(costs[plan.name]["grid"], costs[plan.name]["delta"])
        if new_total >= old_total:
            continue
        if budget is not None:  # the swap: plan loses its relation, largest gains one
            budget.set(plan.name, ())
            if not budget.fits(largest, others):
                budget.set(plan.name, spec["inputs"])
                continue
            budget.set(largest, others)
        log.info(
            "deriving %s from %s instead of %s (%.2f -> %.2f bits/row)",
            largest,
            others,
            plan.name,
            old_total,
            new_total,
        )
        costs[largest]["relation"] = new_cost
        costs[plan.name].pop("relation")
        plan.predictor = {"kind": min(costs[plan.name], key=costs[plan.name].__getitem__)}
        moved.predictor = candidate
        lossy.remove(moved)
        lossy.insert(lossy.index(plan) + 1, moved)
        position = {p.name: i for i, p in enumerate(lossy)}
    return lossy
