"""End-to-end behaviour of the Python API: formats, models, determinism, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import bale
from bale.bounds import Bound, check_bound
from bale.config import BaleConfig
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from common import JETS


def fast_config(**train: object) -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 4
    cfg.train.max_rows = 4096
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def synthetic(n: int = 3000, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = rng.exponential(50, n).astype(np.float32) + 20
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    return {
        "pt": pt,
        "phi": phi,
        "px": (pt.astype(np.float64) * np.cos(phi)).astype(np.float32),
        "width": (0.1 / np.sqrt(pt) * rng.lognormal(0, 0.3, n)).astype(np.float32),
        "n": rng.poisson(12, n).astype(np.int32),
        "flag": rng.random(n) < 0.3,
        "x64": rng.normal(0, 1e3, n),
    }


def assert_within(original: dict[str, np.ndarray], decoded: bale.Table, default: Bound) -> None:
    assert list(decoded.columns) == list(original)
    for name, values in original.items():
        got = decoded[name]
        assert got.dtype == values.dtype, name
        bound = default if values.dtype.kind == "f" else Bound("exact")
        assert check_bound(values, got, bound) == 0, name


@pytest.mark.parametrize("suffix", [".parquet", ".npz", ".h5", ".csv", ".root"])
def test_file_round_trip_every_format(tmp_path: Path, suffix: str) -> None:
    data = synthetic(800)
    if suffix == ".root":
        data.pop("flag")  # ROOT has bool branches, but uproot writes them as such: kept simple here
    if suffix == ".csv":
        data = {k: v for k, v in data.items() if v.dtype in (np.float64, np.int64)}
    source = tmp_path / f"in{suffix}"
    from bale.io import write_table

    write_table(bale.Table(dict(data)), source)
    original = bale.api.as_table(source)
    packed = tmp_path / "x.bale"
    bale.compress(source, packed, error="rel=1e-3", config=fast_config())
    out = tmp_path / f"out{suffix}"
    bale.decompress(packed, out)
    assert_within(original.columns, bale.api.as_table(out), Bound("rel", 1e-3))


def test_in_memory_inputs_pandas_pyarrow_numpy(tmp_path: Path) -> None:
    data = synthetic(500)
    cfg = fast_config()
    for obj in (pd.DataFrame(data), pa.table(data), data):
        bale.compress(obj, tmp_path / "m.bale", error="abs=0.01", config=cfg)
        assert_within(data, bale.decompress(tmp_path / "m.bale"), Bound("abs", 0.01))
    matrix = np.random.default_rng(0).normal(size=(300, 4))
    bale.compress(matrix, tmp_path / "n.bale", error="rel=1e-4", config=cfg)
    decoded = bale.decompress(tmp_path / "n.bale")
    for i in range(4):
        assert check_bound(matrix[:, i], decoded[f"col{i}"], Bound("rel", 1e-4)) == 0


def test_real_jets_relations_and_bounds(tmp_path: Path) -> None:
    report = bale.compress(JETS, tmp_path / "j.bale", error="rel=1e-3", config=fast_config())
    kinds = {k: v["predictor"] for k, v in report["per_column"].items()}
    assert kinds["px"] == kinds["py"] == kinds["pz"] == kinds["energy"] == "relation"
    assert kinds["event"] == kinds["n_constituents"] == "exact"
    original = bale.api.as_table(JETS)
    assert_within(original.columns, bale.decompress(tmp_path / "j.bale"), Bound("rel", 1e-3))
    # the honest ratio counts every byte of the file
    assert report["file_bytes"] == (tmp_path / "j.bale").stat().st_size
    assert sum(report["bytes"].values()) == report["file_bytes"]


def test_per_column_bounds(tmp_path: Path) -> None:
    data = synthetic(1000)
    bale.compress(data, tmp_path / "b.bale", errors=["rel=1e-2", "pt:rel=1e-5", "x64:abs=0.5", "px:exact"],
                  config=fast_config())
    out = bale.decompress(tmp_path / "b.bale")
    assert check_bound(data["pt"], out["pt"], Bound("rel", 1e-5)) == 0
    assert check_bound(data["x64"], out["x64"], Bound("abs", 0.5)) == 0
    assert check_bound(data["phi"], out["phi"], Bound("rel", 1e-2)) == 0
    assert out["px"].tobytes() == data["px"].tobytes()
    assert np.abs(out["phi"] - data["phi"]).max() > 0  # lossy really is lossy
    info = bale.info(tmp_path / "b.bale")
    assert info["per_column"]["pt"]["bound"] == "rel=1e-05"


def test_deterministic_bytes(tmp_path: Path) -> None:
    data = synthetic(2500)
    cfg = fast_config()
    cfg.model.latent_dim = 2
    bale.compress(data, tmp_path / "a.bale", config=cfg)
    bale.compress(data, tmp_path / "b.bale", config=cfg)
    assert (tmp_path / "a.bale").read_bytes() == (tmp_path / "b.bale").read_bytes()


def test_train_once_compress_many(tmp_path: Path) -> None:
    cfg = fast_config()
    model = bale.train(synthetic(3000, seed=1), config=cfg)
    digest = bale.save_model(model, tmp_path / "m.safetensors")
    other = synthetic(1500, seed=2)
    report = bale.compress(other, tmp_path / "o.bale", model=tmp_path / "m.safetensors")
    assert report["model"] == {"embedded": False, "sha256": digest}
    assert report["bytes"]["model"] == 0
    with pytest.raises(BaleModelMismatchError, match="external model"):
        bale.decompress(tmp_path / "o.bale")
    assert_within(other, bale.decompress(tmp_path / "o.bale", model=tmp_path / "m.safetensors"), Bound("rel", 1e-3))
    wrong = bale.train(synthetic(3000, seed=3), config=fast_config(seed=7), error="rel=1e-2")
    with pytest.raises(BaleModelMismatchError, match="compressed with model"):
        bale.decompress(tmp_path / "o.bale", model=wrong)


def test_model_on_other_schema_is_refused(tmp_path: Path) -> None:
    model = bale.train(synthetic(500), config=fast_config())
    data = synthetic(500)
    data["extra"] = data.pop("pt")
    with pytest.raises(BaleInputError, match="another schema"):
        bale.compress(data, tmp_path / "x.bale", model=model)


def test_chunks_stream_independently(tmp_path: Path) -> None:
    data = synthetic(2000)
    cfg = fast_config()
    cfg.compress.chunk_rows = 300
    report = bale.compress(data, tmp_path / "c.bale", config=cfg)
    assert report["chunks"] == 7
    assert_within(data, bale.decompress(tmp_path / "c.bale"), Bound("rel", 1e-3))


def test_special_values_survive(tmp_path: Path) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-45, 3.5, -2.25, 3e38] * 20, dtype=np.float32)
    x[0] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), np.float32)[0]  # NaN with payload
    for error in ("rel=1e-3", "abs=0.1"):
        bale.compress({"x": x}, tmp_path / "s.bale", error=error, config=fast_config())
        out = bale.decompress(tmp_path / "s.bale")["x"]
        special = ~np.isfinite(x) | (x == 0) | (np.abs(x) < np.finfo(np.float32).tiny)
        assert out[special].tobytes() == x[special].tobytes()


def test_corrupt_and_truncated_files_are_named(tmp_path: Path) -> None:
    bale.compress(synthetic(500), tmp_path / "g.bale", config=fast_config())
    good = (tmp_path / "g.bale").read_bytes()
    (tmp_path / "t.bale").write_bytes(good[: len(good) // 2])
    with pytest.raises(BaleFormatError):
        bale.decompress(tmp_path / "t.bale")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    (tmp_path / "f.bale").write_bytes(bytes(flipped))
    with pytest.raises(BaleFormatError, match=r"checksum|corrupt"):
        bale.decompress(tmp_path / "f.bale")
    (tmp_path / "n.bale").write_bytes(b"PAR1" + good[4:])
    with pytest.raises(BaleFormatError, match=r"not a \.bale file"):
        bale.info(tmp_path / "n.bale")


def test_empty_and_tiny_tables(tmp_path: Path) -> None:
    for n in (0, 1, 2):
        data = {"a": np.arange(n, dtype=np.float32) + 0.5, "b": np.arange(n, dtype=np.int64)}
        bale.compress(data, tmp_path / "e.bale", config=fast_config())
        assert_within(data, bale.decompress(tmp_path / "e.bale"), Bound("rel", 1e-3))
    with pytest.raises(BaleInputError):
        bale.compress({}, tmp_path / "z.bale")


def test_no_partial_output_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bale"
    with pytest.raises(BaleInputError):
        bale.compress({"s": np.array(["a", "b"])}, target)
    assert not target.exists()
    assert not list(tmp_path.iterdir())
