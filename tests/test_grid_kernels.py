"""The grid codec's compiled kernels, its cost estimates, and the one parser of range= bounds (issue 19 part 5,
issue 17).

The kernels (:mod:`bale.grid.kernels`) replaced NumPy passes whose bytes are in files: they must give the
reference's residuals, contexts and reconstructions bit for bit (:mod:`bale.grid.predictors` keeps the
vectorized reference). The estimates decide which plan and which coding a grid gets: they must be near what
the coder writes. ``grid.error`` in a configuration and the codec must accept and refuse the same bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from bale.bounds import Bound, parse_field_bound, parse_field_spec
from bale.codec.uint_stream import encode_uints, zigzag
from bale.config import BaleConfig
from bale.errors import BaleConfigError
from bale.grid.codec import decode_grid, encode_grid, parse_grid_bound
from bale.grid.kernels import (
    abs_misses,
    interp_code,
    interp_rebuild,
    lorenzo_rebuild,
    lorenzo_residuals,
    split_zigzag,
)
from bale.grid.lattice import misses
from bale.grid.predictors import LORENZO_THRESHOLDS, interp_encode, lorenzo_contexts, lorenzo_encode
from bale.grid.streams import GROUPINGS, decode_residuals, encode_residuals, estimate, lut

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SHAPES = array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=11)


def _streams(symbols: np.ndarray, contexts: np.ndarray, cuts: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    group = lut(cuts)[np.minimum(contexts, 63)]
    parts = [symbols[group == g] for g in range(len(cuts) + 1)]
    starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    return np.concatenate(parts).astype(np.int64), starts, np.zeros(len(parts), dtype=np.int64), lut(cuts)


@SETTINGS
@given(
    v=arrays(np.float64, SHAPES, elements=st.floats(-1e6, 1e6) | st.sampled_from([1e300, -1e300, 0.0, -0.0])),
    axes=st.sampled_from([(0, 1, 2), (1, 2), (1, 2, 0), (2, 1, 0)]),
    step=st.sampled_from([1e-3, 0.1, 7.0]),
    seed=st.integers(0, 3),
    cuts=st.sampled_from(GROUPINGS),
)
def test_interpolation_kernel_is_the_reference_bit_for_bit(
    v: np.ndarray, axes: tuple[int, ...], step: float, seed: int, cuts: tuple[int, ...]
) -> None:
    skip = np.random.default_rng(seed).random(v.shape) < 0.1 * seed
    q0, c0, r0 = interp_encode(v, skip, axes, step)
    q1, c1, r1, pos = interp_code(v, skip, axes, step)
    assert np.array_equal(q0, q1) and np.array_equal(c0, c1)
    assert r0.tobytes() == r1.tobytes()
    assert sorted(pos.tolist()) == list(range(v.size))  # every value coded once
    flat, starts, cursor, table = _streams(q0, c0, cuts)
    assert interp_rebuild(flat, starts, cursor, v.shape, axes, step, table).tobytes() == r0.tobytes()
    assert np.array_equal(cursor, np.diff(starts))


@SETTINGS
@given(
    k=arrays(np.int64, SHAPES, elements=st.integers(-(2**40), 2**40)),
    axes=st.sampled_from([(0, 1, 2), (1, 2)]),
    cuts=st.sampled_from(GROUPINGS),
)
def test_lorenzo_kernels_are_the_reference_bit_for_bit(
    k: np.ndarray, axes: tuple[int, ...], cuts: tuple[int, ...]
) -> None:
    flags = np.array([a in axes for a in range(3)], dtype=np.int64)
    r0 = lorenzo_encode(k, axes)
    r1, c1 = lorenzo_residuals(k, flags, LORENZO_THRESHOLDS)
    assert np.array_equal(r0, r1) and np.array_equal(lorenzo_contexts(r0).ravel(), c1)
    flat, starts, cursor, table = _streams(r0.ravel(), c1, cuts)
    r, rec = np.empty(k.shape, dtype=np.int64), np.empty(k.shape)
    assert lorenzo_rebuild(flat, starts, cursor, table, flags, LORENZO_THRESHOLDS, 0.37, r, rec) == 0
    assert rec.tobytes() == (k * 0.37).tobytes()
    short = np.diff(starts) > 0
    if short.any():  # a stream cut short is corrupt data, never a read past its end
        g = int(np.argmax(short))
        cut = flat.copy()
        ends = starts.copy()
        ends[g + 1 :] -= 1
        cut = np.delete(cut, starts[g + 1] - 1)
        status = lorenzo_rebuild(cut, ends, np.zeros(len(ends) - 1, np.int64), table, flags, LORENZO_THRESHOLDS, 1.0,
                                 r, rec)  # fmt: skip
        assert status == 1


@SETTINGS
@given(
    x=arrays(
        st.sampled_from([np.float32, np.float64]), SHAPES, elements=st.floats(width=32) | st.sampled_from([0.0, -0.0])
    ),
    shift=st.sampled_from([0.0, 0.004, 0.0051, -0.0049]),
)
def test_fused_miss_check_is_the_reference(x: np.ndarray, shift: float) -> None:
    bound = Bound("abs", 0.01)
    with np.errstate(invalid="ignore", over="ignore"):
        rec = x.astype(np.float64) + shift
        special = ~np.isfinite(x)
    expected = ~special & misses(x, rec.astype(x.dtype), bound)
    got = abs_misses(np.ascontiguousarray(x), rec, special, 0.01 * (1 - 0.005), x.dtype == np.float32)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("scale", [0.3, 3.0, 300.0])
@pytest.mark.parametrize("cuts", [(), (2, 5), tuple(range(1, 16))])
def test_rans_estimate_is_within_two_percent_of_the_coder(scale: float, cuts: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    contexts = rng.integers(0, 12, 50_000)
    symbols = np.rint(rng.laplace(scale=scale * (1 + contexts), size=contexts.size)).astype(np.int64)
    group = lut(cuts)[contexts]
    coded = sum(len(encode_uints(zigzag(symbols[group == g]))) + 3 for g in range(len(cuts) + 1))
    cost = estimate(symbols, contexts, zstd=False)
    best = min(
        sum(len(encode_uints(zigzag(symbols[lut(c)[contexts] == g]))) + 3 for g in range(len(c) + 1)) for c in GROUPINGS
    )
    assert abs(cost.rans - best) <= 0.02 * best + 16
    assert cost.rans <= 1.02 * coded + 16  # the grouping it picks is no worse than this one


@pytest.mark.parametrize("kind", ["noise", "runs", "empty", "huge"])
def test_residual_streams_round_trip_whichever_coding_is_written(kind: str) -> None:
    rng = np.random.default_rng(3)
    symbols = {
        "noise": rng.integers(-40, 40, 20_000),
        "runs": np.tile(np.repeat(rng.integers(-3, 4, 50), 7), 60),  # repeats: zstd's case
        "empty": np.zeros(0, dtype=np.int64),
        "huge": np.array([2**62, -(2**62), 0, 5], dtype=np.int64),
    }[kind].astype(np.int64)
    contexts = rng.integers(0, 14, symbols.size)
    data = encode_residuals(symbols, contexts)
    flat, starts, table = decode_residuals(data)
    order = np.concatenate([np.flatnonzero(table[np.minimum(contexts, 63)] == g) for g in range(len(starts) - 1)])
    assert np.array_equal(flat, symbols[order])
    split = split_zigzag(symbols, contexts, table, len(starts) - 1)
    assert np.array_equal(split[: symbols.size], zigzag(symbols[order]))


def test_a_repetitive_field_gets_zstd_and_decodes() -> None:
    """A field that repeats frame after frame: the zstd coding is chosen where it is smaller, and decodes."""
    frame = np.random.default_rng(5).normal(size=(40, 40)).cumsum(axis=1)
    values = np.tile(frame, (48, 1, 1))
    bound = parse_grid_bound("range=1e-2", values).bound
    encoded = encode_grid(values, bound)
    residuals = [v for k, v in encoded.sections.items() if k.startswith("res.")]
    assert any(r[0] == 1 for r in residuals)  # mode 1: zstd
    decoded = decode_grid(encoded.sections, values.shape, values.dtype, bound)
    assert decoded.tobytes() == encoded.decoded.tobytes()
    assert np.abs(decoded - values).max() <= bound.value


SPELLINGS = [
    ("range=1e-3", True), ("RANGE = 0.01", True), ("abs=0.5", True), ("rel=1e-2", True), (" range=2 ", True),
    ("range=0", False), ("range=-1e-3", False), ("range=inf", False), ("range=1e400", False), ("range=nan", False),
    ("range=", False), ("range=x", False), ("range", False), ("exact", False), ("lossless", False),
    ("abs=0", False), ("rel=1", False), ("mass:rel=1e-3", False), ("ranges=1e-3", False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "ok"), SPELLINGS)
def test_configuration_and_codec_accept_and_refuse_the_same_range_bounds(spec: str, ok: bool) -> None:
    """issue 17: one parser of range= bounds; the configuration's check and the codec agree on every spelling."""
    values = np.linspace(-1.0, 3.0, 24).reshape(2, 3, 4)

    def config_accepts() -> bool:
        try:
            BaleConfig.model_validate({"grid": {"error": spec}})
        except ValueError:
            return False
        return True

    def codec_accepts() -> bool:
        try:
            parse_grid_bound(spec, values)
        except BaleConfigError:
            return False
        return True

    assert config_accepts() is ok
    assert codec_accepts() is ok
    if ok:
        assert parse_field_spec(spec) == parse_field_spec(spec.upper())


