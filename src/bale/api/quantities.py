"""Declared quantities in the API: from the config, ``quantities=[...]`` and ``-q``, to each table's model.

A quantity is declared as ``mass(energy,px,py,pz):rel=1e-3`` (``models/quantities.py``).
Its columns must lie in one table. Its bound is recorded in the file's header beside the
column bounds, and decoding codes with the header's bound, as for columns; a model used for
other files must have been trained with the quantity (its bound may change value, not mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from bale.bounds import Bound, parse_bound
from bale.container import QuantityEntry, TableEntry
from bale.errors import BaleFormatError, BaleInputError
from bale.models import CompressionModel
from bale.models.quantities import PAIR_FUNCTIONS, QuantitySpec, parse_quantity, resolve_quantities

if TYPE_CHECKING:
    from bale.config import BaleConfig

__all__ = [
    "declared_quantities",
    "file_quantity_bounds",
    "header_quantities",
    "per_table",
    "tighten_column_bounds",
    "with_quantity_bounds",
]


def declared_quantities(
    config: BaleConfig, quantities: Iterable[str | QuantitySpec] | None, dtypes: Mapping[str, np.dtype]
) -> list[QuantitySpec]:
    """The config's quantities, then those passed (``quantities=``, ``-q``); a later one of the same columns wins."""
    specs: dict[tuple[str, tuple[str, ...]], QuantitySpec] = {}
    for item in [*config.compress.quantities, *(quantities or [])]:
        spec = item if isinstance(item, QuantitySpec) else parse_quantity(str(item))
        specs[(spec.function, spec.inputs)] = spec
    return resolve_quantities(list(specs.values()), dtypes)


def per_table(specs: Sequence[QuantitySpec], tables: Mapping[str, Iterable[str]]) -> dict[str, list[QuantitySpec]]:
    """The quantities of each table; a quantity's columns must all lie in one table."""
    out: dict[str, list[QuantitySpec]] = {name: [] for name in tables}
    columns = {name: set(cols) for name, cols in tables.items()}
    for spec in specs:
        home = [name for name, cols in columns.items() if set(spec.inputs) <= cols]
        if not home:
            raise BaleInputError(f"quantity {spec.label}: its columns lie in different tables (collections)")
        if spec.function in PAIR_FUNCTIONS and home[0] == "":
            raise BaleInputError(f"quantity {spec.label}: a pair mass is of a collection's objects (a jagged branch)")
        out[home[0]].append(spec)
    return out


def tighten_column_bounds(bounds: Mapping[str, Bound], specs: Sequence[QuantitySpec]) -> dict[str, Bound]:
    """``mass(pt,eta,phi,m)`` is ``m``: its bound tightens ``m``'s own where both are of one kind."""
    out = dict(bounds)
    for spec in specs:
        if spec.function == "mass_ptetaphim":
            m = spec.inputs[3]
            if out[m].mode == spec.bound.mode and spec.bound.value < out[m].value:
                out[m] = spec.bound
    return out


def with_quantity_bounds(model: CompressionModel, specs: Sequence[QuantitySpec]) -> CompressionModel:
    """The model coding with the declared bounds of its quantities; a quantity it lacks is refused."""
    quantities = list(model.quantities)
    index = {(q.function, tuple(q.inputs)): i for i, q in enumerate(quantities)}
    for spec in specs:
        i = index.get((spec.function, spec.inputs))
        if i is None:
            if all(model.column(c).bound.mode == "exact" for c in spec.inputs):
                continue  # exact columns: it holds as it is
            raise BaleInputError(
                f"quantity {spec.label}: the model was trained without it; train a model with -q '{spec}'"
            )
        if quantities[i].bound.mode != spec.bound.mode:
            raise BaleInputError(
                f"quantity {spec.label}: the model was trained for {quantities[i].bound}, not {spec.bound}"
            )
        quantities[i] = replace(quantities[i], bound=spec.bound)
    return replace(model, quantities=quantities)


def header_quantities(model: CompressionModel) -> list[QuantityEntry]:
    """What a table's header records of its quantities: each as written, and its bound."""
    return [
        {"quantity": q.spec.label, "bound": q.bound.to_json(), "column": q.derived, "mode": q.mode}
        for q in model.quantities
    ]


def file_quantity_bounds(table: TableEntry, model: CompressionModel) -> CompressionModel:
    """The model coding with the bounds the file's header gives its quantities."""
    recorded = table.get("quantities")
    if recorded is None:
        if model.quantities:
            raise BaleFormatError("the model codes quantities the file's header does not list")
        return model
    if not isinstance(recorded, list) or len(recorded) != len(model.quantities):
        raise BaleFormatError("the header's quantities do not fit its model")
    quantities = []
    for entry, quantity in zip(recorded, model.quantities, strict=True):
        if not isinstance(entry, dict) or entry.get("quantity") != quantity.spec.label:
            raise BaleFormatError("the header's quantities do not fit its model")
        try:
            bound = parse_bound(str(entry.get("bound")))
        except (ValueError, TypeError) as exc:
            raise BaleFormatError(f"quantity {quantity.spec.label}: bad bound in the header: {exc}") from None
        if bound.mode != quantity.bound.mode:
            raise BaleFormatError(f"quantity {quantity.spec.label}: the header's bound is not of the model's kind")
        quantities.append(replace(quantity, bound=bound))
    return replace(model, quantities=quantities)
