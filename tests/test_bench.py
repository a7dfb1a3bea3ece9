"""``bale bench``: every method's output is checked, violations are reported, missing libraries skipped."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bale.bench import Encoded, Method, register, run_bench, to_markdown, unregister
from bale.bench.methods import METHODS, base
from bale.bench.methods import baler_ae as baler_ae_module
from bale.bench.report import headline
from bale.bench.runner import parse_settings
from bale.bounds import Bound
from bale.config import BaleConfig

CLASSICAL = [
    "zstd-3",
    "zstd-19",
    "lzma",
    "blosc2-shuffle-zstd",
    "blosc2-bitshuffle-zstd",
    "pcodec",
    "bitround-zstd-19",
    "bitround-blosc2-shuffle-zstd",
    "bitround-blosc2-bitshuffle-zstd",
    "bitround-pcodec",
    "sz3-abs",
    "sz3-log",
    "sz3-log-nopred",
    "zfp-abs",
    "zfp-log",
    "fpzip",
]


def _available(names: list[str]) -> list[str]:
    return [n for n in names if METHODS[n].missing() is None]


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 400
    pt = rng.lognormal(3.0, 1.0, n).astype(np.float32)
    pt[[3, 9]] = 0.0
    pt[17] = -0.0
    pt[21] = np.nan
    pt[33] = np.inf
    eta = rng.normal(0.0, 1.5, n)  # float64, signed
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "px": (np.nan_to_num(pt, posinf=1.0) * np.cos(phi)).astype(np.float32),
        "n": rng.integers(0, 40, n).astype(np.int32),
        "flag": rng.random(n) < 0.3,
    }


@pytest.fixture
def fast() -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 2
    cfg.train.max_rows = 400
    return cfg


@pytest.fixture
def fake_methods() -> Iterator[None]:
    """A method that silently breaks the bound, one that raises, one that crashes its process, one whose
    library is missing."""

    def lossless(columns: dict[str, np.ndarray], bounds: Any, ctx: Any, state: Any) -> Encoded:
        return Encoded(sum(a.nbytes for a in columns.values()) // 4, dict(columns))

    def broken_decompress(encoded: Encoded, ctx: Any, state: Any) -> dict[str, np.ndarray]:
        out = dict(encoded.payload)
        out["pt"] = (out["pt"] * np.float32(1.01)).astype(np.float32)  # 1 % off: breaks rel=1e-3
        return out

    def raising(columns: dict[str, np.ndarray], bounds: Any, ctx: Any, state: Any) -> Encoded:
        raise RuntimeError("codec exploded")

    def crashing(columns: dict[str, np.ndarray], bounds: Any, ctx: Any, state: Any) -> Encoded:
        import os

        os.abort()

    def identity(encoded: Encoded, ctx: Any, state: Any) -> dict[str, np.ndarray]:
        return dict(encoded.payload)

    fakes = [
        Method("broken", "test", "claims to honour the bound, does not", lossless, broken_decompress),
        Method("raising", "test", "raises", raising, identity),
        Method("crashing", "test", "aborts", crashing, identity),
        Method("needs-lib", "test", "needs a missing library", lossless, identity, requires=("no_such_lib_xyz",)),
    ]
    for m in fakes:
        register(m)
    yield
    for m in fakes:
        unregister(m.name)


def _rows(results: dict[str, Any], setting: int = 0) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results["settings"][setting]["methods"]}


def test_parse_settings() -> None:
    dtypes = {"a": np.dtype("float32"), "b": np.dtype("float64"), "i": np.dtype("int32")}
    settings = parse_settings(["rel=1e-2", "rel=1e-3", "b:abs=0.5"], dtypes)
    assert [s for s, _ in settings] == ["rel=0.01, b:abs=0.5", "rel=0.001, b:abs=0.5"]
    bounds = settings[1][1]
    assert bounds == {"a": Bound("rel", 1e-3), "b": Bound("abs", 0.5), "i": Bound("exact")}
    assert [s for s, _ in parse_settings([], dtypes, "abs=1")] == ["abs=1"]


@pytest.mark.slow
@pytest.mark.parametrize("errors", [["rel=1e-3"], ["abs=0.01", "eta:rel=1e-4"]], ids=["rel", "abs+rel"])
def test_classical_methods_meet_the_bound(table: dict[str, np.ndarray], errors: list[str]) -> None:
    names = _available(CLASSICAL)
    results = run_bench(table, errors, methods=names, isolate=False)
    rows = _rows(results)
    raw = sum(a.nbytes for a in table.values())
    assert results["raw_bytes"] == raw
    for name in names:
        row = rows[name]
        if not row["applicable"]:  # the log transform without a rel column
            assert "rel" in row["reason"]
            continue
        assert "error" not in row, row.get("error")
        assert row["violations"] == 0, (name, row["columns_violated"])
        assert row["bytes"] > 0 and row["ratio"] == pytest.approx(raw / row["bytes"])
        assert row["compress_mb_s"] > 0 and row["decompress_mb_s"] > 0
        assert set(row["columns"]) == set(table)
        for column, check in row["columns"].items():
            assert check["violations"] == 0
            if column in ("n", "flag") or METHODS[name].lossless:
                assert check["max_rel_err"] == 0
        if errors == ["rel=1e-3"]:
            assert row["max_rel_err"] <= 1e-3
        else:
            assert row["columns"]["pt"]["max_abs_err"] <= 0.01 and row["columns"]["eta"]["max_rel_err"] <= 1e-4


@pytest.mark.slow
def test_broken_failing_and_missing_methods_are_reported(
    table: dict[str, np.ndarray], fake_methods: None, tmp_path: Path
) -> None:
    results = run_bench(table, ["rel=1e-3"], methods=["zstd-19", "broken", "raising", "crashing", "needs-lib"],
                        out_dir=tmp_path)
    rows = _rows(results)
    assert rows["zstd-19"]["violations"] == 0
    broken = rows["broken"]
    # every finite non-zero pt is 1 % off; zeros, NaN and inf happen to survive the multiplication
    assert broken["violations"] == 400 - 5 and broken["columns_violated"] == ["pt"]
    assert broken["columns"]["pt"]["max_rel_err"] == pytest.approx(0.01, rel=1e-3)
    assert "codec exploded" in rows["raising"]["error"]
    assert "signal" in rows["crashing"]["error"]  # a crash stays in the method's own process
    assert "needs-lib" not in rows and "no_such_lib_xyz" in results["skipped"]["needs-lib"]
    markdown = (tmp_path / "bench.md").read_text()
    assert "Bound violations: broken 395" in markdown and "**395** ⚠" in markdown
    assert "**failed**: RuntimeError: codec exploded" in markdown
    assert "Skipped (library missing): needs-lib" in markdown
    assert json.loads((tmp_path / "bench.json").read_text())["settings"][0]["spec"] == "rel=0.001"
    assert headline(results)[0]["violations"] == {"broken": 395}


def test_missing_comparison_library_is_skipped(
    table: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "_IMPORT_ERRORS", {})
    for module in ("pysz", "zfpy", "fpzip", "blosc2", "pcodec"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    names = ["zstd-19", "sz3-log", "zfp-abs", "fpzip", "blosc2-shuffle-zstd", "bitround-blosc2-shuffle-zstd",
             "pcodec", "bitround-pcodec"]
    results = run_bench(table, ["rel=1e-3"], methods=names, isolate=False)
    assert set(results["skipped"]) == set(names) - {"zstd-19"}
    assert all("not importable" in why for why in results["skipped"].values())
    assert [r["name"] for r in results["settings"][0]["methods"]] == ["zstd-19"]
    assert "Skipped (library missing)" in to_markdown(results)


def test_every_classical_peer_is_in_the_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/classical.py (and so core.py's "best classical") runs every classical method bench has."""
    from bale.bench.report import CLASSICAL_FAMILIES

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import classical

    peers = {n for n, m in METHODS.items() if m.family in CLASSICAL_FAMILIES}
    assert set(CLASSICAL) == peers == set(classical.CLASSICAL)


