"""Unit tests of bale.codec: varints, bit packing, the uint stream, exact and lossy codecs, corrupt input.

Tests named ``test_regression_*`` pin bugs found by the fuzz tests here (corrupt input
escaping as non-bale exceptions, trusted sizes, warnings on signalling NaNs).
"""

from __future__ import annotations

import warnings
from functools import partial

import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bale.bounds import Bound, check_bound
from bale.codec.bitpack import pack_bits, unpack_bits
from bale.codec.exact import decode_exact, encode_exact
from bale.codec.lossy import Prediction, decode_lossy, encode_lossy
from bale.codec.rans import PROB_BITS, quantized_frequencies
from bale.codec.uint_stream import _bit_length, decode_ints, decode_uints, encode_uints, tokenize, unzigzag, zigzag
from bale.codec.varint import ByteReader, block, encode_varint
from bale.errors import BaleFormatError
from common import same_bits

U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOAT_DTYPES = ["float16", "float32", "float64"]
ALL_DTYPES = ["bool", *INT_DTYPES, *FLOAT_DTYPES]


# --------------------------------------------------------------------------------------------- varint


VARINT_VALUES = [0, 1, 2, 126, 127, 128, 129, 255, 256, 2**14 - 1, 2**14, 2**21, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
                 U64_MAX, 2**64, 2**70 - 1]


