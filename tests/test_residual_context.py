"""Residuals coded in the context of earlier columns (issue 19): one histogram per bucket.

The coder (bale.codec.context) must give back every symbol from the same contexts, refuse a
damaged block in one line, and choose contexts only where they pay; a file with them decodes
to the very values of a file without them, is smaller, and says format version 3; one without
them stays version 2, which an older bale reads.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import bale
from bale.bounds import Bound, check_bound
from bale.codec.context import (
    MAX_BUCKETS,
    ResidualContext,
    bucket_of,
    choose_sources,
    context_bits,
    decode_in_context,
    edges_of,
    encode_in_context,
)
from bale.codec.lossy import Prediction, decode_lossy, encode_lossy
from bale.codec.uint_stream import encode_uints, zigzag
from bale.codec.varint import encode_varint
from bale.config import BaleConfig
from bale.errors import BaleFormatError
from bale.models.plan import ColumnPlan, CompressionModel
from common import same_bits


def _heteroscedastic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Symbols whose spread grows with a context in [-500, 500)."""
    rng = np.random.default_rng(seed)
    context = rng.integers(-500, 500, n)
    symbols = np.rint(rng.laplace(0, np.exp(np.abs(context) / 120))).astype(np.int64)
    return symbols, context


@pytest.mark.parametrize("n", [0, 1, 100, 5000, 60_000])
@pytest.mark.parametrize("sources", [1, 2])
def test_symbols_come_back_from_the_same_contexts(n: int, sources: int) -> None:
    symbols, context = _heteroscedastic(n)
    contexts = [context, np.abs(context) % 7 - 3][:sources]
    coded = encode_in_context(symbols, contexts, [16, 4][:sources])
    assert np.array_equal(decode_in_context(coded, n, contexts, 3), symbols)


def test_one_token_and_extreme_symbols_round_trip() -> None:
    context = np.arange(10_000) % 50
    for symbols in (np.zeros(10_000, np.int64), np.full(10_000, -(2**50)), (context - 25) * 2**40):
        coded = encode_in_context(symbols, [context], [16])
        assert np.array_equal(decode_in_context(coded, 10_000, [context], 3), symbols)


def test_contexts_that_explain_the_spread_save_bytes() -> None:
    symbols, context = _heteroscedastic(60_000)
    plain = len(encode_uints(zigzag(symbols)))
    coded = len(encode_in_context(symbols, [np.abs(context)], [16]))
    assert coded < 0.95 * plain
    noise = np.random.default_rng(1).integers(0, 1000, len(symbols))
    assert len(encode_in_context(symbols, [noise], [16])) > plain  # histograms paid for nothing
    # the estimate the choice is made with follows the bytes
    edges = edges_of(np.abs(context), 16)
    estimate = context_bits(symbols, bucket_of([np.abs(context)], [edges]), len(edges) + 1) / 8
    assert abs(estimate - coded) < 0.02 * coded


def test_the_encoder_uses_fewer_buckets_on_few_values() -> None:
    symbols, context = _heteroscedastic(3000)
    coded = encode_in_context(symbols, [context], [64])
    assert coded[1] == 0  # 3,000 values: one bucket, no edges
    symbols, context = _heteroscedastic(40_000)
    coded = encode_in_context(symbols, [context], [64])
    assert 1 < coded[1] + 1 <= 40_000 // 2048


def _edges_block(edges: list[list[int]]) -> bytes:
    out = encode_varint(len(edges))
    for cuts in edges:
        out += encode_varint(len(cuts))
        if cuts:
            out += encode_varint(int(zigzag(np.array(cuts[:1]))[0])) + b"".join(
                encode_varint(b - a) for a, b in itertools.pairwise(cuts)
            )
    return out