def test_pcodec_every_dtype_and_float_quant() -> None:
    """pcodec lossless is bit-exact on every dtype (bool, 8-bit, float16, big-endian, NaN payloads, -0.0, empty);
    bitround-pcodec meets the bound, records FloatQuant or auto per column, and beats BitRound + zstd-19."""
    pytest.importorskip("pcodec")
    pytest.importorskip("numcodecs")
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.lognormal(2.0, 1.0, n)
    x[:4] = [np.nan, -np.inf, -0.0, 0.0]
    nan_payload = np.array([0x7FC00001], dtype=np.uint32).view(np.float32)[0]
    f32 = x.astype(np.float32)
    f32[4] = nan_payload
    table = {
        "f64": x,
        "f32": f32,
        "f16": rng.normal(0, 3, n).astype(np.float16),
        "big": x.astype(">f4"),
        "i8": rng.integers(-5, 5, n).astype(np.int8),
        "u8": np.zeros(n, np.uint8),
        "i64": np.arange(n, dtype=np.int64) * 7,
        "flag": rng.random(n) < 0.5,
    }
    results = run_bench(table, ["rel=1e-3"], methods=["pcodec", "bitround-pcodec", "bitround-zstd-19"],
                        isolate=False)
    rows = _rows(results)
    for name in ("pcodec", "bitround-pcodec"):
        assert "error" not in rows[name], rows[name].get("error")
        assert rows[name]["violations"] == 0
    assert rows["pcodec"]["max_rel_err"] == 0
    modes = rows["bitround-pcodec"]["info"]["modes"]
    assert set(modes) == {"f64", "f32", "f16", "big"}
    assert all(m == "auto" or m.startswith("float_quant(") for m in modes.values())
    assert rows["bitround-pcodec"]["bytes"] < rows["bitround-zstd-19"]["bytes"]
    pco = METHODS["pcodec"]
    ctx = base.Context(Path("."))
    encoded = pco.compress(table, {k: Bound("exact") for k in table}, ctx, None)
    decoded = pco.decompress(encoded, ctx, None)
    for k, a in table.items():
        assert decoded[k].dtype == a.dtype and decoded[k].tobytes() == a.tobytes(), k
    empty = {k: v[:0] for k, v in table.items()}
    decoded = pco.decompress(pco.compress(empty, {k: Bound("exact") for k in table}, ctx, None), ctx, None)
    assert all(decoded[k].size == 0 and decoded[k].dtype == a.dtype for k, a in table.items())