@pytest.mark.parametrize("value", VARINT_VALUES)
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert len(data) == max(1, -(-value.bit_length() // 7))
    assert all(b & 0x80 for b in data[:-1]) and not data[-1] & 0x80
    reader = ByteReader(data + b"\xff")
    assert reader.varint() == value
    assert reader.remaining == 1


def test_varint_sequence_and_blocks() -> None:
    payloads = [b"", b"x", bytes(range(256)) * 3]
    data = b"".join(encode_varint(i) + block(p) for i, p in enumerate(payloads))
    reader = ByteReader(data)
    for i, p in enumerate(payloads):
        assert reader.varint() == i
        assert bytes(reader.block()) == p
    assert reader.remaining == 0


def test_varint_negative_rejected() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff", b"\x81\x80\x80"])
def test_varint_truncated(data: bytes) -> None:
    with pytest.raises(BaleFormatError):
        ByteReader(data).varint()


def test_varint_too_long() -> None:
    with pytest.raises(BaleFormatError):
        ByteReader(b"\x80" * 20 + b"\x01").varint()


def test_byte_reader_take_and_block_bounds() -> None:
    reader = ByteReader(b"abc")
    with pytest.raises(BaleFormatError):
        reader.take(-1)
    with pytest.raises(BaleFormatError):
        reader.take(4)
    assert bytes(reader.take(3)) == b"abc"
    assert bytes(reader.take(0)) == b""
    with pytest.raises(BaleFormatError):
        ByteReader(encode_varint(5) + b"abcd").block()


# -------------------------------------------------------------------------------------------- bitpack


def test_bitpack_empty() -> None:
    empty = np.zeros(0, np.uint64)
    assert pack_bits(empty, np.zeros(0, np.int64)) == b""
    assert unpack_bits(b"", np.zeros(0, np.int64)).shape == (0,)


def test_bitpack_zero_widths() -> None:
    values = np.array([5, 7, U64_MAX], np.uint64)
    widths = np.zeros(3, np.int64)
    assert pack_bits(values, widths) == b""
    out = unpack_bits(b"", widths)
    assert out.dtype == np.uint64 and out.tolist() == [0, 0, 0]


@pytest.mark.parametrize("width", [1, 2, 7, 8, 9, 31, 32, 33, 63, 64])
def test_bitpack_single_value(width: int) -> None:
    value = (1 << width) - 1
    for v in (0, 1, value, value >> 1, 1 << (width - 1)):
        data = pack_bits(np.array([v], np.uint64), np.array([width]))
        assert len(data) == -(-width // 8)
        assert unpack_bits(data, np.array([width])).tolist() == [v]


def test_bitpack_msb_first() -> None:
    assert pack_bits(np.array([1, 0, 3], np.uint64), np.array([1, 3, 4])) == bytes([0b10000011])


def test_bitpack_random_round_trip() -> None:
    rng = np.random.default_rng(1)
    widths = rng.integers(0, 65, 500)
    values = rng.integers(0, 2**64, 500, dtype=np.uint64, endpoint=False)
    masked = np.array([int(v) & ((1 << int(w)) - 1) for v, w in zip(values, widths, strict=True)], np.uint64)
    data = pack_bits(values, widths)  # high bits above the width are dropped
    assert len(data) == -(-int(widths.sum()) // 8)
    assert unpack_bits(data, widths).tolist() == masked.tolist()
    assert unpack_bits(data + b"\x00\x00", widths).tolist() == masked.tolist()  # trailing bytes ignored


def test_bitpack_all_equal_max() -> None:
    values = np.full(100, U64_MAX, np.uint64)
    widths = np.full(100, 64)
    assert unpack_bits(pack_bits(values, widths), widths).tolist() == [U64_MAX] * 100


def test_bitpack_short_stream() -> None:
    widths = np.array([8, 8, 1])
    data = pack_bits(np.array([1, 2, 1], np.uint64), widths)
    with pytest.raises(BaleFormatError):
        unpack_bits(data[:-1], widths)


# --------------------------------------------------------------------------------------- zigzag, tokens


def test_zigzag_known_values() -> None:
    v = np.array([0, -1, 1, -2, 2, I64_MAX, I64_MIN, I64_MIN + 1, I64_MAX - 1], np.int64)
    z = zigzag(v)
    assert z.dtype == np.uint64
    assert z.tolist() == [0, 1, 2, 3, 4, U64_MAX - 1, U64_MAX, U64_MAX - 2, U64_MAX - 3]
    back = unzigzag(z)
    assert back.dtype == np.int64 and back.tolist() == v.tolist()


def test_zigzag_bijective_random() -> None:
    rng = np.random.default_rng(2)
    v = rng.integers(I64_MIN, I64_MAX, 10_000, dtype=np.int64, endpoint=True)
    assert unzigzag(zigzag(v)).tolist() == v.tolist()
    u = rng.integers(0, U64_MAX, 10_000, dtype=np.uint64, endpoint=True)
    assert zigzag(unzigzag(u)).tolist() == u.tolist()
    # small magnitudes map to small numbers
    small = np.arange(-1000, 1000, dtype=np.int64)
    assert int(zigzag(small).max()) == 1999


def test_zigzag_empty() -> None:
    assert zigzag(np.zeros(0, np.int64)).shape == (0,)
    assert unzigzag(np.zeros(0, np.uint64)).shape == (0,)


def test_bit_length_exact() -> None:
    vals = [1, 2, 3, 15, 16, 2**31, 2**32 - 1, 2**32, 2**53, 2**53 + 1, 2**63 - 1, 2**63, U64_MAX]
    vals += [(1 << k) + d for k in range(64) for d in (-1, 0, 1) if 0 < (1 << k) + d <= U64_MAX]
    got = _bit_length(np.array(vals, np.uint64))
    assert got.tolist() == [v.bit_length() for v in vals]


def test_tokens_stay_below_256() -> None:
    tokens, _, widths = tokenize(np.array([0, 15, 16, 17, 2**63, U64_MAX], np.uint64))
    assert tokens.tolist()[:3] == [0, 15, 16]
    assert int(tokens.max()) == 255
    assert widths.tolist()[:3] == [0, 0, 2]


# ---------------------------------------------------------------------------------------- uint stream


def uint_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    powers = [(1 << k) + d for k in range(65) for d in (-1, 0, 1) if 0 <= (1 << k) + d <= U64_MAX]
    return {
        "empty": np.zeros(0, np.uint64),
        "zero": np.zeros(1, np.uint64),
        "max": np.array([U64_MAX], np.uint64),
        "one_big": np.array([123456789012345], np.uint64),
        "all_equal_small": np.full(1000, 7, np.uint64),
        "all_equal_big": np.full(257, U64_MAX, np.uint64),
        "all_zero": np.zeros(300, np.uint64),
        "two_values": np.array([0, U64_MAX] * 50, np.uint64),
        "powers": np.array(powers, np.uint64),
        "geometric": rng.geometric(0.05, 5000).astype(np.uint64),
        "uniform64": rng.integers(0, U64_MAX, 2000, dtype=np.uint64, endpoint=True),
        "mixed": np.concatenate([rng.integers(0, 16, 500), rng.integers(0, 2**40, 500)]).astype(np.uint64),
    }


@pytest.mark.parametrize("name", list(uint_cases()))
def test_uint_stream_round_trip(name: str) -> None:
    values = uint_cases()[name]
    data = encode_uints(values)
    out = decode_uints(data, expected=len(values))
    assert out.dtype == np.uint64
    assert out.tolist() == values.tolist()
    reader = ByteReader(data + b"tail")  # decoding through a reader consumes exactly the stream
    assert decode_uints(reader).tolist() == values.tolist()
    assert bytes(reader.take(reader.remaining)) == b"tail"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64", "int32", "int64", "bool"])
def test_uint_stream_input_dtypes(dtype: str) -> None:
    values = np.arange(0, 200).astype(dtype)
    assert decode_uints(encode_uints(values)).tolist() == values.astype(np.uint64).tolist()


def test_uint_stream_is_compact() -> None:
    values = np.zeros(100_000, np.uint64)
    assert len(encode_uints(values)) < 16  # a single token costs nothing but the histogram
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2, 100_000).astype(np.uint64)
    assert len(encode_uints(bits)) < 100_000 / 8 * 1.05


def test_uint_stream_expected_count() -> None:
    data = encode_uints(np.arange(10, dtype=np.uint64))
    with pytest.raises(BaleFormatError):
        decode_uints(data, expected=9)
    with pytest.raises(BaleFormatError):
        decode_uints(encode_uints(np.zeros(0, np.uint64)), expected=1)


def test_uint_stream_deterministic() -> None:
    values = np.random.default_rng(5).geometric(0.1, 1000).astype(np.uint64)
    assert encode_uints(values) == encode_uints(values.copy())


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=256).filter(lambda c: sum(c) > 0))
@settings(max_examples=300, deadline=None)
def test_rans_frequencies_are_a_valid_table(counts: list[int]) -> None:
    freq = quantized_frequencies(np.array(counts))
    assert int(freq.sum()) == 1 << PROB_BITS
    assert all((f >= 1) == (c > 0) for f, c in zip(freq.tolist(), counts, strict=True))


def test_rans_costs_close_to_the_entropy() -> None:
    rng = np.random.default_rng(6)
    values = np.minimum(rng.geometric(0.2, 200_000) - 1, 15).astype(np.uint64)  # tokens only, no extra bits
    p = np.bincount(values.astype(np.int64)) / len(values)
    entropy_bytes = -(p[p > 0] * np.log2(p[p > 0])).sum() * len(values) / 8
    assert len(encode_uints(values)) < entropy_bytes * 1.002 + 64


def _v1_stream(values: np.ndarray) -> bytes:
    """A stream as format version 1 wrote it: constriction's ANS, extra bits grouped by width."""
    tokens, extras, widths = tokenize(values)
    counts = np.bincount(tokens, minlength=1)
    out = bytearray(encode_varint(len(values)) + encode_varint(len(counts)))
    for c in counts.tolist():
        out += encode_varint(c)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(tokens, constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False))
    out += block(coder.get_compressed().tobytes()) + block(pack_bits(extras, widths))
    return bytes(out)