def test_damaged_context_blocks_are_refused_in_one_line() -> None:
    symbols, context = _heteroscedastic(10_000)
    coded = encode_in_context(symbols, [context], [4])
    with pytest.raises(BaleFormatError, match="another number of sources"):
        decode_in_context(coded, 10_000, [context, context], 3)
    with pytest.raises(BaleFormatError, match=f"more than {MAX_BUCKETS} buckets"):
        decode_in_context(_edges_block([list(range(MAX_BUCKETS))]), 10_000, [context], 3)
    with pytest.raises(BaleFormatError, match="not increasing"):
        decode_in_context(_edges_block([[5, 5]]) + encode_varint(0), 10_000, [context], 3)
    # edges that put the values in other buckets than the encoder's: the histograms no longer add up
    forged = _edges_block([[-400, 0, 400]]) + coded[len(_edges_block([list(edges_of(context, 4))])) :]
    with pytest.raises(BaleFormatError, match="does not add up"):
        decode_in_context(forged, 10_000, [context], 3)
    with pytest.raises(BaleFormatError, match="bytes after"):
        decode_in_context(coded + b"\0", 10_000, [context], 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("kind", ["value", "delta"])
def test_a_lossy_column_in_context_decodes_to_the_same_values(dtype: type, kind: str) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    x = rng.lognormal(1, 1, n).astype(dtype)
    x[::101] = np.nan
    x[::103] = 0.0
    if kind == "delta":
        x = np.sort(x)
    bound = Bound("rel", 1e-3)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.log(x.astype(float)) + 0.01
    prediction = Prediction(delta=True) if kind == "delta" else Prediction(value=guess)
    context = ResidualContext([rng.integers(0, 9, n)], [8])
    _, expected = encode_lossy(x, bound, prediction)
    rows_in = np.empty(n, np.int64)
    payload, decoded = encode_lossy(x, bound, prediction, context, rows_in)
    assert same_bits(decoded, expected)
    rows_out = np.empty(n, np.int64)
    got = decode_lossy(payload, n, np.dtype(dtype), bound, prediction, 3, context, rows_out)
    assert same_bits(got, expected)
    assert np.array_equal(rows_in, rows_out)  # what a later column's context sees, on both sides
    assert (rows_in[np.isnan(x) | (x == 0)] == 0).all()


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.bool_])
def test_an_exact_column_in_context_comes_back_bit_exact(dtype: type) -> None:
    from bale.codec.exact import decode_exact, encode_exact

    rng = np.random.default_rng(5)
    given = rng.integers(0, 100, 30_000)
    values = rng.binomial(given, 0.5)
    values = (values % 2 == 0) if dtype is np.bool_ else values.astype(dtype)
    if dtype is np.int64:
        values = values - 2**62  # a range near the type's edge
    context = ResidualContext([given], [16])
    coded = encode_exact(values, context)
    got = decode_exact(coded, len(values), np.dtype(dtype), 3, context)
    assert same_bits(got, values)
    if dtype is np.uint16:  # the count given its parent: the context kind, and smaller
        assert coded[0] == 4 and len(coded) < 0.9 * len(encode_exact(values))


def test_choice_keeps_a_context_only_where_it_pays() -> None:
    symbols, context = _heteroscedastic(60_000)
    noise = np.random.default_rng(3).integers(0, 1000, len(symbols))
    chosen = choose_sources(symbols, {("c", "value"): context, ("c", "magnitude"): np.abs(context),
                                      ("noise", "value"): noise})  # fmt: skip
    assert chosen and chosen[0][:2] == ("c", "magnitude")
    assert choose_sources(symbols, {("noise", "value"): noise}) == []
    assert choose_sources(symbols[:1000], {("c", "magnitude"): np.abs(context[:1000])}) == []


