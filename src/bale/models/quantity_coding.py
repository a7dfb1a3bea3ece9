"""Coding the section of a quantity's derived column, so that the quantity holds on every row.

The derived column is the last of the quantity's components in the coding order: when it
is coded, the others are already decoded, and the encoder knows them exactly as the
decoder will. Its section holds these blocks:

1. the coded value: in ``value`` mode the quantity itself (a mass, within a fraction of its
   bound, around its prediction), from which the derived column is rebuilt
   (``E = sqrt(m·|m| + px² + py² + pz²)``, rounded to its dtype); in ``check`` mode the
   column itself, coded as any column around its predictor;
2. for a pair mass only: the first rows of the pairs (the leading two objects of every event
   with two or more), as a uint stream of differences;
3. a level per value of the quantity, row or pair (an empty block when every one is 0): 0 as
   rebuilt; 1 the derived value is replaced; 2 every component is given back exactly;
4. level 1: the replacement's distance from the rebuilt value, in ulps;
5. level 2: per component, the original's distance in ulps from the decoded value, the
   derived component last (from its value rebuilt with the others given back).

Distances in ulps are small integers where the values are close (a rebuilt energy a few
ulps off), entropy-coded: far cheaper than raw values.

The encoder computes the quantity on the values the decoder will produce (same dtype, same
float64 arithmetic) and raises a row's level until both the quantity's bound and the
derived column's own bound hold; level 2 gives back the original components bit for bit,
so it always holds. A level-2 row also replaces components decoded before (the same on
both sides), so decoding a component alone decodes the derived column's section too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bale.bounds import Bound, violations
from bale.codec.lossy import MARGIN, Prediction, decode_lossy, encode_lossy
from bale.codec.uint_stream import STREAM_VERSION, decode_ints, decode_uints, encode_uints, zigzag
from bale.codec.varint import ByteReader, block
from bale.errors import BaleFormatError, BaleInputError
from bale.models.quantities import PAIR_FUNCTIONS, QuantityPlan, pair_starts, quantity_values

__all__ = ["VALUE_FRACTION", "QuantityCoded", "coding_bound", "decode_quantity", "encode_quantity"]

VALUE_FRACTION = 1.0  # share of the bound the coded mass uses (measured: 0.25 to 1.0, 1.0 cheapest in all)
_VALUE_DTYPE = np.dtype(np.float64)


@dataclass
class QuantityCoded:
    """The section's bytes, the final values of the components it changed, and how many rows took each level."""

    payload: bytes
    values: dict[str, np.ndarray]
    levels: tuple[int, int, int]


def coding_bound(plan: QuantityPlan, column: Bound) -> Bound:
    """The bound the section's first block is coded with."""
    if plan.mode == "value":
        return Bound(plan.bound.mode, plan.bound.value * VALUE_FRACTION)
    return column


def _tight(bound: Bound) -> Bound:
    return Bound(bound.mode, bound.value * (1.0 - MARGIN / 2))


