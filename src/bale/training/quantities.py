"""Planning declared quantities at training time: which column codes each, where, with what predictor.

- ``mass(E,px,py,pz)`` with a lossy ``E``: ``value`` mode. ``E`` moves right after the last
  of ``px, py, pz`` in the coding order (before any predictor is chosen, so no column is
  predicted from it earlier), and its section codes the mass, predicted by the cheapest of
  ``grid``, ``delta`` and a relation of the columns decoded before (the stored ``mass``
  column, where the table has one); ``E`` is rebuilt from it.
- every other quantity: ``check`` mode on the last lossy component in the coding order,
  which keeps the predictor it would have had; rows where the quantity breaks are patched.
- a quantity of exact columns only holds by itself and is not planned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from bale.bounds import Bound
from bale.codec.estimate import estimated_cost
from bale.codec.lossy import Prediction, encode_lossy
from bale.models.plan import (
    KIND_DELTA,
    KIND_GRID,
    KIND_QUANTITY,
    KIND_RELATION,
    ColumnPlan,
    CompressionModel,
)
from bale.models.quantities import QuantityPlan, QuantitySpec, quantity_values
from bale.models.quantity_coding import VALUE_FRACTION
from bale.models.relations import search_relation

__all__ = ["choose_value_predictor", "finish_quantities", "plan_quantities"]

log = logging.getLogger(__name__)
_EVALUATIONS = 75_000  # relation formulas tried for a quantity's value


def plan_quantities(
    lossy: list[ColumnPlan], specs: Sequence[QuantitySpec]
) -> tuple[list[ColumnPlan], list[QuantityPlan]]:
    """The lossy columns in their coding order, and a plan per quantity that needs one."""
    order = list(lossy)
    plans: list[QuantityPlan] = []
    derived_of: set[str] = set()
    for spec in specs:
        names = [p.name for p in order]
        coded = [c for c in spec.inputs if c in names]
        if not coded:
            log.info("quantity %s: every column is exact, it holds as it is", spec.label)
            continue
        energy = spec.inputs[0]
        if spec.function == "mass_epxpypz" and energy in names and energy not in derived_of:
            plan = order.pop(names.index(energy))
            names.remove(energy)
            last = max((names.index(c) for c in spec.inputs[1:] if c in names), default=-1)
            order.insert(last + 1, plan)
            plan.predictor = {"kind": KIND_QUANTITY, "index": len(plans)}
            plans.append(QuantityPlan(spec.function, list(spec.inputs), spec.bound, energy, "value"))
        else:
            derived = max(coded, key=names.index)
            if derived in derived_of:
                continue  # an earlier quantity codes it; check_quantities names the conflict
            plans.append(QuantityPlan(spec.function, list(spec.inputs), spec.bound, derived, "check"))
        derived_of.add(plans[-1].derived)
    return order, plans


def choose_value_predictor(
    plan: ColumnPlan,
    quantities: list[QuantityPlan],
    sample: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    rows: slice,
    max_evaluations: int = _EVALUATIONS,
) -> tuple[dict[str, float], np.ndarray]:
    """Choose the predictor of the ``value`` quantity ``plan`` codes, on the sample.

    Returns its estimated costs (bits/value) and the column as later predictions see it.
    """
    quantity = quantities[plan.predictor["index"]]
    bound = Bound(quantity.bound.mode, quantity.bound.value * VALUE_FRACTION)
    target = quantity_values(quantity.function, [sample[c][rows] for c in quantity.inputs])
    cost = {
        KIND_GRID: estimated_cost(target, bound, Prediction()),
        KIND_DELTA: estimated_cost(target, bound, Prediction(delta=True)),
    }
    candidates = {k: v[rows] for k, v in decoded.items() if k != quantity.derived}
    relation = None
    if candidates:
        relation, relation_cost = search_relation(
            target, bound, candidates, budget=min(cost.values()), max_evaluations=max_evaluations
        )
        if relation is not None:
            cost[KIND_RELATION] = relation_cost
            quantity.predictor = relation.predictor()
    if relation is None:
        quantity.predictor = {"kind": min(cost, key=cost.__getitem__)}
    log.info("quantity %s: coded as its value, %s", quantity.spec.label, {k: round(v, 2) for k, v in cost.items()})
    _, seen = encode_lossy(sample[plan.name], plan.bound, Prediction())
    return cost, seen


def finish_quantities(model: CompressionModel, quantities: list[QuantityPlan]) -> CompressionModel:
    """The model with its quantities: ``check`` ones take their column's predictor (chosen last) as their own."""
    plans = {p.name: p for p in model.columns}
    for i, quantity in enumerate(quantities):
        plan = plans[quantity.derived]
        if quantity.mode == "check":
            quantity.predictor = plan.predictor.copy()
            plan.predictor = {"kind": KIND_QUANTITY, "index": i}
    model.quantities = quantities
    model.check_quantities()
    return model