@pytest.mark.parametrize("version", [1, 2])
def test_decode_ints_is_unzigzag_of_decode_uints(version: int) -> None:
    rng = np.random.default_rng(8)
    values = np.concatenate([[I64_MIN, I64_MAX, 0, -1, 1], rng.integers(-(2**40), 2**40, 500)]).astype(np.int64)
    data = _v1_stream(zigzag(values)) if version == 1 else encode_uints(zigzag(values))
    out = decode_ints(data, len(values), version)
    assert out.dtype == np.int64
    assert out.tolist() == values.tolist() == unzigzag(decode_uints(data, len(values), version)).tolist()


def test_uint_stream_reads_version_1() -> None:
    values = uint_cases()["mixed"]
    v1 = _v1_stream(values)
    assert decode_uints(v1, len(values), version=1).tolist() == values.tolist()
    assert v1 != encode_uints(values)  # version 2 codes differently: the version must be passed on
    with pytest.raises(BaleFormatError):
        decode_uints(v1, len(values), version=2)


def test_uint_stream_rejects_trailing_words_and_bits() -> None:
    values = uint_cases()["geometric"]
    reader = ByteReader(encode_uints(values))
    head = encode_varint(reader.varint())
    alphabet = reader.varint()
    head += encode_varint(alphabet) + b"".join(encode_varint(reader.varint()) for _ in range(alphabet))
    words, bits = bytes(reader.block()), bytes(reader.block())
    for forged in (head + block(words + bytes(4)) + block(bits), head + block(words) + block(bits + bytes(1))):
        with pytest.raises(BaleFormatError, match="corrupt"):
            decode_uints(forged, len(values))


