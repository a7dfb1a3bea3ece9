"""The numcodecs codec ``bale`` and its zarr v3 adapter ``numcodecs.bale``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
zarr = pytest.importorskip("zarr", minversion="3")

import pyarrow.parquet as pq  # noqa: E402

from bale.api import save_model, train  # noqa: E402
from bale.bounds import Bound, check_bound  # noqa: E402
from bale.config import BaleConfig  # noqa: E402
from bale.errors import BaleFormatError, BaleInputError  # noqa: E402
from bale.models.bundle import DatasetModel  # noqa: E402
from bale.models.plan import CompressionModel  # noqa: E402
from bale.numcodecs_codec import BaleCodec, BaleZarrCodec  # noqa: E402
from common import JETS  # noqa: E402

FLOATS = ["pt", "eta", "phi", "mass"]
REL = Bound("rel", 1e-3)


@pytest.fixture(scope="module")
def jets() -> dict[str, np.ndarray]:
    table = pq.read_table(JETS)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _train(columns: dict[str, np.ndarray]) -> CompressionModel:
    cfg = BaleConfig()
    cfg.train.epochs = 3
    model = train(columns, error="rel=1e-3", config=cfg)
    assert isinstance(model, CompressionModel)
    return model


@pytest.fixture(scope="module")
def models(jets: dict[str, np.ndarray]) -> dict[str, CompressionModel]:
    """One model per layout, trained once: one float column, four float columns, float + int."""
    return {
        "pt": _train({"pt": jets["pt"]}),
        "four": _train({n: jets[n] for n in FLOATS}),
        "mixed": _train({"pt": jets["pt"], "n_constituents": jets["n_constituents"]}),
    }


@pytest.fixture(scope="module")
def rows(jets: dict[str, np.ndarray]) -> np.ndarray:
    """The four float columns as a (rows, columns) array."""
    return np.stack([jets[n] for n in FLOATS], axis=1)


def test_config_round_trip(models: dict[str, CompressionModel], rows: np.ndarray) -> None:
    codec = BaleCodec.from_model(models["four"], error="rel=1e-3", errors=["mass:rel=1e-4"])
    config = json.loads(json.dumps(codec.get_config()))  # JSON-ready, as zarr stores it
    assert config["id"] == "bale"
    assert config["columns"] == FLOATS
    again = BaleCodec.from_config({k: v for k, v in config.items() if k != "id"})
    assert again == codec
    assert again.get_config() == codec.get_config()
    assert again.encode(rows) == codec.encode(rows)


def test_registry_finds_the_codec(models: dict[str, CompressionModel]) -> None:
    codec = BaleCodec.from_model(models["pt"])
    found = numcodecs.get_codec(json.loads(json.dumps(codec.get_config())))
    assert isinstance(found, BaleCodec)
    assert found == codec
    assert "sha256" in repr(found) and codec.model not in repr(found)  # no kilobytes of base64 in the repr


def test_model_file_keeps_its_bytes(models: dict[str, CompressionModel], tmp_path: Path) -> None:
    path = tmp_path / "pt.model"
    sha = save_model(models["pt"], path)
    codec = BaleCodec.from_model(path)
    assert codec.model_sha256 == sha
    assert base64.b64decode(codec.model) == path.read_bytes()


def test_one_column_1d_and_nd(models: dict[str, CompressionModel], jets: dict[str, np.ndarray]) -> None:
    codec = BaleCodec.from_model(models["pt"])
    x = jets["pt"]
    assert x.dtype == np.float32 and x.ndim == 1
    encoded = codec.encode(x)
    assert len(encoded) < x.nbytes
    y = codec.decode(encoded)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert check_bound(x, y, REL) == 0
    grid = x.reshape(40, 50)
    z = codec.decode(codec.encode(grid))
    assert z.shape == (40, 50) and z.dtype == np.float32
    assert check_bound(grid, z, REL) == 0
    out = np.empty_like(grid)
    assert codec.decode(codec.encode(grid), out=out) is out
    np.testing.assert_array_equal(out, z)


def test_rows_by_columns(models: dict[str, CompressionModel], rows: np.ndarray) -> None:
    codec = BaleCodec.from_model(models["four"])
    encoded = codec.encode(rows)
    assert len(encoded) < rows.nbytes
    y = codec.decode(encoded)
    assert y.shape == rows.shape and y.dtype == rows.dtype
    for i in range(len(FLOATS)):
        assert check_bound(rows[:, i], y[:, i], REL) == 0
    cube = rows.reshape(50, 40, 4)  # any leading shape: the last axis is the columns
    assert check_bound(cube, codec.decode(codec.encode(cube)), REL) == 0
    big_endian = rows.astype(">f4")
    back = codec.decode(codec.encode(big_endian))
    assert back.dtype == np.dtype(">f4") and check_bound(rows, back.astype("<f4"), REL) == 0


def test_column_order_is_the_last_axis(models: dict[str, CompressionModel], rows: np.ndarray) -> None:
    reordered = BaleCodec.from_model(models["four"], columns=["mass", "pt", "eta", "phi"])
    swapped = rows[:, [3, 0, 1, 2]]
    y = reordered.decode(reordered.encode(swapped))
    assert check_bound(swapped, y, REL) == 0


def test_integers_exact(models: dict[str, CompressionModel], jets: dict[str, np.ndarray]) -> None:
    codec = BaleCodec.from_model(models["mixed"])
    record = np.empty(2000, dtype=[("n_constituents", "<i4"), ("pt", "<f4")])
    record["n_constituents"] = jets["n_constituents"]
    record["pt"] = jets["pt"]
    back = codec.decode(codec.encode(record))
    assert back.dtype == record.dtype and back.shape == record.shape
    np.testing.assert_array_equal(back["n_constituents"], record["n_constituents"])
    assert check_bound(record["pt"], back["pt"], REL) == 0
    narrow = record.astype([("n_constituents", "<i2"), ("pt", "<f4")])  # int16 casts safely to the model's int32
    again = codec.decode(codec.encode(narrow))
    assert again.dtype == narrow.dtype
    np.testing.assert_array_equal(again["n_constituents"], narrow["n_constituents"])


def test_wrong_layouts_are_refused(models: dict[str, CompressionModel], rows: np.ndarray) -> None:
    codec = BaleCodec.from_model(models["four"])
    with pytest.raises(ValueError, match="last axis must have length 4"):
        codec.encode(rows[:, :3])
    with pytest.raises(ValueError, match="last axis must have length 4"):
        codec.encode(rows.reshape(-1))
    with pytest.raises(ValueError, match="does not cast safely"):
        codec.encode(rows.astype(np.float64))
    with pytest.raises(ValueError, match="each of the model's columns once"):
        BaleCodec.from_model(models["four"], columns=["pt", "eta", "phi"])
    with pytest.raises(ValueError, match="unknown column"):
        BaleCodec.from_model(models["four"], errors=["energy:rel=1e-4"])
    with pytest.raises(BaleInputError, match="base64"):
        BaleCodec("not base64!")
    with pytest.raises(BaleInputError, match="single table"):
        BaleCodec.from_model(DatasetModel({"": models["pt"], "Jet": models["four"]}))  # type: ignore[arg-type]


def test_foreign_bytes_are_refused(models: dict[str, CompressionModel], rows: np.ndarray) -> None:
    codec = BaleCodec.from_model(models["four"])
    with pytest.raises(BaleFormatError):
        codec.decode(b"definitely not a bale file")
    other = BaleCodec.from_model(models["pt"])
    with pytest.raises(Exception, match="model"):  # compressed with another model
        other.decode(codec.encode(rows))


def test_zarr_v3_rows_by_columns(models: dict[str, CompressionModel], rows: np.ndarray, tmp_path: Path) -> None:
    data = rows[:1990]  # not a multiple of the chunk rows: the last chunk is partial
    store = tmp_path / "jets.zarr"
    z = zarr.create_array(
        store,
        shape=data.shape,
        chunks=(512, 4),
        dtype="float32",
        serializer=BaleZarrCodec.from_model(models["four"]),
        compressors=None,
    )
    z[:] = data
    assert z.nchunks_initialized == 4
    meta = json.loads((store / "zarr.json").read_text())
    assert [c["name"] for c in meta["codecs"]] == ["numcodecs.bale"]
    reopened = zarr.open_array(store, mode="r")  # the codec comes back from zarr.json alone
    back = reopened[:]
    assert back.shape == data.shape and back.dtype == np.float32
    for i in range(len(FLOATS)):
        assert check_bound(data[:, i], back[:, i], REL) == 0
    assert check_bound(data[600:700], reopened[600:700], REL) == 0
    assert reopened.nbytes_stored() < data.nbytes


def test_zarr_v3_one_column(models: dict[str, CompressionModel], jets: dict[str, np.ndarray]) -> None:
    data = jets["pt"][:1999]
    z = zarr.create_array(
        zarr.storage.MemoryStore(),
        shape=data.shape,
        chunks=(700,),
        dtype="float32",
        serializer=BaleZarrCodec.from_model(models["pt"]),
        compressors=None,
    )
    z[:] = data
    assert check_bound(data, z[:], REL) == 0
    assert z.nbytes_stored() < data.nbytes


def test_zarr_v3_refuses_chunks_that_split_the_columns(models: dict[str, CompressionModel]) -> None:
    with pytest.raises(ValueError, match="last axis must have length 4"):
        zarr.create_array(
            zarr.storage.MemoryStore(),
            shape=(1000, 4),
            chunks=(500, 2),
            dtype="float32",
            serializer=BaleZarrCodec.from_model(models["four"]),
            compressors=None,
        )


def test_zarr_codec_dict_round_trip(models: dict[str, CompressionModel]) -> None:
    codec = BaleZarrCodec.from_model(models["four"], errors=["mass:rel=1e-4"])
    described = json.loads(json.dumps(codec.to_dict()))
    again = BaleZarrCodec.from_dict(described)
    assert again == codec and hash(again) == hash(codec)
    assert again.codec == codec.codec


def test_chunks_never_touch_the_disk(
    models: dict[str, CompressionModel], rows: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encode and decode in memory: a file created anywhere would fail the test."""
    import tempfile

    import bale.container.format as container

    def no_files(*_: object, **__: object) -> None:
        raise AssertionError("the codec created a file")

    monkeypatch.setattr(container, "temp_beside", no_files)
    monkeypatch.setattr(tempfile, "mkstemp", no_files)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_files)
    codec = BaleCodec.from_model(models["four"], error="rel=1e-3")
    decoded = codec.decode(codec.encode(rows)).reshape(rows.shape)
    for i in range(rows.shape[1]):
        assert check_bound(rows[:, i], decoded[:, i], REL) == 0