def test_bale_meets_the_bound_embedded_and_external(table: dict[str, np.ndarray], fast: BaleConfig) -> None:
    pytest.importorskip("torch")  # bale trains its model
    results = run_bench(table, ["rel=1e-3"], methods=["bale", "bale-external"], config=fast)
    rows = _rows(results)
    for name in ("bale", "bale-external"):
        row = rows[name]
        assert "error" not in row, row.get("error")
        assert row["violations"] == 0 and row["max_rel_err"] <= 1e-3
        assert row["compress_peak_mb"] is not None and row["memory_measure"] in ("vmhwm", "tracemalloc")
    assert rows["bale"]["info"]["ratio_without_model"] > rows["bale"]["ratio"]
    assert rows["bale-external"]["info"]["ratio_with_model"] < rows["bale-external"]["ratio"]
    assert rows["bale-external"]["prepare_s"] > 0  # the training, not in the compress time


def test_bale_abs_bound(table: dict[str, np.ndarray], fast: BaleConfig) -> None:
    pytest.importorskip("torch")  # bale trains its model
    results = run_bench(table, ["abs=0.05"], methods=["bale"], config=fast)
    row = _rows(results)["bale"]
    assert row["violations"] == 0 and row["columns"]["pt"]["max_abs_err"] <= 0.05


@pytest.mark.slow
def test_baler_autoencoder_reports_what_it_reaches(
    table: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    monkeypatch.setattr(baler_ae_module, "EPOCHS", 2)
    results = run_bench(table, ["rel=1e-2", "rel=1e-4"], methods=["baler-ae", "zstd-19"], out_dir=tmp_path)
    loose, tight = _rows(results, 0)["baler-ae"], _rows(results, 1)["baler-ae"]
    assert "error" not in loose, loose.get("error")
    assert tight["same_run_as"] == "rel=0.01" and tight["bytes"] == loose["bytes"]  # trained once
    assert tight["violations"] >= loose["violations"] > 0  # a latent without residual misses the bound
    assert tight["columns"]["n"]["violations"] == 0 and tight["columns"]["flag"]["violations"] == 0
    assert np.isfinite(tight["max_rel_err"]) and tight["info"]["latent_per_row"] == 1
    if METHODS["zstd-19"].missing() is None and _plot_available():
        assert (tmp_path / "pareto.png").stat().st_size > 0


def _plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