# -------------------------------------------------------------------------------------------- exact


def exact_values(dtype: str, n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        arr = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        arr[:4] = [info.min, info.max, 0, info.max - 1]
        return arr
    width = dt.itemsize
    bits = rng.integers(0, 2 ** (8 * width) - 1, n, dtype=f"u{width}", endpoint=True)
    arr = bits.view(dt).copy()
    fi = np.finfo(dt)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fi.max, fi.min, fi.tiny, fi.smallest_subnormal,
                         -fi.smallest_subnormal, 1.0, -1.0], dtype=dt)
    arr[: len(specials)] = specials
    # NaNs with payloads, quiet and signalling, both signs
    u = arr.view(f"u{width}")
    exp_bits = {2: 0x7C00, 4: 0x7F800000, 8: 0x7FF0000000000000}[width]
    sign = 1 << (8 * width - 1)
    payloads = [1, 2, 3, exp_bits >> 2, (exp_bits >> 1) - 1]
    for i, p in enumerate(payloads):
        u[len(specials) + 2 * i] = exp_bits | (p & ~exp_bits & (sign - 1))
        u[len(specials) + 2 * i + 1] = sign | exp_bits | (p & ~exp_bits & (sign - 1))
    return arr


def exact_cases(dtype: str) -> dict[str, np.ndarray]:
    dt = np.dtype(dtype)
    base = exact_values(dtype)
    cases = {
        "empty": np.zeros(0, dt),
        "one": base[:1].copy(),
        "one_max": base[1:2].copy(),
        "all_equal": np.full(100, base[1], dt),
        "random": base,
        "small_range": (np.arange(500) % 3).astype(dt),
        "sorted": np.sort(exact_values(dtype, 400, 1)) if dt.kind != "f" else np.arange(400).astype(dt),
    }
    if dt.kind == "f":
        cases["nan_payloads"] = base[12:22].copy()
    return cases


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_exact_round_trip_bit_exact(dtype: str) -> None:
    for name, values in exact_cases(dtype).items():
        data = encode_exact(values)
        out = decode_exact(data, len(values), np.dtype(dtype))
        assert same_bits(values, out), (dtype, name)
        assert check_bound(values, out, Bound("exact")) == 0


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_exact_keeps_nan_payloads(dtype: str) -> None:
    values = exact_values(dtype)[12:22]
    assert np.isnan(values).all()
    assert len({v.tobytes() for v in values}) == len(values)  # all payloads differ
    out = decode_exact(encode_exact(values), len(values), np.dtype(dtype))
    assert same_bits(values, out)


def test_exact_non_contiguous_input() -> None:
    values = np.arange(100, dtype=np.int32)[::3]
    assert same_bits(np.ascontiguousarray(values), decode_exact(encode_exact(values), len(values), np.int32))


@pytest.mark.parametrize(("values", "kind"), [
    (np.random.default_rng(6).geometric(0.3, 2000).astype(np.int32), 0),  # offset: small values
    (np.cumsum(np.random.default_rng(6).geometric(0.3, 2000)) * 1000 + 10**12, 1),  # delta: sorted ids
    (np.random.default_rng(6).standard_normal(500), 2),  # zstd: high entropy floats
])
def test_exact_each_coding_is_used(values: np.ndarray, kind: int) -> None:
    data = encode_exact(values)
    assert data[0] == kind
    assert same_bits(values, decode_exact(data, len(values), values.dtype))


def test_exact_endpoints_with_delta_wrap() -> None:
    # consecutive differences overflow int64: delta coding must wrap, not lose values
    values = np.array([I64_MIN, I64_MAX, I64_MIN, 0, I64_MAX, -1] * 20, np.int64)
    assert same_bits(values, decode_exact(encode_exact(values), len(values), np.int64))
    u = np.array([0, U64_MAX, 1, U64_MAX - 1] * 20, np.uint64)
    assert same_bits(u, decode_exact(encode_exact(u), len(u), np.uint64))