def _kinematics(n: int = 30_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    pt = rng.lognormal(3.5, 0.8, n).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    constituents = rng.poisson(rng.uniform(3, 60, n)).astype(np.int32)
    return {
        "n_constituents": constituents,
        "n_charged": rng.binomial(constituents, 0.6).astype(np.int16),
        "pt": pt,
        "phi": phi,
        "px": (pt * np.cos(phi)).astype(np.float32),
        "py": (pt * np.sin(phi)).astype(np.float32),
    }


def _config(contexts: bool) -> BaleConfig:
    return BaleConfig.model_validate({"model": {"learned": False, "contexts": contexts}})


def test_files_with_contexts_are_smaller_and_decode_to_the_same_values(tmp_path: Path) -> None:
    table = _kinematics()
    without, with_ = tmp_path / "without.bale", tmp_path / "with.bale"
    bale.compress(table, without, error="rel=1e-3", config=_config(False))
    bale.compress(table, with_, error="rel=1e-3", config=_config(True))
    info = bale.info(with_)
    assert info["format_version"] == 3 and bale.info(without)["format_version"] == 2
    assert info["file_bytes"] < 0.97 * bale.info(without)["file_bytes"]
    model = bale.api.training._open_model(bale.container.BaleReader(with_), None)[0]
    assert {p.name for p in model.columns if p.context} >= {"px", "py", "n_charged"}
    assert info["per_column"]["n_charged"]["context"] == ["n_constituents"]  # bale info says which
    assert "context" not in bale.info(without)["per_column"]["px"]
    a, b = bale.decompress(without), bale.decompress(with_)
    for column, values in table.items():
        assert same_bits(a.columns[column], b.columns[column]), column
        bound = Bound("exact", 0.0) if values.dtype.kind == "i" else Bound("rel", 1e-3)
        assert check_bound(values, b.columns[column], bound) == 0, column
    # a column read alone decodes its context sources too, to the same values
    with bale.open(with_) as f:
        assert same_bits(f.arrays(["py"], library="np")["py"], b.columns["py"])
    # the same bytes on every run
    again = tmp_path / "again.bale"
    bale.compress(table, again, error="rel=1e-3", config=_config(True))
    assert again.read_bytes() == with_.read_bytes()


def test_an_older_bale_refuses_a_file_with_contexts_by_its_version(tmp_path: Path, monkeypatch) -> None:
    import bale.container.reader as reader

    path = tmp_path / "k.bale"
    bale.compress(_kinematics(), path, error="rel=1e-3", config=_config(True))
    monkeypatch.setattr(reader, "FORMAT_VERSION", 2)
    with pytest.raises(BaleFormatError, match="format version 3 is newer than this bale reads"):
        bale.decompress(path)


def _plan(name: str, dtype: str, kind: str, context: list[dict[str, object]] | None = None) -> dict[str, object]:
    bound = (Bound("exact", 0.0) if kind == "exact" else Bound("rel", 1e-3)).to_json()
    return {"name": name, "dtype": dtype, "bound": bound, "predictor": {"kind": kind}, "context": context or []}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([_plan("x", "float32", "grid", [{"column": "y", "use": "value", "buckets": 4}]),
          _plan("y", "float32", "grid")], "not decoded before"),
        ([_plan("f", "float64", "exact"),
          _plan("x", "float32", "grid", [{"column": "f", "use": "value", "buckets": 4}])], "gives no integers"),
        ([_plan("n", "int32", "exact"),
          _plan("f", "float64", "exact", [{"column": "n", "use": "value", "buckets": 4}])], "has no context"),
        ([_plan("x", "float32", "grid"),
          _plan("n", "int32", "exact", [{"column": "x", "use": "value", "buckets": 4}])], "not decoded before"),
        ([_plan("x", "float32", "grid", [{"column": "x", "use": "sideways", "buckets": 4}])], "bad context source"),
        ([_plan("x", "float32", "grid", [{"column": "x", "use": "value", "buckets": 1000}])], "bad context source"),
        ([_plan("n", "int32", "exact"),
          _plan("x", "float32", "grid", [{"column": "n", "use": "value", "buckets": 4}] * 3)], "more than 2"),
    ],
)  # fmt: skip
def test_a_model_with_impossible_contexts_is_refused(columns: list[dict[str, object]], message: str) -> None:
    meta = {"version": 1, "columns": columns, "network": None}
    with pytest.raises(BaleFormatError, match=message):
        CompressionModel.from_parts(meta, {})


def test_a_plan_without_contexts_keeps_its_json() -> None:
    plan = ColumnPlan("x", "float32", Bound("rel", 1e-3), {"kind": "grid"})
    assert "context" not in plan.to_json()
    plan.context = [{"column": "n", "use": "magnitude", "buckets": 8}]
    assert ColumnPlan.from_json(plan.to_json()) == plan


