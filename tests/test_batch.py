"""Many files on Dask: compress_many (failures, the manifest and re-runs) and sample_rows."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import bale  # noqa: E402
from bale.batch import MANIFEST_NAME, compress_many, local_client, sample_rows  # noqa: E402
from bale.bounds import Bound, check_bound  # noqa: E402
from bale.config import BaleConfig  # noqa: E402
from bale.errors import BaleInputError  # noqa: E402
from bale.io import write_table  # noqa: E402

ERROR = "rel=1e-3"
ROWS = 300


def jets(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = (rng.exponential(50, n) + 20).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    return {
        "pt": pt,
        "phi": phi,
        "px": (pt.astype(np.float64) * np.cos(phi)).astype(np.float32),
        "n": rng.poisson(12, n).astype(np.int32),
    }


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("sources")
    paths = []
    for i in range(3):
        path = folder / f"run{i}.npz"
        write_table(bale.Table(jets(ROWS, i)), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def model_path(sources: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = BaleConfig()
    cfg.train.epochs = 2
    cfg.train.max_rows = 1000
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    bale.save_model(bale.train(sample_rows(sources, max_rows=600), error=ERROR, config=cfg), path)
    return path


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with local_client(2) as c:
        yield c


@pytest.fixture
def inputs(sources: list[Path], tmp_path: Path) -> list[Path]:
    """Private copies of the sources, free to modify."""
    folder = tmp_path / "in"
    folder.mkdir()
    return [Path(shutil.copy2(p, folder / p.name)) for p in sources]


def run(inputs: list[Path], out: Path, model: Path, client: object, **options: object) -> bale.batch.BatchReport:
    return compress_many(inputs, out, model=model, client=client, progress=False, **{"error": ERROR, **options})


def mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.bale")}


def test_compresses_every_file_within_bounds(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    report = run(inputs, out, model_path, client)
    assert report.ok and len(report.done) == 3 and not report.skipped
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["files"]) == sorted(str(p.resolve()) for p in inputs)
    for source, result in zip(inputs, report.files, strict=True):
        packed = out / f"{source.stem}.bale"
        assert result.output == str(packed)
        assert result.input_bytes == source.stat().st_size
        assert result.output_bytes == packed.stat().st_size
        assert result.ratio and result.ratio > 1 and result.seconds >= 0
        entry = manifest["files"][str(source.resolve())]
        assert entry["output_bytes"] == result.output_bytes and len(entry["output_sha256"]) == 64
        original = bale.api.as_table(source)
        decoded = bale.decompress(packed, model=model_path)
        for name, values in original.columns.items():
            bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
            assert decoded[name].dtype == values.dtype
            assert check_bound(values, decoded[name], bound) == 0, name
    assert report.to_dict()["totals"]["done"] == 3
    assert "3 compressed" in report.summary()
    # both denominators, labelled: raw values and files on disk differ (issue 20)
    totals = report.totals()
    assert "over the raw values" in report.summary() and "over the input files on disk" in report.summary()
    assert f"{totals['raw_bytes'] / totals['output_bytes']:.2f} over the raw values" in report.summary()


def test_a_bad_file_fails_alone(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    bad = inputs[0].parent / "broken.npz"
    bad.write_bytes(b"this is not a zip archive")
    missing = inputs[0].parent / "missing.npz"
    out = tmp_path / "out"
    report = run([*inputs, bad, missing], out, model_path, client)
    assert not report.ok
    assert len(report.done) == 3
    assert [f.name for f in report.failed] == ["broken.npz", "missing.npz"]
    for failed in report.failed:
        assert failed.error and "\n" not in failed.error
    assert "broken.npz" in report.failed[0].error
    assert "no such file" in report.failed[1].error
    assert "failed: " in report.summary()
    assert sorted(mtimes(out)) == ["run0.bale", "run1.bale", "run2.bale"]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert str(bad.resolve()) not in manifest["files"] and len(manifest["files"]) == 3


def test_rerun_skips_what_is_done(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    first = run(inputs, out, model_path, client)
    before = mtimes(out)
    manifest = (out / MANIFEST_NAME).read_bytes()
    address = client.scheduler.address  # type: ignore[attr-defined]
    again = compress_many(inputs, out, model=model_path, scheduler=address, progress=False, error=ERROR)
    assert again.ok and not again.done and len(again.skipped) == 3
    assert mtimes(out) == before
    assert (out / MANIFEST_NAME).read_bytes() == manifest  # nothing changed, nothing rewritten
    assert [f.output_bytes for f in again.files] == [f.output_bytes for f in first.files]
    assert [f.ratio for f in again.files] == [f.ratio for f in first.files]


def test_only_a_changed_input_is_redone(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    run(inputs, out, model_path, client)
    before = mtimes(out)
    write_table(bale.Table(jets(ROWS, 99)), inputs[1])  # same schema, other values
    report = run(inputs, out, model_path, client)
    assert [f.name for f in report.done] == ["run1.npz"]
    assert [f.name for f in report.skipped] == ["run0.npz", "run2.npz"]
    after = mtimes(out)
    assert after["run0.bale"] == before["run0.bale"] and after["run2.bale"] == before["run2.bale"]
    decoded = bale.decompress(out / "run1.bale", model=model_path)
    assert check_bound(jets(ROWS, 99)["pt"], decoded["pt"], Bound("rel", 1e-3)) == 0


def test_a_corrupted_output_is_redone(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    run(inputs, out, model_path, client)
    packed = out / "run2.bale"
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    packed.write_bytes(bytes(data))
    (out / "run0.bale").unlink()
    report = run(inputs, out, model_path, client)
    assert sorted(f.name for f in report.done) == ["run0.npz", "run2.npz"]
    assert [f.name for f in report.skipped] == ["run1.npz"]
    bale.decompress(packed, model=model_path)  # whole again


def test_other_options_or_model_redo_everything(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    run(inputs, out, model_path, client)
    assert len(run(inputs, out, model_path, client, error="rel=1e-2").done) == 3
    other = tmp_path / "other.safetensors"
    cfg = BaleConfig()
    cfg.train.epochs = 1
    cfg.model.relations = False
    bale.save_model(bale.train(inputs[0], error=ERROR, config=cfg), other)
    assert len(run(inputs, out, other, client).done) == 3
    assert len(run(inputs, out, other, client).skipped) == 3


def test_an_interrupted_run_keeps_what_finished(
    inputs: list[Path], model_path: Path, client: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real = bale.batch.FileResult
    seen: list[object] = []

    def interrupt_after_first(**fields: object) -> object:
        if seen:
            raise KeyboardInterrupt
        seen.append(real(**fields))
        return seen[-1]

    out = tmp_path / "out"
    monkeypatch.setattr(bale.batch, "FileResult", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        run(inputs, out, model_path, client)
    monkeypatch.undo()
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 2  # the second result was recorded, then the interrupt came
    report = run(inputs, out, model_path, client)
    assert sorted(f.input for f in report.skipped) == sorted(manifest["files"])
    assert len(report.done) == 1


@pytest.mark.slow
def test_own_local_cluster(inputs: list[Path], model_path: Path, tmp_path: Path):
    report = compress_many(inputs[:1], tmp_path / "out", model=model_path, workers=1, progress=False, error=ERROR)
    assert report.ok and len(report.done) == 1 and report.workers == 1


def test_refused_before_any_work(inputs: list[Path], model_path: Path, tmp_path: Path):
    out = tmp_path / "out"
    with pytest.raises(BaleInputError, match="not an option"):
        compress_many(inputs, out, model=model_path, progress=False, chunk_size=3)
    twin = inputs[0].parent / "run0.parquet"
    with pytest.raises(BaleInputError, match="both be compressed"):
        compress_many([inputs[0], twin], out, model=model_path, progress=False)
    with pytest.raises(BaleInputError, match="no such model"):
        compress_many(inputs, out, model=tmp_path / "nope.safetensors", progress=False)
    with pytest.raises(BaleInputError, match="no input files"):
        compress_many([], out, model=model_path, progress=False)
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(BaleInputError, match="connect"):
        compress_many(inputs, out, model=model_path, progress=False, scheduler="tcp://127.0.0.1:9")


def test_without_dask(monkeypatch: pytest.MonkeyPatch, inputs: list[Path], model_path: Path, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BaleInputError, match=r"pip install 'bale\[dask\]'"):
        compress_many(inputs, tmp_path / "out", model=model_path)


def test_unreadable_manifest_is_ignored(inputs: list[Path], model_path: Path, client: object, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{not json")
    report = run(inputs, out, model_path, client)
    assert len(report.done) == 3
    assert len(json.loads((out / MANIFEST_NAME).read_text())["files"]) == 3


def test_sample_rows(sources: list[Path], tmp_path: Path):
    sample = sample_rows(sources, max_rows=200, seed=3)
    assert sample.num_rows == 200 and sample.names == ["pt", "phi", "px", "n"]
    again = sample_rows(sources, max_rows=200, seed=3)
    for name in sample.names:
        np.testing.assert_array_equal(sample[name], again[name])
    other = sample_rows(sources, max_rows=200, seed=4)
    assert not np.array_equal(sample["pt"], other["pt"])
    # every row drawn is a row of the inputs
    everything = np.concatenate([bale.api.as_table(p)["pt"] for p in sources])
    assert np.isin(sample["pt"], everything).all()
    assert sample_rows(sources, max_rows=10_000).num_rows == 3 * ROWS
    assert sample_rows(sources, max_rows=10_000, train_fraction=0.1).num_rows == 3 * round(0.1 * ROWS)
    assert sample_rows(sources, max_rows=50, train_fraction=0.5).num_rows == 50
    assert sample_rows(sources, max_rows=100, columns=["pt", "n"]).names == ["pt", "n"]
    small = tmp_path / "small.npz"
    write_table(bale.Table(jets(10, 5)), small)
    assert sample_rows([small, *sources], max_rows=300).num_rows == 300  # its unused share goes to the others
    odd = tmp_path / "odd.npz"
    write_table(bale.Table({"pt": jets(20, 6)["pt"], "eta": np.zeros(20, np.float32)}), odd)
    with pytest.raises(BaleInputError, match="other columns"):
        sample_rows([*sources, odd], max_rows=100)
    wide = tmp_path / "wide.npz"
    write_table(bale.Table({**jets(20, 7), "n": np.zeros(20, np.int64)}), wide)
    with pytest.raises(BaleInputError, match="other dtypes"):
        sample_rows([*sources, wide], max_rows=100)
    with pytest.raises(BaleInputError, match="train_fraction"):
        sample_rows(sources, max_rows=100, train_fraction=1.5)


def test_options_are_recorded_as_values(tmp_path: Path):
    """The workers get plain values; the manifest compares a config by its values, not its file."""
    from bale.batch import _compress_options

    options, key = _compress_options({"error": ERROR, "errors": ("n:exact",), "config": None, "tree": None})
    assert isinstance(options["config"], BaleConfig) and "tree" not in options
    assert json.loads(json.dumps(key)) == key and key["errors"] == ["n:exact"]
    toml = tmp_path / "bale.toml"
    toml.write_text("# the defaults\n[compress]\nerror = 'rel=1e-3'\n")
    assert _compress_options({"error": ERROR, "errors": ["n:exact"], "config": toml})[1] == key
    toml.write_text("[compress]\nchunk_rows = 1000\n")
    assert _compress_options({"error": ERROR, "errors": ["n:exact"], "config": str(toml)})[1] != key