def test_exact_wrong_length_or_kind() -> None:
    values = np.arange(50, dtype=np.int16)
    data = encode_exact(values)
    with pytest.raises(BaleFormatError):
        decode_exact(data, 49, np.int16)
    with pytest.raises(BaleFormatError):
        decode_exact(b"\x07" + data[1:], 50, np.int16)
    with pytest.raises(BaleFormatError):
        decode_exact(b"", 50, np.int16)
    zstd = encode_exact(np.random.default_rng(7).standard_normal(50))
    assert zstd[0] == 2
    with pytest.raises(BaleFormatError):
        decode_exact(zstd, 51, np.float64)
    with pytest.raises(BaleFormatError):
        decode_exact(zstd, 50, np.float32)  # right frame, wrong element size


# -------------------------------------------------------------------------------------------- lossy

BOUNDS = [Bound("rel", 1e-3), Bound("rel", 0.3), Bound("rel", 1e-6), Bound("abs", 0.01), Bound("abs", 1e-9),
          Bound("abs", 100.0)]


def lossy_values(dtype: str, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n)
    x = x.astype(dt)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fi.max, fi.min, fi.tiny, -fi.tiny,
                         fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny / 2, 1.0, -1.0], dtype=dt)
    x[: len(specials)] = specials
    width = dt.itemsize
    u = x.view(f"u{width}")
    # quiet NaNs with payloads (signalling NaNs: see test_lossy_signalling_nan_*)
    quiet = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}[width]
    u[len(specials)] = quiet | 5
    u[len(specials) + 1] = (1 << (8 * width - 1)) | quiet | 3
    return x


SNAN = {"float16": 0x7C01, "float32": 0x7F800001, "float64": 0x7FF0000000000001}


def with_signalling_nans(dtype: str) -> np.ndarray:
    x = np.array([1.5, np.nan, np.nan, -2.0, np.nan, 0.0], dtype=dtype)
    u = x.view(f"u{x.itemsize}")
    sign = 1 << (8 * x.itemsize - 1)
    u[1], u[2], u[4] = SNAN[dtype], SNAN[dtype] | sign | 2, SNAN[dtype] | 6
    return x


def prediction_for(kind: str, n: int, bound: Bound, seed: int = 0) -> Prediction:
    rng = np.random.default_rng(seed + 100)
    if kind == "grid":
        return Prediction()
    if kind == "delta":
        return Prediction(delta=True)
    value = rng.standard_normal(n) * (3.0 if bound.mode == "rel" else 50.0)
    value[rng.random(n) < 0.05] = np.nan
    value[rng.random(n) < 0.03] = np.inf
    value[rng.random(n) < 0.03] = -np.inf
    value[rng.random(n) < 0.02] = 1e300
    sign = np.where(rng.random(n) < 0.5, -1, 1).astype(np.int8)
    return Prediction(value=value, sign=sign if kind == "random_signed" else None)


def assert_lossy_ok(values: np.ndarray, bound: Bound, prediction: Prediction) -> tuple[bytes, np.ndarray]:
    payload, decoded = encode_lossy(values, bound, prediction)
    assert decoded.dtype == values.dtype and decoded.shape == values.shape
    assert check_bound(values, decoded, bound) == 0
    out = decode_lossy(payload, len(values), values.dtype, bound, prediction)
    assert same_bits(decoded, out)
    assert check_bound(values, out, bound) == 0
    special = ~np.isfinite(values) | (values == 0)
    assert same_bits(values[special], out[special])
    return payload, out


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bound", BOUNDS, ids=str)
@pytest.mark.parametrize("kind", ["grid", "delta", "random", "random_signed"])
def test_lossy_round_trip(dtype: str, bound: Bound, kind: str) -> None:
    values = lossy_values(dtype)
    assert_lossy_ok(values, bound, prediction_for(kind, len(values), bound))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["grid", "delta", "random_signed"])
def test_lossy_edge_shapes(dtype: str, kind: str) -> None:
    dt = np.dtype(dtype)
    cases = {
        "empty": np.zeros(0, dt),
        "one": np.array([3.25], dt),
        "one_nan": np.array([np.nan], dt),
        "constant": np.full(200, -7.5, dt),
        "zeros": np.zeros(100, dt),
        "minus_zeros": np.full(100, -0.0, dt),
        "all_nan": np.full(50, np.nan, dt),
        "huge_range": (np.geomspace(1e-30, 1e30, 301) * np.resize([1, -1, 1], 301)).astype(dt),
    }
    for name, values in cases.items():
        for bound in (Bound("rel", 1e-2), Bound("abs", 1e-3)):
            try:
                assert_lossy_ok(values, bound, prediction_for(kind, len(values), bound))
            except AssertionError as exc:
                raise AssertionError(f"{name} {bound}") from exc


