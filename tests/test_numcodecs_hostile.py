"""The numcodecs/zarr codec on the inputs that used to change values or crash (issue 16).

Integers never go through a float bound, raw bytes never reach a lossy column, and a forged
chunk (CRC-valid, its ``source`` record edited) is a one-line ``BaleFormatError`` before
anything it declares is allocated.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
zarr = pytest.importorskip("zarr", minversion="3")

from bale.api import train  # noqa: E402
from bale.config import BaleConfig  # noqa: E402
from bale.errors import BaleFormatError, BaleInputError  # noqa: E402
from bale.models.plan import CompressionModel  # noqa: E402
from bale.numcodecs_codec import BaleCodec, BaleZarrCodec  # noqa: E402
from common import forge, peak_memory  # noqa: E402

RNG = np.random.default_rng(16)


def _model(columns: dict[str, np.ndarray], error: str = "rel=1e-3") -> CompressionModel:
    cfg = BaleConfig()
    cfg.model.learned = False
    model = train(columns, error=error, config=cfg)
    assert isinstance(model, CompressionModel)
    return model


@pytest.fixture(scope="module")
def floats() -> BaleCodec:
    return BaleCodec.from_model(_model({"x": RNG.normal(size=500).astype(np.float32)}))


@pytest.fixture(scope="module")
def ints() -> BaleCodec:
    return BaleCodec.from_model(_model({"n": RNG.integers(0, 50, 500).astype(np.int32)}))


@pytest.fixture(scope="module")
def mixed() -> BaleCodec:
    return BaleCodec.from_model(
        _model({"n": RNG.integers(0, 50, 500).astype(np.int32), "x": RNG.normal(size=500).astype(np.float32)})
    )


def test_integers_through_a_float_model_are_refused(floats: BaleCodec) -> None:
    values = RNG.integers(-1000, 1000, 20_000).astype(np.int16)
    with pytest.raises(BaleInputError, match="never coded through a float bound") as info:
        floats.encode(values)
    assert "\n" not in str(info.value) and "'x'" in str(info.value)
    for dtype in (np.uint8, np.int32, np.bool_, np.float16):  # float16 would be rounded again after decoding
        with pytest.raises(BaleInputError, match="'x'"):
            floats.encode(np.zeros(10, dtype))


def test_zarr_refuses_an_integer_array_with_a_float_model(floats: BaleCodec) -> None:
    serializer = BaleZarrCodec.from_codec(floats)
    with pytest.raises(BaleInputError, match="never coded through a float bound"):
        z = zarr.create_array(
            zarr.storage.MemoryStore(), shape=(10_000,), chunks=(10_000,), dtype="int16", serializer=serializer,
            compressors=None,
        )
        z[...] = RNG.integers(-1000, 1000, 10_000).astype(np.int16)  # in case creation did not check


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_raw_bytes_never_reach_a_lossy_column(floats: BaleCodec, ints: BaleCodec, kind: type) -> None:
    raw = kind(RNG.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(BaleInputError, match="raw bytes"):
        floats.encode(raw)
    back = ints.decode(ints.encode(raw))  # an exact column holds them exactly
    assert bytes(back.astype(np.uint8).tobytes()) == bytes(raw)


def test_integers_for_exact_columns_stay_exact(mixed: BaleCodec) -> None:
    record = np.empty(300, dtype=[("n", "<i2"), ("x", "<f4")])
    record["n"] = RNG.integers(-30000, 30000, 300)
    record["x"] = RNG.normal(size=300)
    back = mixed.decode(mixed.encode(record))
    assert back.dtype == record.dtype
    np.testing.assert_array_equal(back["n"], record["n"])


def test_decoding_needs_no_temporary_file(floats: BaleCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    values = RNG.normal(size=1000).astype(np.float32)
    encoded = floats.encode(values)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decode wrote a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert floats.decode(encoded).shape == values.shape


def _source(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def header(h: dict[str, Any]) -> None:
        edit(h["source"]["numcodecs"])

    return header


FORGERIES: dict[str, Callable[[dict[str, Any]], None]] = {
    "huge shape": _source(lambda d: d.update(shape=[2**31, 2**31])),
    "shape of other rows": _source(lambda d: d.update(shape=[999])),
    "negative shape": _source(lambda d: d.update(shape=[-1000, -1])),
    "shape not ints": _source(lambda d: d.update(shape=["1000"])),
    "many axes": _source(lambda d: d.update(shape=[1] * 100 + [1000])),
    "void dtype": _source(lambda d: d.update(dtype="|V268435456")),
    "structured huge void": _source(
        lambda d: d.update(dtype=[["x", "<f4"], ["", "|V268435456"]], layout="structured")
    ),
    "structured subarray": _source(lambda d: d.update(dtype=[["x", "<f4", [1 << 20]]], layout="structured")),
    "object dtype": _source(lambda d: d.update(dtype="|O")),
    "narrower dtype": _source(lambda d: d.update(dtype="<i1")),
    "unknown layout": _source(lambda d: d.update(layout="diagonal")),
    "last axis mismatch": _source(lambda d: d.update(layout="last_axis", shape=[500, 2])),
    "other columns": _source(lambda d: d.update(columns=["y"])),
    "no description": lambda h: h["source"].pop("numcodecs"),
    "source not a dict": lambda h: h.update(source={"numcodecs": [1, 2]}),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_chunks_are_format_errors(floats: BaleCodec, name: str) -> None:
    encoded = floats.encode(RNG.normal(size=1000).astype(np.float32))
    forged = forge(encoded, header=FORGERIES[name])
    tracemalloc.start()
    try:
        with pytest.raises(BaleFormatError) as info:
            floats.decode(forged)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "\n" not in str(info.value)
    assert peak < 32 * 2**20, f"{name}: {peak} bytes allocated before the error"


def test_forged_row_count_is_refused_before_allocating(mixed: BaleCodec) -> None:
    record = np.zeros(1000, dtype=[("n", "<i4"), ("x", "<f4")])  # constant columns code to a few bytes
    encoded = mixed.encode(record)

    def rows(footer: dict[str, Any]) -> dict[str, Any]:
        footer["chunks"][0]["rows"] = footer["num_rows"] = 2**27  # 1 GiB of values in a file of 1 kB
        footer["table_rows"] = [2**27]
        return footer

    def shape(h: dict[str, Any]) -> None:
        h["chunk_rows"] = 2**27
        h["source"]["numcodecs"]["shape"] = [2**27]

    forged = forge(encoded, header=shape, footer=rows)
    assert len(forged) < 4096
    with peak_memory() as peak, pytest.raises(BaleFormatError, match="decompression bomb"):
        mixed.decode(forged)
    assert peak[0] < 16 * 2**20


def test_out_of_another_size_is_a_format_error(floats: BaleCodec) -> None:
    encoded = floats.encode(RNG.normal(size=1000).astype(np.float32))
    with pytest.raises(BaleFormatError, match="out has"):
        floats.decode(encoded, out=np.empty(10, np.float32))
