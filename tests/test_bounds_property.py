"""Property tests of bale's promise: every value honours its column's bound, specials survive bit-exactly.

(a) the lossy codec on its own, on random and pathological float arrays and predictions;
(b) end to end through ``bale.compress`` / ``bale.decompress`` on small random tables;
(c) one end-to-end run with the learned model on, on a table with a closed-form relation.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bale
from bale.bounds import Bound, check_bound, parse_bound
from bale.codec.lossy import Prediction, decode_lossy, encode_lossy
from bale.config import BaleConfig
from common import same_bits

T = TypeVar("T")

CODEC_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
E2E_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FLOAT_DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]
TABLE_DTYPES = [np.dtype(t) for t in ("float32", "float64", "int32", "int64", "bool", "uint8")]


# ------------------------------------------------------------------------------------------ helpers


def has_float32_snan(arrays_: list[np.ndarray]) -> bool:
    for a in arrays_:
        if a.dtype == np.float32:
            u = a.view(np.uint32)
            if np.any(((u & 0x7F800000) == 0x7F800000) & ((u & 0x007FFFFF) != 0) & ((u & 0x00400000) == 0)):
                return True
    return False


def quietly(fn: Callable[[], T], inputs: list[np.ndarray]) -> T:
    """Run ``fn``; warnings fail the test, except the known float32 signalling-NaN cast warning.

    Known src bug (see tests/test_codec.py::test_bug_lossy_signalling_nan_warns): a float32
    signalling NaN makes bale.codec.lossy and bale.bounds emit "invalid value encountered in cast".
    It is tolerated here only when the input holds such a NaN, so these tests still check the bound.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    snan = has_float32_snan(inputs)
    unexpected = [w for w in caught
                  if not (snan and issubclass(w.category, RuntimeWarning) and "invalid value encountered in cast"
                          in str(w.message))]
    assert not unexpected, [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in unexpected]
    return result


# ----------------------------------------------------------------------------------------- strategies


def float_elements(dtype: np.dtype) -> st.SearchStrategy[float]:
    return st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True, allow_subnormal=True)


@st.composite
def pathological(draw: st.DrawFn, dtype: np.dtype, n: int) -> np.ndarray:
    kind = draw(st.sampled_from(["constant", "huge_range", "zeros", "mixed_signs", "specials"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "constant":
        value = draw(float_elements(dtype))
        return np.full(n, value, dtype=dtype)
    if kind == "huge_range":
        x = 10.0 ** rng.uniform(-30, 30, n) * rng.choice([-1.0, 1.0], n)
    elif kind == "zeros":
        x = rng.choice([0.0, -0.0, 1.0, -3.5, 1e-3], n, p=[0.4, 0.4, 0.1, 0.05, 0.05])
    elif kind == "mixed_signs":
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 6, n)
    else:
        fi = np.finfo(dtype)
        pool = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, float(fi.max), float(fi.min), float(fi.tiny),
                         float(fi.smallest_subnormal), -float(fi.smallest_subnormal), 1.0, -1.0, 0.1], dtype)
        x = pool[rng.integers(0, len(pool), n)]
    with np.errstate(over="ignore"):
        out = x.astype(dtype)
    # NaNs with random payloads (quiet and signalling), both signs
    width = dtype.itemsize
    nan_rows = rng.random(n) < 0.1
    if nan_rows.any():
        exp = {4: 0x7F800000, 8: 0x7FF0000000000000}[width]
        mant = (1 << (8 * width - 1)) - 1 - exp
        payload = rng.integers(1, mant, int(nan_rows.sum()), dtype=np.uint64, endpoint=True)
        sign = rng.integers(0, 2, int(nan_rows.sum()), dtype=np.uint64) << np.uint64(8 * width - 1)
        out.view(f"u{width}")[nan_rows] = (np.uint64(exp) | payload | sign).astype(f"u{width}")
    return out


@st.composite
def float_column(draw: st.DrawFn, dtype: np.dtype | None = None, min_size: int = 0,
                 max_size: int = 200) -> np.ndarray:
    dtype = dtype if dtype is not None else draw(st.sampled_from(FLOAT_DTYPES))
    n = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        return draw(arrays(dtype, n, elements=float_elements(dtype)))
    return draw(pathological(dtype, n))


bounds = st.one_of(
    st.floats(1e-6, 0.5, exclude_max=True).map(lambda v: Bound("rel", v)),
    st.floats(1e-12, 1e3).map(lambda v: Bound("abs", v)),
)