def test_lossy_exact_prediction_is_cheap() -> None:
    rng = np.random.default_rng(8)
    x = rng.uniform(1, 100, 5000)
    bound = Bound("rel", 1e-3)
    good, _ = assert_lossy_ok(x, bound, Prediction(value=np.log(x) + 1e-5))
    grid, _ = assert_lossy_ok(x, bound, Prediction())
    assert len(good) < len(grid) / 4


def test_lossy_sign_prediction() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal(2000)
    bound = Bound("rel", 1e-2)
    pred = np.log(np.abs(x))
    right = np.where(x < 0, -1, 1).astype(np.int8)
    for sign in (right, -right, None):
        assert_lossy_ok(x, bound, Prediction(value=pred, sign=sign))


def test_lossy_values_coded_raw_when_off_grid() -> None:
    # a huge prediction error makes every value raw, and the bound still holds
    x = np.linspace(1, 2, 100)
    payload, out = assert_lossy_ok(x, Bound("abs", 1e-6), Prediction(value=np.full(100, 1e12)))
    assert same_bits(x, out)
    assert len(payload) >= x.nbytes


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bound", [Bound("rel", 1e-3), Bound("abs", 1e-3)], ids=str)
def test_lossy_signalling_nan_bits_survive(dtype: str, bound: Bound) -> None:
    values = with_signalling_nans(dtype)
    with warnings.catch_warnings():  # see test_bug_lossy_signalling_nan_warns
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        for kind in ("grid", "delta", "random_signed"):
            _, out = assert_lossy_ok(values, bound, prediction_for(kind, len(values), bound))
            assert same_bits(values, np.where(np.isnan(values), out, values))  # same NaN bits


