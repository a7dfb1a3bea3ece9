"""Grid mode: 1-D to N-D float arrays coded as (frames, H, W) within a bound (docs/grids.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import bale
from bale.bounds import Bound, check_bound
from bale.cli import main
from bale.config import BaleConfig
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.grid.api import compress_grid, decompress_grid, grid_info
from bale.grid.codec import decode_grid, encode_grid, parse_grid_bound
from bale.grid.predictors import (
    interp_decode,
    interp_encode,
    lorenzo_context_decode,
    lorenzo_contexts,
    lorenzo_decode,
    lorenzo_encode,
)
from common import DATA, STILL

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RANGES = ("range=1e-2", "range=1e-3", "range=1e-4")


def _field(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f, h, w = shape
    t, y, x = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
    return np.sin(x / 5.0 + t / 3.0) * np.cos(y / 7.0) + 0.01 * rng.standard_normal(shape)


def _roundtrip(values: np.ndarray, bound: Bound, **kwargs: object) -> np.ndarray:
    encoded = encode_grid(values, bound, **kwargs)  # type: ignore[arg-type]
    decoded = decode_grid(encoded.sections, values.shape, values.dtype, bound, model=kwargs.get("model"))  # type: ignore[arg-type]
    assert decoded.shape == values.shape and decoded.dtype == values.dtype
    # what the encoder promised is what the decoder gives, bit for bit
    assert decoded.tobytes() == encoded.decoded.tobytes()
    return decoded


# ------------------------------------------------------------------ predictors are lossless on integers


@SETTINGS
@given(
    k=arrays(
        np.int64, array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12), elements=st.integers(-(2**40), 2**40)
    ),
    axes=st.sampled_from([(0, 1, 2), (1, 2), (2,), (0,)]),
)
def test_lorenzo_inverts_exactly_with_contexts(k: np.ndarray, axes: tuple[int, ...]) -> None:
    r = lorenzo_encode(k, axes)
    assert np.array_equal(lorenzo_decode(r, axes), k)
    ctx = lorenzo_contexts(r).ravel()
    streams = [r.ravel()[ctx == c] for c in range(int(ctx.max()) + 1)]
    cursor = np.zeros(len(streams), dtype=np.int64)
    assert np.array_equal(lorenzo_context_decode(streams, cursor, k.shape), r)
    assert cursor.tolist() == [len(s) for s in streams]


@SETTINGS
@given(
    v=arrays(np.float64, array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12), elements=st.floats(-1e6, 1e6)),
    axes=st.sampled_from([(0, 1, 2), (1, 2)]),
    step=st.sampled_from([1e-3, 0.1, 7.0]),
)
def test_closed_loop_interpolation_decodes_what_it_encoded(v: np.ndarray, axes: tuple[int, ...], step: float) -> None:
    skip = np.zeros(v.shape, dtype=bool)
    q, ctx, rec = interp_encode(v, skip, axes, step)
    assert q.size == v.size == ctx.size
    # within step/2, up to the rounding of pred + q·step at the magnitude of the data
    assert np.all(np.abs(rec - v) <= step / 2 + 1e-12 * np.abs(v).max())
    n_ctx = int(ctx.max()) + 1
    streams = [q[ctx == c] for c in range(n_ctx)]
    cursor = np.zeros(n_ctx, dtype=np.int64)
    assert interp_decode(streams, cursor, v.shape, axes, step).tobytes() == rec.tobytes()


def test_interpolation_predicts_a_smooth_field_well() -> None:
    v = _field((8, 40, 40)) * 1000
    q, _, _ = interp_encode(v, np.zeros(v.shape, dtype=bool), (0, 1, 2), 1.0)
    assert np.abs(q[8:]).mean() < 0.1 * np.abs(v).mean()  # anchors aside, quantized errors are small


# ------------------------------------------------------------------ the bound holds on every value


@SETTINGS
@given(
    values=arrays(
        st.sampled_from([np.float32, np.float64]),
        array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=9),
        elements=st.floats(width=32, allow_subnormal=True) | st.sampled_from([0.0, -0.0, 1e-30, -7.5, 1e30]),
    ),
    spec=st.sampled_from([*RANGES, "abs=1e-3", "abs=0.5", "rel=1e-3", "rel=1e-2"]),
    block=st.sampled_from([2, 3, 8, 32]),
)
def test_bound_holds_on_random_and_pathological_grids(values: np.ndarray, spec: str, block: int) -> None:
    bound = parse_grid_bound(spec, values).bound
    decoded = _roundtrip(values, bound, block=block)
    assert check_bound(values, decoded, bound) == 0  # NaN, ±inf (and zeros under rel) bit-exact


@pytest.mark.parametrize("spec", RANGES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bound_holds_on_the_cfd_frame_and_a_field(spec: str, dtype: type) -> None:
    with np.load(STILL) as z:
        still = z["data"].astype(dtype)
    for values in (still, _field((7, 33, 45)).astype(dtype)):
        bound = parse_grid_bound(spec, values).bound
        span = float(values.max() - values.min())
        assert bound.value == pytest.approx(float(spec.split("=")[1]) * span)
        decoded = _roundtrip(values, bound, block=16)
        assert check_bound(values, decoded, bound) == 0
        assert np.abs(decoded.astype(np.float64) - values).max() <= bound.value


@pytest.mark.parametrize(
    "values",
    [
        np.zeros((1, 1, 1)),
        np.full((4, 5, 6), 3.25, np.float32),
        np.full((2, 3, 3), np.nan),
        np.array([[[np.inf, -np.inf, np.nan]]]),
        np.zeros((0, 5, 5)),
        _field((3, 37, 41)),  # not a multiple of the block
    ],
    ids=["1x1x1", "constant", "all-nan", "specials", "empty", "odd-shape"],
)
@pytest.mark.parametrize("spec", ["range=1e-3", "rel=1e-3"])
def test_pathological_grids(values: np.ndarray, spec: str) -> None:
    bound = parse_grid_bound(spec, values).bound
    decoded = _roundtrip(values, bound, block=8)
    assert check_bound(values, decoded, bound) == 0


def test_nan_payload_and_signed_zero_come_back_bit_exact() -> None:
    values = _field((2, 9, 9))
    values[0, 0, 0] = np.frombuffer(np.uint64(0x7FF8000000000123).tobytes(), np.float64)[0]
    values[1, 2, 3] = -0.0
    decoded = _roundtrip(values, Bound("rel", 1e-3))
    assert decoded[0, 0, 0].tobytes() == values[0, 0, 0].tobytes()
    assert np.signbit(decoded[1, 2, 3])


def test_a_smooth_field_compresses() -> None:
    values = _field((8, 64, 64))
    encoded = encode_grid(values, parse_grid_bound("range=1e-3", values).bound)
    assert values.nbytes / sum(len(s) for s in encoded.sections.values()) > 5


def test_bad_bounds_and_dtypes_are_refused() -> None:
    with pytest.raises(BaleConfigError):
        parse_grid_bound("exact")
    with pytest.raises(BaleConfigError):
        parse_grid_bound("range=-1", np.zeros(3))
    with pytest.raises(BaleInputError):
        encode_grid(np.zeros((2, 2), np.int32), Bound("abs", 1.0))


def test_corrupt_sections_are_format_errors() -> None:
    values = _field((2, 16, 16))
    bound = Bound("abs", 1e-3)
    encoded = encode_grid(values, bound)
    res = next(k for k in encoded.sections if k.startswith("res."))
    broken = dict(encoded.sections, **{res: encoded.sections[res][: len(encoded.sections[res]) // 2]})
    with pytest.raises(BaleFormatError):
        decode_grid(broken, values.shape, values.dtype, bound)
    with pytest.raises(BaleFormatError):
        decode_grid({k: v for k, v in encoded.sections.items() if k != "plan"}, values.shape, values.dtype, bound)


# ------------------------------------------------------------------ files, API and CLI


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".h5", ".zarr"])
def test_file_roundtrip_in_every_format(tmp_path: Path, suffix: str) -> None:
    values = _field((5, 21, 30)).astype(np.float32)
    src = tmp_path / f"field{suffix}"
    if suffix == ".npz":
        np.savez(src, field=values, labels=np.arange(3))
    elif suffix == ".npy":
        np.save(src, values)
    elif suffix == ".h5":
        import h5py

        with h5py.File(src, "w") as f:
            f.create_dataset("group/field", data=values)
    else:
        import zarr

        z = zarr.create_array(str(src), shape=values.shape, dtype=values.dtype)
        z[...] = values
    report = compress_grid(src, tmp_path / "f.bale", error="range=1e-3")
    assert report["kind"] == "grid" and report["ratio"] > 1
    out = tmp_path / f"out{suffix}"
    grids = decompress_grid(tmp_path / "f.bale", out)
    ((name, decoded),) = grids.items()
    bound = parse_bound_of(report, name)
    assert check_bound(values, decoded, bound) == 0
    if suffix == ".npz":
        with np.load(out) as z:
            assert sorted(z.files) == ["field", "labels"] and np.array_equal(z["labels"], np.arange(3))
    elif suffix == ".npy":
        assert np.array_equal(np.load(out), decoded)


def parse_bound_of(report: dict, name: str) -> Bound:
    from bale.bounds import parse_bound

    return parse_bound(report["grids"][name]["bound"])


def test_api_info_and_decompress_know_grid_files(tmp_path: Path) -> None:
    values = _field((3, 20, 20))
    compress_grid({"u": values, "v": -values}, tmp_path / "g.bale", error="abs=1e-3")
    info = bale.info(tmp_path / "g.bale")
    assert info["kind"] == "grid" and sorted(info["grids"]) == ["u", "v"]
    assert info["file_bytes"] == (tmp_path / "g.bale").stat().st_size
    grids = bale.decompress(tmp_path / "g.bale")
    assert check_bound(values, grids["u"], Bound("abs", 1e-3)) == 0
    assert check_bound(-values, grids["v"], Bound("abs", 1e-3)) == 0
    with pytest.raises(BaleInputError):
        decompress_grid(DATA / "frozen" / "jets_v2.bale")


def test_fields_are_detected_without_a_flag(tmp_path: Path) -> None:
    """A 3-D float .npz is coded as a field without --grid (issue 17); kind="table" still codes columns."""
    src = tmp_path / "f.npz"
    np.savez(src, data=_field((6, 4, 5)))
    as_field = bale.compress(src, tmp_path / "f.bale", error="abs=1e-3")
    flagged = compress_grid(src, tmp_path / "g.bale", error="abs=1e-3")
    assert as_field["kind"] == "grid" and (tmp_path / "f.bale").read_bytes() == (tmp_path / "g.bale").read_bytes()
    assert flagged["file_bytes"] == as_field["file_bytes"]
    fields = bale.decompress(tmp_path / "f.bale")
    assert isinstance(fields, bale.Fields) and fields["data"].shape == (6, 4, 5)
    report = bale.compress(src, tmp_path / "t.bale", error="rel=1e-3", config=_no_learning(), kind="table")
    assert "kind" not in report and report["columns"] == 20
    with pytest.raises(BaleInputError, match="unknown kind"):
        bale.compress(src, tmp_path / "u.bale", kind="image")


def test_cli_detects_fields_like_grid_gives(tmp_path: Path) -> None:
    """`bale compress CFD.npz -o x.bale -e abs=X` (no flag) writes the same file as --grid."""
    src = DATA / "CFD_still.npz"
    runner = CliRunner()
    plain = runner.invoke(main, ["compress", str(src), "-o", str(tmp_path / "a.bale"), "-e", "abs=1e-2"])
    flagged = runner.invoke(main, ["compress", str(src), "-o", str(tmp_path / "b.bale"), "-e", "abs=1e-2", "--grid"])
    assert plain.exit_code == 0 and flagged.exit_code == 0, plain.output + flagged.output
    assert (tmp_path / "a.bale").read_bytes() == (tmp_path / "b.bale").read_bytes()
    both = runner.invoke(main, ["compress", str(src), "-o", str(tmp_path / "c.bale"), "--grid", "--table"])
    assert both.exit_code == 2 and "contradict" in both.output


def test_kind_detection_reads_headers_only(tmp_path: Path) -> None:
    from bale.io.data_kind import detect_kind

    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), np.float32))
    np.save(tmp_path / "matrix.npy", np.zeros((20, 3), np.float32))
    np.savez(tmp_path / "cols.npz", a=np.zeros((5, 5, 5)), b=np.zeros(1000))  # columns beside the cube: a table
    np.savez(tmp_path / "extra.npz", a=np.zeros((5, 5, 5)), names=np.zeros(0), step=np.arange(3))
    assert detect_kind(tmp_path / "cube.npy") == "field"
    assert detect_kind(tmp_path / "matrix.npy") == "table"
    assert detect_kind(tmp_path / "cols.npz") == "table"
    assert detect_kind(tmp_path / "extra.npz") == "field"
    assert detect_kind(DATA / "ttbar_jets_2k.parquet") == "table"
    assert detect_kind(np.zeros((2, 2, 2))) == "field" and detect_kind({"x": np.zeros(3)}) == "table"


def _no_learning() -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = False
    return cfg


def test_cli_grid_roundtrip(tmp_path: Path) -> None:
    src = tmp_path / "in.npz"
    values = _field((4, 33, 35))
    np.savez(src, data=values)
    runner = CliRunner()
    r = runner.invoke(
        main, ["compress", str(src), "--grid", "-e", "range=1e-4", "-o", str(tmp_path / "f.bale"), "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["grids"]["data"]["error"] == "range=0.0001"
    r = runner.invoke(main, ["info", str(tmp_path / "f.bale")])
    assert r.exit_code == 0 and "bits/value" in r.output, r.output
    r = runner.invoke(main, ["decompress", str(tmp_path / "f.bale")])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "f.decompressed.npz") as z:  # default: the input's format beside the .bale, renamed
        decoded = z["data"]
    assert np.abs(decoded - values).max() <= 1e-4 * (values.max() - values.min())
    r = runner.invoke(main, ["compress", str(src), "--grid", "-e", "a:abs=1", "-o", str(tmp_path / "x.bale")])
    assert r.exit_code == 2
    r = runner.invoke(main, ["compress", str(DATA / "ttbar_jets_2k.parquet"), "--grid", "-o", str(tmp_path / "x.bale")])
    assert r.exit_code == 2 and "grid mode" in r.output


# ------------------------------------------------------------------ the conv model


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "m.safetensors"
    src = path.parent / "train.npz"
    np.savez(src, data=_field((6, 32, 32), seed=1))
    r = CliRunner().invoke(main, ["train", str(src), "--grid", "-o", str(path), "--epochs", "3"])
    assert r.exit_code == 0, r.output
    return path


def test_conv_model_trains_on_some_frames_and_compresses_others(tmp_path: Path, conv_model: Path) -> None:
    src = tmp_path / "other.npz"
    values = _field((3, 40, 24), seed=2)
    np.savez(src, data=values)
    cfg = BaleConfig()
    cfg.grid.predictor = "conv"
    cfg.grid.block = 16
    report = compress_grid(src, tmp_path / "o.bale", error="range=1e-2", model=conv_model, config=cfg)
    assert report["grids"]["data"]["predictors"] == {"conv": 6}  # 1 x 3 x 2 blocks of 16
    assert report["model"]["embedded"] is False
    with pytest.raises(BaleModelMismatchError):
        decompress_grid(tmp_path / "o.bale")
    decoded = decompress_grid(tmp_path / "o.bale", model=conv_model)["data"]
    assert check_bound(values, decoded, parse_bound_of(report, "data")) == 0
    assert grid_info(tmp_path / "o.bale", model=conv_model)["ratio_with_model"] < report["ratio"]


def test_conv_decoder_is_exact_fixed_point(conv_model: Path) -> None:
    from bale.grid.api import load_grid_model

    model = load_grid_model(conv_model)
    tiles = _field((4, 16, 16), seed=3)
    latents = model.encode_tiles(tiles)
    a = model.decode_tiles(latents)
    b = model.decode_tiles(latents[::-1].copy())[::-1]  # another batch order, another BLAS path
    assert a.tobytes() == b.tobytes()
    # every hidden activation is an integer: the float64 sums are exact
    w = model._int
    z = np.trunc(latents.astype(np.float64) * 2.0 ** (12 - model.latent_bits))
    h = model._layer(z @ w["dec1.w"].T + w["dec1.b"], "dec1.w")
    assert np.array_equal(h, np.rint(h)) and np.abs(h).max() < 2**30


def test_embedded_conv_model_when_learned(tmp_path: Path) -> None:
    cfg = BaleConfig()
    cfg.grid.learned = True
    cfg.grid.epochs = 2
    values = _field((2, 32, 32))
    report = compress_grid(values, tmp_path / "e.bale", error="range=1e-2", config=cfg)
    assert report["model"]["embedded"] is True and report["bytes"]["model"] > 0
    assert check_bound(values, decompress_grid(tmp_path / "e.bale")["data"], parse_bound_of(report, "data")) == 0


# ------------------------------------------------------------------ bench


def test_grid_bench_runs_every_method_and_checks_every_value(tmp_path: Path) -> None:
    pytest.importorskip("pysz")
    src = tmp_path / "f.npz"
    values = _field((3, 24, 20))
    values[0, 0, 0] = np.nan
    np.savez(src, data=values)
    r = CliRunner().invoke(
        main,
        ["bench", str(src), "--grid", "-e", "range=1e-2", "-e", "range=1e-4", "--json",
         "--out-dir", str(tmp_path / "b"), "--methods", "bale-grid,bale-grid-lorenzo,sz3,zfp,fpzip,zstd-19"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    results = json.loads(r.output)
    assert [s["error"] for s in results["settings"]] == ["range=0.01", "range=0.0001"]
    for s in results["settings"]:
        rows = {row["method"]: row for row in s["methods"]}
        assert set(rows) == {"bale-grid", "bale-grid-lorenzo", "sz3", "zfp", "fpzip", "zstd-19"}
        for row in rows.values():
            if "skipped" in row:
                continue
            assert row["violations"] == 0, row  # the others are patched by their exception lists
            assert row["ratio"] > 1
        assert rows["bale-grid"]["max_error_over_bound"] <= 1.0
        assert rows["bale-grid"]["bytes"] <= rows["bale-grid-lorenzo"]["bytes"] + 64
    assert (tmp_path / "b" / "bench.md").is_file()


# ------------------------------------------------------------------ evaluate


def test_grid_evaluate_report(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    src = tmp_path / "in.npz"
    values = _field((5, 20, 26))
    np.savez(src, data=values)
    compress_grid(src, tmp_path / "f.bale", error="range=1e-3")
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "f.bale"), "--against", str(src), "--out-dir",
                                  str(tmp_path / "rep")])  # fmt: skip
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    m = metrics["grids"]["data"]
    assert m["violations"] == 0 and 0.5 < m["max_error_over_bound"] <= 1.0
    assert len(m["per_frame_max_over_bound"]) == 5 and metrics["ratio"] > 1
    assert (tmp_path / "rep" / "plots" / "data_frames.png").stat().st_size > 1000
    assert "data:image/png;base64" in (tmp_path / "rep" / "report.html").read_text()
    # a decompression that breaks the bound is caught: exit status 1
    broken = tmp_path / "broken.npz"
    bad = values.copy()
    bad[2, 3, 4] += 0.1
    np.savez(broken, data=bad)
    r = CliRunner().invoke(main, ["evaluate", str(src), str(broken), "--grid", "-e", "range=1e-3", "--no-plots",
                                  "--out-dir", str(tmp_path / "rep2")])  # fmt: skip
    assert r.exit_code == 1, r.output
    assert json.loads((tmp_path / "rep2" / "metrics.json").read_text())["grids"]["data"]["violations"] == 1