@st.composite
def predictions(draw: st.DrawFn, n: int, bound: Bound) -> Prediction:
    kind = draw(st.sampled_from(["grid", "delta", "random", "random_signed"]))
    if kind == "grid":
        return Prediction()
    if kind == "delta":
        return Prediction(delta=True)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0, 1e6]))
    value = rng.standard_normal(n) * scale
    for special, share in ((np.nan, 0.05), (np.inf, 0.03), (-np.inf, 0.03), (1e300, 0.02), (-1e300, 0.02)):
        value[rng.random(n) < share] = special
    sign = np.where(rng.random(n) < 0.5, -1, 1).astype(np.int8) if kind == "random_signed" else None
    return Prediction(value=value, sign=sign)


def near_prediction(values: np.ndarray, bound: Bound, rng: np.random.Generator) -> Prediction:
    """A good prediction (the truth plus noise): exercises small residuals and the sign stream."""
    with np.errstate(all="ignore"):
        x = values.astype(np.float64)
        if bound.mode == "rel":
            value = np.log(np.abs(x)) + rng.normal(0, 3 * bound.value, len(x))
            sign = np.where((x < 0) != (rng.random(len(x)) < 0.1), -1, 1).astype(np.int8)
            return Prediction(value=value, sign=sign)
        return Prediction(value=x + rng.normal(0, 3 * bound.value, len(x)))


# --------------------------------------------------------------------------------------- (a) codec


def check_codec(values: np.ndarray, bound: Bound, prediction: Prediction) -> None:
    payload, decoded = quietly(lambda: encode_lossy(values, bound, prediction), [values])
    assert decoded.dtype == values.dtype and decoded.shape == values.shape
    out = quietly(lambda: decode_lossy(payload, len(values), values.dtype, bound, prediction), [values])
    assert same_bits(decoded, out), "decoder disagrees with the encoder's reconstruction"
    assert quietly(lambda: check_bound(values, out, bound), [values]) == 0
    special = ~np.isfinite(values) | (values == 0)
    assert same_bits(values[special], out[special])


@CODEC_SETTINGS
@given(data=st.data(), values=float_column(), bound=bounds)
def test_codec_bound_random_prediction(data: st.DataObject, values: np.ndarray, bound: Bound) -> None:
    check_codec(values, bound, data.draw(predictions(len(values), bound)))


@CODEC_SETTINGS
@given(values=float_column(min_size=1), bound=bounds, seed=st.integers(0, 2**32 - 1))
def test_codec_bound_good_prediction(values: np.ndarray, bound: Bound, seed: int) -> None:
    check_codec(values, bound, near_prediction(values, bound, np.random.default_rng(seed)))


@CODEC_SETTINGS
@given(value=st.one_of(float_elements(np.dtype(np.float32)), float_elements(np.dtype(np.float64))),
       dtype=st.sampled_from(FLOAT_DTYPES), bound=bounds, delta=st.booleans())
def test_codec_single_value(value: float, dtype: np.dtype, bound: Bound, delta: bool) -> None:
    with np.errstate(over="ignore"):
        values = np.array([value]).astype(dtype)
    check_codec(values, bound, Prediction(delta=delta))


# -------------------------------------------------------------------------------------- (b) end to end


def int_column(dtype: np.dtype, n: int) -> st.SearchStrategy[np.ndarray]:
    if dtype.kind == "b":
        return arrays(dtype, n)
    info = np.iinfo(dtype)
    small = st.integers(-3 if info.min < 0 else 0, 3)
    return arrays(dtype, n, elements=st.one_of(small, st.integers(int(info.min), int(info.max))))


@st.composite
def tables(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 300))
    n_cols = draw(st.integers(1, 5))
    columns: dict[str, np.ndarray] = {}
    for i in range(n_cols):
        dtype = draw(st.sampled_from(TABLE_DTYPES))
        name = f"c{i}_{dtype.name}"
        if dtype.kind == "f":
            columns[name] = draw(float_column(dtype, min_size=n, max_size=n))
        else:
            columns[name] = draw(int_column(dtype, n))
    return columns


def fast_config(chunk_rows: int) -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = False
    cfg.compress.chunk_rows = chunk_rows
    return cfg


def compress_round_trip(table: dict[str, np.ndarray], cfg: BaleConfig, **kwargs: Any) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.bale"
        inputs = list(table.values())
        report = quietly(lambda: bale.compress(table, path, config=cfg, **kwargs), inputs)
        back = quietly(lambda: bale.decompress(path), inputs)
        info = bale.info(path)
        assert report["per_column"] == info["per_column"]
        return dict(back.columns), info