# Regression (fixed): a float32 signalling NaN (e.g. bits 0x7F800001) makes encode_lossy (lossy.py:84
# ``values.astype(np.float64)``, and to_domain at lossy.py:54) and bounds.violations/check_bound
# (bounds.py ``original.astype(np.float64)``) emit "RuntimeWarning: invalid value encountered in cast";
# the bits survive, but with warnings as errors (this project's pytest config, ``python -W error``)
# compressing such a column crashes. The casts need ``np.errstate(invalid="ignore")``.
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_regression_lossy_signalling_nan_warns(dtype: str) -> None:
    values = with_signalling_nans(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, decoded = encode_lossy(values, Bound("rel", 1e-3), Prediction())
        assert check_bound(values, decoded, Bound("rel", 1e-3)) == 0


def test_lossy_bad_class_stream() -> None:
    bad = block(encode_uints(np.array([0, 5, 1], np.uint64))) + block(encode_uints(np.zeros(2, np.uint64))) + block(b"")
    with pytest.raises(BaleFormatError):
        decode_lossy(bad, 3, np.float64, Bound("rel", 1e-3), Prediction())


def test_lossy_raw_block_length_checked() -> None:
    x = np.array([np.nan, 1.0, np.inf])
    payload, _ = encode_lossy(x, Bound("abs", 0.1), Prediction())
    with pytest.raises(BaleFormatError):
        decode_lossy(payload, 3, np.float32, Bound("abs", 0.1), Prediction())
    with pytest.raises(BaleFormatError):
        decode_lossy(payload, 4, np.float64, Bound("abs", 0.1), Prediction())


# ---------------------------------------------------------------------------------- corrupt payloads


def _lossy_payload(kind: str) -> tuple[bytes, int, np.dtype, Bound, Prediction]:
    x = lossy_values("float32", 40, seed=11)
    bound = Bound("rel", 1e-3) if kind != "abs" else Bound("abs", 0.01)
    pred = prediction_for("delta" if kind == "delta" else "random_signed", len(x), bound)
    return encode_lossy(x, bound, pred)[0], len(x), x.dtype, bound, pred


def _decode_exact(data: bytes, *, n: int, dtype: np.dtype) -> np.ndarray:
    return decode_exact(data, n, dtype)


def _decode_lossy(data: bytes, *, n: int, dtype: np.dtype, bound: Bound, prediction: Prediction) -> np.ndarray:
    return decode_lossy(data, n, dtype, bound, prediction)


def payloads() -> dict[str, tuple[bytes, object]]:
    """Small valid payloads, each with a decoder that takes the bytes."""
    out: dict[str, tuple[bytes, object]] = {}
    for name, values in [("uints_small", np.array([0, 3, 17, 2**40, 5, 5], np.uint64)),
                         ("uints_single_token", np.full(9, 3, np.uint64)),
                         ("uints_max", np.array([U64_MAX, 0, 1], np.uint64))]:
        out[name] = (encode_uints(values), partial(decode_uints, expected=len(values)))
    for name, values in [("exact_offset", np.arange(30, dtype=np.int16) % 5),
                         ("exact_delta", np.arange(0, 3 * 10**12, 10**11, dtype=np.int64)),
                         ("exact_zstd", np.random.default_rng(12).standard_normal(16)),
                         ("exact_bool", np.resize([True, False, False], 33))]:
        data = encode_exact(values)
        out[name] = (data, partial(_decode_exact, n=len(values), dtype=values.dtype))
    for kind in ("rel", "abs", "delta"):
        data, n, dt, bound, pred = _lossy_payload(kind)
        out[f"lossy_{kind}"] = (data, partial(_decode_lossy, n=n, dtype=dt, bound=bound, prediction=pred))
    return out


PAYLOADS = payloads()


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_payload_decodes(name: str) -> None:
    data, decode = PAYLOADS[name]
    decode(data)  # type: ignore[operator]


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_truncation_raises_format_error(name: str) -> None:
    data, decode = PAYLOADS[name]
    optional_tail = _optional_tail(data) if name.startswith("lossy") else None
    for cut in range(len(data)):
        if cut == optional_tail:  # a lossy payload without its clip block is whole (the container's CRC sees the cut)
            continue
        with pytest.raises(BaleFormatError):
            decode(data[:cut])  # type: ignore[operator]
        with pytest.raises(BaleFormatError):
            decode(memoryview(data)[:cut])  # type: ignore[operator]


def _optional_tail(data: bytes) -> int | None:
    """Where a lossy payload's optional fourth block (the clip range) starts, if it has one."""
    reader = ByteReader(data)
    for _ in range(3):
        reader.block()
    return reader.pos if reader.remaining else None


def _flip_failures(data: bytes, decode: object, trials: int, seed: int) -> dict[str, str]:
    """Decode ``trials`` copies of ``data`` with random bit/byte flips; non-bale exceptions by type+message."""
    rng = np.random.default_rng(seed)
    failures: dict[str, str] = {}
    for _ in range(trials):
        buf = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(len(buf)))
            if rng.random() < 0.5:
                buf[pos] ^= 1 << int(rng.integers(8))
            else:
                buf[pos] = int(rng.integers(256))
        try:
            decode(bytes(buf))  # type: ignore[operator]
        except BaleFormatError:
            pass
        except Exception as exc:  # anything else is a bug: corrupt input must raise BaleFormatError
            key = f"{type(exc).__name__}: {str(exc)[:80]}"
            failures.setdefault(key, buf.hex())
    return failures


# Regression (fixed): corrupt payloads escape as non-bale exceptions (each has its own test_bug_* below):
#   * decode_exact (zstd path) -> MemoryError: the frame's declared content size is trusted
#     (fails here for "exact_zstd"; see test_bug_zstd_declared_content_size_not_checked);
#   * decode_uints -> ValueError from constriction when the ANS words are damaged
#     (test_exhaustive_single_byte_values; test_bug_ans_zero_word_raises_value_error);
#   * decode_uints -> OverflowError on a histogram count >= 2**63 (test_bug_histogram_count_overflow).
# Parameters that pass today stay as regression tests.
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_byte_flips_raise_only_format_error(name: str) -> None:
    data, decode = PAYLOADS[name]
    failures = _flip_failures(data, decode, trials=400, seed=len(name))
    assert not failures, f"non-bale exceptions from corrupt {name}: {failures}"