def rebuild_energy(mass: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``E = sqrt(m·|m| + p²)`` in float64, rounded to ``dtype``: the decoder's formula."""
    with np.errstate(all="ignore"):
        x, y, z = (np.asarray(v).astype(np.float64) for v in (px, py, pz))
        m = np.asarray(mass, dtype=np.float64)
        return np.sqrt(m * np.abs(m) + (x * x + y * y + z * z)).astype(dtype)


def _first_value(
    plan: QuantityPlan, inner: np.ndarray, decoded: Mapping[str, np.ndarray], dtype: np.dtype
) -> np.ndarray:
    """The derived column before any patch: rebuilt from the coded mass, or the coded column itself."""
    if plan.mode == "value":
        px, py, pz = (decoded[c] for c in plan.inputs[1:])
        return rebuild_energy(inner, px, py, pz, dtype)
    return inner


def _holds(
    plan: QuantityPlan,
    reference: np.ndarray,
    components: Mapping[str, np.ndarray],
    original: np.ndarray,
    derived: np.ndarray,
    column: Bound,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Per value of the quantity (row, or pair), whether it and the derived column's bound hold (with margin)."""
    rebuilt = quantity_values(plan.function, [components[c] for c in plan.inputs], starts)
    good = ~violations(reference, rebuilt, _tight(plan.bound))
    fits = ~violations(original, derived, _tight(column) if column.mode != "exact" else column)
    holds: np.ndarray = good & (fits if starts is None else fits[starts] & fits[starts + 1])
    return holds


def _rows(which: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """The rows of the quantity's values ``which``: themselves, or both objects of each pair."""
    return which if starts is None else np.concatenate([starts[which], starts[which] + 1])


def _starts_block(starts: np.ndarray) -> bytes:
    return encode_uints(np.diff(starts, prepend=0).astype(np.uint64))


def _read_starts(data: memoryview, n: int, version: int, label: str) -> np.ndarray:
    pairs = ByteReader(data).varint()
    if pairs > n // 2:  # checked before anything is allocated
        raise BaleFormatError(f"quantity {label}: {pairs} pairs in a chunk of {n} rows")
    gaps = decode_uints(data, pairs, version).astype(np.int64)
    starts = np.cumsum(gaps)
    if len(starts) and ((gaps[1:] < 2).any() or starts[-1] + 1 >= n or starts[0] < 0):
        raise BaleFormatError(f"quantity {label}: pairs that are not two rows of the chunk each")
    return starts


def encode_quantity(
    plan: QuantityPlan,
    originals: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    prediction: Prediction,
    column: Bound,
    counts: np.ndarray | None = None,
) -> QuantityCoded:
    """Code the derived column of ``plan``; ``decoded`` holds the other components as the decoder has them.

    ``counts``: the objects of each event of the chunk, which a pair mass needs.
    """
    name = plan.derived
    original = np.ascontiguousarray(originals[name])
    dtype = original.dtype
    n = len(original)
    starts = None
    if plan.function in PAIR_FUNCTIONS:
        if counts is None:
            raise BaleInputError(f"quantity {plan.spec.label} needs the events' object counts (a jagged dataset)")
        starts = pair_starts(counts, n)
    reference = quantity_values(plan.function, [originals[c] for c in plan.inputs], starts)
    if plan.mode == "value":
        inner_payload, inner = encode_lossy(reference, coding_bound(plan, column), prediction)
    else:
        inner_payload, inner = encode_lossy(original, column, prediction)
    first = _first_value(plan, inner, decoded, dtype)
    current = {c: decoded[c] for c in plan.inputs if c != name}
    current[name] = first
    level = np.where(_holds(plan, reference, current, original, first, column, starts), 0, 2).astype(np.uint8)
    bad = np.flatnonzero(level)
    derived = first
    if len(bad) and plan.mode == "check":  # level 1: the derived column's original values
        trial = first.copy()
        trial[_rows(bad, starts)] = original[_rows(bad, starts)]
        found = _holds(plan, reference, {**current, name: trial}, original, trial, column, starts)[bad]
        level[bad[found]] = 1
        derived = first.copy()
        derived[_rows(bad[found], starts)] = original[_rows(bad[found], starts)]
    elif len(bad):  # level 1: a derived value that meets both bounds with the others as decoded
        others = {c: np.asarray(v)[bad] for c, v in current.items() if c != name}
        chosen = np.full(len(bad), np.nan, dtype=dtype)
        found = np.zeros(len(bad), bool)
        for candidate in _candidates(plan, reference[bad], others, original[bad], dtype):
            components = {**others, name: candidate}
            good = ~found & _holds(plan, reference[bad], components, original[bad], candidate, column)
            chosen[good] = candidate[good]
            found |= good
        level[bad[found]] = 1
        derived = first.copy()
        derived[bad[found]] = chosen[found]
    ones, twos = _rows(np.flatnonzero(level == 1), starts), _rows(np.flatnonzero(level == 2), starts)
    patched = block(_starts_block(starts)) if starts is not None else b""
    patched += block(encode_uints(level.astype(np.uint64)) if len(ones) or len(twos) else b"")
    patched += block(_offsets(derived[ones], first[ones]))
    values = {name: derived}
    restored: dict[str, np.ndarray] = {}
    for c in plan.inputs:  # level 2: every component given back exactly, the derived one last
        if c != name:
            patched += block(_offsets(originals[c][twos], current[c][twos]))
            restored[c] = originals[c][twos]
            if len(twos):
                values[c] = np.array(current[c], copy=True)
                values[c][twos] = restored[c]
    patched += block(_offsets(original[twos], _first_value(plan, inner[twos], restored, dtype)))
    derived[twos] = original[twos]
    levels = (int((level == 0).sum()), int((level == 1).sum()), int((level == 2).sum()))
    return QuantityCoded(block(inner_payload) + patched, values, levels)


def _keys(values: np.ndarray) -> np.ndarray:
    """Float bits as int64 keys in the order of the values (so neighbours differ by their ulps), bijective."""
    width = values.dtype.itemsize * 8
    bits = np.ascontiguousarray(values).view(f"u{width // 8}").astype(np.uint64)
    magnitude = (bits & np.uint64((1 << (width - 1)) - 1)).astype(np.int64)
    return np.where((bits >> np.uint64(width - 1)) != 0, -magnitude - 1, magnitude)


def _from_keys(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    width = dtype.itemsize * 8
    negative = keys < 0
    magnitude = np.where(negative, -(keys + 1), keys).astype(np.uint64)
    bits = magnitude | np.where(negative, np.uint64(1 << (width - 1)), np.uint64(0))
    return bits.astype(f"u{width // 8}").view(dtype)


def _base(values: np.ndarray) -> np.ndarray:
    """What offsets count from: a value rebuilt on this machine, with NaN (whose bits vary) as zero."""
    return np.where(np.isfinite(values), values, 0).astype(values.dtype)


def _offsets(target: np.ndarray, base: np.ndarray) -> bytes:
    """``target`` as its distance from ``base`` in ulps (wrapping), entropy-coded: cheap when they are close."""
    with np.errstate(over="ignore"):
        return encode_uints(zigzag(_keys(np.ascontiguousarray(target)) - _keys(_base(base))))


def _apply(data: memoryview, base: np.ndarray, version: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _from_keys(_keys(_base(base)) + decode_ints(data, len(base), version), base.dtype)


def _candidates(
    plan: QuantityPlan,
    reference: np.ndarray,
    others: Mapping[str, np.ndarray],
    original: np.ndarray,
    dtype: np.dtype,
) -> list[np.ndarray]:
    """Raw values worth trying for the derived column: the exact solution and its neighbours, the original."""
    out = [original]
    if plan.mode == "value":
        px, py, pz = (others[c] for c in plan.inputs[1:])
        centre = rebuild_energy(reference, px, py, pz, dtype)
        up, down = centre, centre
        out.insert(0, centre)
        for _ in range(3):
            with np.errstate(all="ignore"):
                up = np.nextafter(up, np.array(np.inf, dtype))
                down = np.nextafter(down, np.array(-np.inf, dtype))
            out += [up, down]
    return out


def decode_quantity(
    data: bytes | memoryview,
    n: int,
    plan: QuantityPlan,
    decoded: Mapping[str, np.ndarray],
    prediction: Prediction,
    column: Bound,
    dtypes: Mapping[str, np.dtype],
    version: int = STREAM_VERSION,
) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_quantity`: the derived column, and the components level-2 rows replace."""
    name = plan.derived
    dtype = np.dtype(dtypes[name])
    reader = ByteReader(data)
    inner_block = reader.block()
    if plan.mode == "value":
        inner = decode_lossy(inner_block, n, _VALUE_DTYPE, coding_bound(plan, column), prediction, version)
    else:
        inner = decode_lossy(inner_block, n, dtype, column, prediction, version)
    derived = _first_value(plan, inner, decoded, dtype)
    starts = _read_starts(reader.block(), n, version, plan.spec.label) if plan.function in PAIR_FUNCTIONS else None
    level_block, ones_block = reader.block(), reader.block()
    blocks = {c: reader.block() for c in plan.inputs if c != name}
    derived_block = reader.block()
    if reader.remaining:
        raise BaleFormatError(f"quantity {plan.spec.label}: trailing bytes in its section")
    if not len(level_block):
        return {name: derived}
    level = decode_uints(level_block, n if starts is None else len(starts), version)
    if len(level) and int(level.max()) > 2:
        raise BaleFormatError(f"quantity {plan.spec.label}: unknown patch level")
    ones, twos = _rows(np.flatnonzero(level == 1), starts), _rows(np.flatnonzero(level == 2), starts)
    derived = np.array(derived, dtype=dtype, copy=True)
    first = derived[ones]
    derived[ones] = _apply(ones_block, first, version)
    values = {name: derived}
    restored: dict[str, np.ndarray] = {}
    for c, data in blocks.items():
        column_values = np.asarray(decoded[c])
        restored[c] = _apply(data, column_values[twos], version)
        if len(twos):
            values[c] = np.array(column_values, copy=True)
            values[c][twos] = restored[c]
    derived[twos] = _apply(derived_block, _first_value(plan, inner[twos], restored, dtype), version)
    return values