@E2E_SETTINGS
@given(table=tables(), bound=bounds, data=st.data(), chunk_rows=st.sampled_from([7, 64, 262_144]))
def test_end_to_end_bounds(table: dict[str, np.ndarray], bound: Bound, data: st.DataObject, chunk_rows: int) -> None:
    floats = [name for name, v in table.items() if v.dtype.kind == "f"]
    overridden = data.draw(st.lists(st.sampled_from(floats), unique=True) if floats else st.just([]))
    errors = {name: "abs=0.5" for name in overridden}
    back, info = compress_round_trip(table, fast_config(chunk_rows), error=bound.to_json(), errors=errors or None)
    assert list(back) == list(table)
    assert info["rows"] == len(next(iter(table.values())))
    for name, original in table.items():
        decoded = back[name]
        assert decoded.dtype == original.dtype, name
        assert decoded.shape == original.shape, name
        if original.dtype.kind == "f":
            expected = parse_bound(errors[name]) if name in errors else bound
        else:
            expected = Bound("exact")
            assert same_bits(original, decoded), name
        assert parse_bound(info["per_column"][name]["bound"]) == expected, name
        assert quietly(lambda o=original, d=decoded, b=expected: check_bound(o, d, b), [original]) == 0, name
        special = ~np.isfinite(original) | (original == 0) if original.dtype.kind == "f" else np.ones(len(original),
                                                                                                       bool)
        assert same_bits(original[special], decoded[special]), name


@E2E_SETTINGS
@given(table=tables())
def test_end_to_end_exact_default(table: dict[str, np.ndarray]) -> None:
    """``error="exact"`` makes every column, floats included, bit-exact."""
    back, info = compress_round_trip(table, fast_config(64), error="exact")
    for name, original in table.items():
        assert same_bits(original, back[name]), name
        assert info["per_column"][name]["predictor"] == "exact"


def test_end_to_end_int_column_cannot_be_lossy(tmp_path: Path) -> None:
    table = {"i": np.arange(10, dtype=np.int32), "f": np.linspace(0, 1, 10)}
    with pytest.raises(bale.BaleInputError):
        bale.compress(table, tmp_path / "x.bale", errors={"i": "abs=0.5"}, config=fast_config(64))
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- (c) learned model on


def test_end_to_end_learned_model_finds_relation(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    n = 3000
    pt = rng.exponential(20.0, n).astype(np.float32) + np.float32(1.0)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    eta = rng.normal(0.0, 1.5, n).astype(np.float32)
    px = (pt.astype(np.float64) * np.cos(phi.astype(np.float64))).astype(np.float32)
    table = {
        "event": np.arange(n, dtype=np.int64) // 3,
        "charge": rng.choice(np.array([-1, 1], np.int32), n),
        "pt": pt,
        "phi": phi,
        "eta": eta,
        "px": px,
        "mass": (0.1 * pt + rng.normal(0, 0.5, n)).astype(np.float64),
    }
    table["px"][:3] = [np.nan, -0.0, np.inf]
    cfg = BaleConfig()
    cfg.train.epochs = 3
    cfg.train.max_rows = 2000
    path = tmp_path / "x.bale"
    bale.compress(table, path, error="rel=1e-3", errors={"eta": "abs=1e-3"}, config=cfg)
    back = bale.decompress(path)
    info = bale.info(path)
    for name, original in table.items():
        bound = Bound("exact") if original.dtype.kind != "f" else parse_bound(info["per_column"][name]["bound"])
        assert back[name].dtype == original.dtype, name
        assert check_bound(original, back[name], bound) == 0, name
    assert same_bits(table["event"], back["event"]) and same_bits(table["charge"], back["charge"])
    assert same_bits(table["px"][:3], back["px"][:3])
    assert info["per_column"]["px"]["predictor"] == "relation"
    assert info["per_column"]["eta"]["bound"] == "abs=0.001"
    # a relation costs a few bits per value, far below the raw 32
    assert info["per_column"]["px"]["bits_per_value"] < 8


# Regression (fixed): training (bale.compress with the learned model on) emits RuntimeWarnings on large finite
# values in an abs-bounded column: _network_inputs (src/bale/train*/fit.py) computes ``t.mean()``/``t.std()``
# of values near the float64 maximum ("overflow encountered in reduce"), the normalization becomes inf/nan,
# and bale/models/conditional.py then warns "invalid value encountered in multiply". The bound still holds
# (predictions fall back), but the network's features are garbage and, with warnings as errors (this
# project's pytest config, ``python -W error``), compress crashes. Expected: no warning, finite normalization.
def test_regression_learned_model_huge_values_warn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = {"a": np.full(200, 1e308), "b": rng.uniform(-1, 1, 200) * 1e307}
    cfg = BaleConfig()
    cfg.train.epochs = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bale.compress(table, tmp_path / "x.bale", error="abs=1e-3", config=cfg)
    back = bale.decompress(tmp_path / "x.bale")
    for name, original in table.items():
        assert check_bound(original, back[name], Bound("abs", 1e-3)) == 0