# Regression (fixed): fails with constriction's ValueError (ANS words ending in a zero word), see above.
def test_exhaustive_single_byte_values() -> None:
    """Every byte position set to many values, on one small lossy payload: only BaleFormatError may escape."""
    data, decode = PAYLOADS["lossy_abs"]
    data = data[: min(len(data), 10_000)]
    failures: dict[str, str] = {}
    for pos in range(len(data)):
        for value in range(0, 256, 17):
            buf = bytearray(data)
            buf[pos] = value
            try:
                decode(bytes(buf))  # type: ignore[operator]
            except BaleFormatError:
                pass
            except Exception as exc:
                failures.setdefault(f"{type(exc).__name__}: {str(exc)[:80]}", f"pos={pos} value={value}")
    assert not failures, failures


# Regression (fixed): a damaged ANS payload raises constriction's ValueError, not BaleFormatError.
# Reproducer: a stream of 3 values, two-token histogram, ANS block of one zero word.
def test_regression_ans_zero_word_raises_value_error() -> None:
    data = encode_varint(3) + encode_varint(2) + encode_varint(1) + encode_varint(2) + block(b"\0\0\0\0") + block(b"")
    with pytest.raises(BaleFormatError):
        decode_uints(data, expected=3)


# Regression (fixed): a histogram count that does not fit int64 raises OverflowError, not BaleFormatError.
def test_regression_histogram_count_overflow() -> None:
    data = encode_varint(3) + encode_varint(2) + encode_varint(2**64) + encode_varint(1) + block(b"") + block(b"")
    with pytest.raises(BaleFormatError):
        decode_uints(data, expected=3)


# Regression (fixed): decode_exact's zstd path trusts the content size declared in the zstd frame header:
# ``max_output_size`` only applies to frames *without* a declared size, so a corrupt/forged frame
# makes python-zstandard allocate whatever it declares (2**60 bytes -> MemoryError; 2**30 -> a 1 GiB
# allocation before the "data corruption" error). Found by test_byte_flips_raise_only_format_error[exact_zstd].
# Fix: check zstandard.get_frame_parameters(...).content_size against n * itemsize before decompressing.
def test_regression_zstd_declared_content_size_not_checked() -> None:
    frame = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + (2**60).to_bytes(8, "little") + b"\x01\x00\x00"
    with pytest.raises(BaleFormatError):
        decode_exact(bytes([2]) + block(frame), 4, np.dtype(np.int32))


# -- clipping to the chunk's range -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, width=32), min_size=1, max_size=300),
    st.sampled_from([Bound("rel", 1e-2), Bound("abs", 0.05), Bound("rel", 1e-3)]),
    st.floats(-0.2, 0.2),
)
def test_reconstruction_stays_in_the_range_of_the_values(values: list[float], bound: Bound, shift: float) -> None:
    """Fractions in [0, 1] come back in [0, 1] whatever the prediction; the bound still holds."""
    x = np.array(values, np.float32)
    pred = Prediction(value=np.log(np.abs(x.astype(np.float64)) + 1e-30) + shift if bound.mode == "rel" else x + shift)
    payload, decoded = encode_lossy(x, bound, pred)
    back = decode_lossy(payload, len(x), x.dtype, bound, pred)
    assert back.tobytes() == decoded.tobytes()
    assert check_bound(x, back, bound) == 0
    regular = x != 0
    if regular.any():
        assert back[regular].min() >= x[regular].min() and back[regular].max() <= x[regular].max()


def test_clip_block_only_when_it_changes_something() -> None:
    x = np.full(100, 1.0, np.float32)
    bound = Bound("abs", 0.1)
    inside, _ = encode_lossy(x, bound, Prediction(value=np.full(100, 1.0)))
    above, decoded = encode_lossy(x, bound, Prediction(value=np.full(100, 1.06)))
    assert len(above) > len(inside)
    assert (decoded == 1.0).all()  # the residual rounds to 0: without the clip every value would be 1.06
    assert (decode_lossy(above, 100, x.dtype, bound, Prediction(value=np.full(100, 1.06))) == 1.0).all()


@pytest.mark.parametrize("clip", [np.array([2.0, 1.0], np.float32), np.array([np.nan, 1.0], np.float32),
                                  np.array([1.0], np.float32)])
def test_damaged_clip_block_is_a_format_error(clip: np.ndarray) -> None:
    x = np.full(10, 1.0, np.float32)
    bound, pred = Bound("abs", 0.1), Prediction(value=np.full(10, 1.0))
    payload, _ = encode_lossy(x, bound, pred)
    with pytest.raises(BaleFormatError, match="clip-range"):
        decode_lossy(payload + block(clip.tobytes()), 10, x.dtype, bound, pred)
