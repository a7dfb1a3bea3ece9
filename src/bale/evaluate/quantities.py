"""Declared quantities judged like columns: the quantity rebuilt from both sides, against its bound, on every row.

``bale evaluate FILE.bale --against ORIGINAL`` takes the quantities from the file's header;
``-q 'mass(energy,px,py,pz):rel=1e-3'`` declares them for two plain files (or adds more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from bale.bounds import QuantitySpec, parse_quantity
from bale.evaluate.metrics import bound_check, error_stats, responses
from bale.evaluate.results import QuantityResult
from bale.models.quantities import PAIR_FUNCTIONS, pair_starts, quantity_values

__all__ = ["quantity_metrics", "quantity_specs"]


def quantity_specs(items: Iterable[str | QuantitySpec]) -> list[QuantitySpec]:
    """Specs from ``FUNCTION(COLUMNS):BOUND`` strings (or specs), the later of the same columns winning."""
    specs: dict[tuple[str, tuple[str, ...]], QuantitySpec] = {}
    for item in items:
        spec = item if isinstance(item, QuantitySpec) else parse_quantity(str(item))
        specs[(spec.function, spec.inputs)] = spec
    return list(specs.values())


def quantity_metrics(
    table: str,
    original: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    specs: Sequence[QuantitySpec],
    counts: np.ndarray | None = None,
) -> dict[str, QuantityResult]:
    """Per quantity whose columns the table has on both sides: its bound check and relative errors, every value.

    A pair mass needs ``counts``, the table's objects per event (a collection's counter).
    """
    out: dict[str, QuantityResult] = {}
    for spec in specs:
        if not all(c in original and c in decoded for c in spec.inputs):
            continue
        starts = None
        if spec.function in PAIR_FUNCTIONS:
            if counts is None or not table:
                continue
            starts = pair_starts(counts, len(original[spec.inputs[0]]))
        x = quantity_values(spec.function, [original[c] for c in spec.inputs], starts)
        y = quantity_values(spec.function, [decoded[c] for c in spec.inputs], starts)
        out[spec.label] = {
            "table": table,
            "rows": int(x.size),
            **bound_check(x, y, spec.bound),
            "response": error_stats(responses(x, y)),
        }
    return out