def test_compiled_frequencies_are_the_reference_ones() -> None:
    """One histogram per bucket is quantized by a compiled loop; it must give the bits the
    reference (used by every stream without context since format version 2) gives."""
    from bale.codec.rans import quantized_frequencies, quantized_rows

    rng = np.random.default_rng(0)
    for trial in range(400):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 60)))
        counts = [
            rng.integers(0, 5, shape),
            rng.geometric(0.01, shape) * (rng.random(shape) < 0.5),
            (rng.pareto(0.5, shape) * 100).astype(np.int64),
        ][trial % 3]
        want = np.array([quantized_frequencies(row) if row.any() else row for row in counts])
        assert np.array_equal(quantized_rows(counts), want), trial


def test_a_collection_of_a_dataset_gets_contexts_and_reads_back(tmp_path: Path) -> None:
    """Each table of a dataset has its own model: a jet collection of 30,000 jets codes its px in
    the context of its φ, and the events decode to the same values as without contexts."""
    from bale.table import MAIN, Dataset, Table

    jets = _kinematics()
    rng = np.random.default_rng(4)
    counts = rng.multinomial(len(jets["pt"]), np.full(6000, 1 / 6000)).astype(np.int32)
    main = Table({"nJet": counts, "run": np.full(6000, 7, np.int64)})
    renamed = {f"Jet_{k}": v for k, v in jets.items()}
    dataset = Dataset({MAIN: main, "Jet": Table(renamed)}, {"Jet": "nJet"})
    paths = {on: tmp_path / f"{on}.bale" for on in (False, True)}
    for on, path in paths.items():
        bale.compress(dataset, path, error="rel=1e-3", config=_config(on))
    info = bale.info(paths[True])
    assert info["format_version"] == 3 and "phi" in info["per_column"]["Jet_px"]["context"][0]
    a, b = bale.decompress(paths[False]), bale.decompress(paths[True])
    for name, values in renamed.items():
        assert same_bits(a.tables["Jet"].columns[name], b.tables["Jet"].columns[name]), name
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact", 0.0)
        assert check_bound(values, b.tables["Jet"].columns[name], bound) == 0, name
    assert np.array_equal(b.tables[MAIN].columns["nJet"], counts)


def test_every_chunk_has_its_own_edges(tmp_path: Path) -> None:
    """Chunks of 8,192 rows (the last of 5,424: fewer buckets) decode alone and together to the values of
    one chunk of every row, and a column read alone from them too."""
    table = _kinematics()
    cfg = _config(True)
    one, many = tmp_path / "one.bale", tmp_path / "many.bale"
    bale.compress(table, one, error="rel=1e-3", config=cfg)
    cfg.compress.chunk_rows = 8192
    bale.compress(table, many, error="rel=1e-3", config=cfg)
    assert bale.info(many)["chunks"] == 4
    a, b = bale.decompress(one), bale.decompress(many)
    for column in table:
        assert check_bound(table[column], b.columns[column], Bound("rel", 1e-3)) == 0, column
    with bale.open(many) as f:
        part = f.arrays(["py"], entry_start=9000, entry_stop=20000, library="np")["py"]
    assert same_bits(part, b.columns["py"][9000:20000])
    assert same_bits(a.columns["n_charged"], b.columns["n_charged"])


def test_a_network_that_reads_a_column_the_model_does_not_code_is_refused() -> None:
    """Found by benchmarks/fuzz_container.py (a forged name in the network's context): `bale info`
    raised KeyError listing what a column needs; the model is refused when it is read instead."""
    from common import FROZEN

    model = bale.load_model(FROZEN / "jets_model_v3.safetensors")
    assert isinstance(model, CompressionModel) and model.network is not None
    meta = model.metadata(with_info=False)
    assert CompressionModel.from_parts(meta, model.tensors()).names == model.names
    meta["network"]["context"][0] = "not_a_column"
    with pytest.raises(BaleFormatError, match="does not code: \\['not_a_column'\\]"):
        CompressionModel.from_parts(meta, model.tensors())


def test_edges_across_the_whole_int64_range() -> None:
    """A model's source may be narrow where it was trained and span the int64 range in another file:
    the gaps between edges are whole numbers up to 2**64 - 1, not int64 differences that wrap."""
    n = 10_000
    context = np.where(np.arange(n) % 2 == 0, np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    context[::3] = 0
    symbols = np.arange(n) % 7
    coded = encode_in_context(symbols, [context], [4])
    assert np.array_equal(decode_in_context(coded, n, [context], 3), symbols)