def test_range_bound_resolves_against_the_values() -> None:
    values = np.array([[-1.0, np.nan], [3.0, np.inf]])
    parsed = parse_field_bound("range=1e-2", values)
    assert parsed.bound == Bound("abs", 0.04) and parsed.spec == "range=0.01"
    with pytest.raises(BaleConfigError):
        parse_field_bound("range=1e-2")  # no data to resolve against


@pytest.mark.parametrize("shape", [(24, 40, 40), (48, 48, 48)])  # every plan priced; priced on a slab first
@pytest.mark.parametrize("spec", ["range=1e-2", "range=1e-4"])
def test_the_plan_priced_cheapest_codes_near_the_smallest(shape: tuple[int, int, int], spec: str) -> None:
    """Plans are priced, not coded: the one written is within 5 % of the smallest whole-grid plan coded."""
    from bale.grid.layout import CLASSICAL
    from bale.grid.plans import _build_plan, write_plan

    t, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    rng = np.random.default_rng(11)
    values = np.sin(x / 6.0 + t / 4.0) * np.cos(y / 9.0) + 0.002 * rng.standard_normal(shape)
    bound = parse_grid_bound(spec, values).bound
    encoded = encode_grid(values, bound)
    written = sum(len(v) for k, v in encoded.sections.items() if k != "head")
    state = _grid_state(values, bound)
    coded = [
        sum(map(len, write_plan(state, _build_plan(state, shape, np.full(1, pid)))[0].values())) for pid in CLASSICAL
    ]
    assert written <= 1.05 * min(coded)


def _grid_state(values: np.ndarray, bound: Bound) -> Any:
    """The encoder's state of a grid without specials (the lattice as encode_grid builds it)."""
    from bale.grid.lattice import step_of
    from bale.grid.plans import State

    step = step_of(bound)
    k = np.rint(values / step).astype(np.int64)
    none = np.zeros(values.shape, dtype=bool)
    return State(values, values.copy(), k, none, none, none, step, bound, None)
