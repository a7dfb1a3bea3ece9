"""The kinds of predictor a column can have, and the spec of one as a model's JSON holds it.

A :class:`~bale.models.plan.ColumnPlan` names how its column is predicted before the residual
is coded: ``{"kind": "grid"}``, ``{"kind": "relation", "formula": "sum2", "inputs": [...]}``...
The kinds are spelled here once; every other module uses these names (re-exported by
:mod:`bale.models.plan`).
"""

from __future__ import annotations

from typing import Final, Literal, Required, TypedDict

__all__ = [
    "CODED",
    "CONTEXT_USES",
    "KIND_DELTA",
    "KIND_EXACT",
    "KIND_GRID",
    "KIND_LEARNED",
    "KIND_QUANTITY",
    "KIND_RELATION",
    "PREDICTOR_KINDS",
    "ContextSource",
    "PredictorKind",
    "PredictorSpec",
]

PredictorKind = Literal["exact", "grid", "delta", "relation", "learned", "quantity"]

#: Coded losslessly: nothing is predicted (integer columns, and columns bound ``exact``).
KIND_EXACT: Final = "exact"
#: Quantized to the bound's grid, with nothing to predict from: the residual is the value itself.
KIND_GRID: Final = "grid"
#: Predicted by the previous row's decoded value.
KIND_DELTA: Final = "delta"
#: Predicted by a closed-form formula of earlier columns (``formula``, ``inputs``).
KIND_RELATION: Final = "relation"
#: Predicted by a head (``head``) of the conditional network.
KIND_LEARNED: Final = "learned"
#: Rebuilt from a bounded quantity of several columns (``index`` into the model's quantities).
KIND_QUANTITY: Final = "quantity"

PREDICTOR_KINDS: tuple[PredictorKind, ...] = (
    KIND_EXACT,
    KIND_GRID,
    KIND_DELTA,
    KIND_RELATION,
    KIND_LEARNED,
    KIND_QUANTITY,
)
#: The predictors the coded value of a quantity may use (the first three when its value is coded).
CODED: tuple[PredictorKind, ...] = (KIND_GRID, KIND_DELTA, KIND_RELATION, KIND_LEARNED)


class PredictorSpec(TypedDict, total=False):
    """One column's predictor, as the model's JSON holds it (keys in this order)."""

    kind: Required[str]  # one of PREDICTOR_KINDS (checked when a model is read)
    formula: str  # relation: a name of bale.models.relations.FORMULAS
    inputs: list[str]  # relation: the earlier columns it reads
    head: int  # learned: the network head
    index: int  # quantity: the quantity of the model


#: How a context source's integer is used: as it is, or its absolute value.
CONTEXT_USES: tuple[str, ...] = ("value", "magnitude")


class ContextSource(TypedDict):
    """An earlier column whose integer per row selects the histogram of a column's residuals
    (:mod:`bale.codec.context`): an exact integer column's value, or a lossy column's symbol."""

    column: str
    use: str  # one of CONTEXT_USES
    buckets: int  # at most this many ranges of it (2 to bale.codec.context.MAX_BUCKETS)
