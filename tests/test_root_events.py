"""ROOT in, ROOT out: trees of events with jagged collections, compared branch by branch with uproot."""

from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import bale
from bale.bounds import Bound, check_bound
from bale.config import BaleConfig
from bale.errors import BaleInputError
from bale.io.root_events import iter_dataset, plan_steps, read_dataset
from bale.table import MAIN, Dataset, Table
from common import DATA, NANOAOD

HZZ = DATA / "uproot-HZZ.root"
COLLECTIONS = ["Jet_*", "Muon_*", "Electron_*", "MET_*"]


def quick_config() -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 3
    return cfg


def compare_trees(original: Path, decoded: Path, branches: list[str], bound: Bound, tree: str) -> int:
    """Branch by branch: counts equal, integers bit-exact, floats within ``bound``; returns branches checked."""
    with uproot.open(original) as a, uproot.open(decoded) as b:
        ta, tb = a[tree], b[tree]
        assert ta.num_entries == tb.num_entries
        for name in branches:
            xa, xb = ta[name].array(library="ak"), tb[name].array(library="ak")
            if xa.ndim > 1:
                assert ak.num(xa, axis=1).tolist() == ak.num(xb, axis=1).tolist(), name
                xa, xb = ak.flatten(xa, axis=1), ak.flatten(xb, axis=1)
            va, vb = ak.to_numpy(xa), ak.to_numpy(xb)
            if va.dtype.kind == "f":
                assert vb.dtype == va.dtype, name
                assert check_bound(va, vb, bound) == 0, name
            else:
                assert vb.astype(va.dtype).tobytes() == va.tobytes(), name
        return len(branches)


@pytest.fixture(scope="module")
def nanoaod_round_trip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("nano")
    report = bale.compress(NANOAOD, tmp / "events.bale", columns=COLLECTIONS, error="rel=1e-3", config=quick_config())
    bale.decompress(tmp / "events.bale", tmp / "events.root")
    return tmp / "events.bale", tmp / "events.root", report


@pytest.mark.slow
def test_nanoaod_collections_round_trip(nanoaod_round_trip: tuple[Path, Path, dict]) -> None:
    _, out, report = nanoaod_round_trip
    with uproot.open(NANOAOD) as f:
        tree = f["Events"]
        wanted = [b.name for b in tree.branches if b.name.split("_")[0] in ("Jet", "Muon", "Electron", "MET")]
        counters = ["nJet", "nMuon", "nElectron"]
    with uproot.open(out) as f:
        assert sorted(f["Events"].keys()) == sorted(wanted + counters)
    checked = compare_trees(NANOAOD, out, wanted + counters, Bound("rel", 1e-3), "Events")
    assert checked > 150  # every Jet, Muon, Electron and MET branch, floats and integers
    assert set(report["tables"]) == {"", "Jet", "Muon", "Electron"}
    assert report["tables"]["Jet"]["counter"] == "nJet"


@pytest.mark.slow
def test_nanoaod_dtypes_and_titles_survive(nanoaod_round_trip: tuple[Path, Path, dict]) -> None:
    _, out, _ = nanoaod_round_trip
    with uproot.open(NANOAOD) as a, uproot.open(out) as b:
        names = b["Events"].keys()
        for name in names:
            assert b["Events"][name].typename == a["Events"][name].typename, name  # uint32 counters included
            assert b["Events"][name].title == a["Events"][name].title, name  # NanoAOD's documentation


@pytest.mark.slow
def test_nanoaod_decodes_in_memory_as_a_dataset(nanoaod_round_trip: tuple[Path, Path, dict]) -> None:
    bale_file, _, _ = nanoaod_round_trip
    dataset = bale.decompress(bale_file)
    assert isinstance(dataset, Dataset)
    original = read_dataset(NANOAOD, COLLECTIONS)
    assert list(dataset.tables) == list(original.tables)
    assert dataset.counters == original.counters
    for name, table in original.tables.items():
        for column, values in table.columns.items():
            got = dataset.tables[name].columns[column]
            if values.dtype.kind == "f":
                assert check_bound(values, got, Bound("rel", 1e-3)) == 0, column
            else:
                assert got.tobytes() == values.tobytes(), column


def test_keep_rest_copies_every_other_branch_losslessly(tmp_path: Path) -> None:
    bale.compress(HZZ, tmp_path / "h.bale", columns=["Jet_*"], keep_rest=True, error="rel=1e-2",
                  config=quick_config())
    bale.decompress(tmp_path / "h.bale", tmp_path / "h.root")
    with uproot.open(HZZ) as f:
        everything = f["events"].keys()
        jets = [b for b in everything if b.startswith("Jet_")]
    with uproot.open(tmp_path / "h.root") as f:
        assert sorted(f["events"].keys()) == sorted(everything)
    compare_trees(HZZ, tmp_path / "h.root", jets, Bound("rel", 1e-2), "events")
    rest = [b for b in everything if b not in jets]
    compare_trees(HZZ, tmp_path / "h.root", rest, Bound("exact"), "events")  # bit for bit


def test_external_model_for_collections(tmp_path: Path) -> None:
    model = bale.train(HZZ, columns=["Muon_*", "NMuon", "MET_*"], error="rel=1e-3", config=quick_config())
    assert isinstance(model, bale.models.bundle.DatasetModel)
    assert list(model.tables) == ["", "Muon"]
    bale.save_model(model, tmp_path / "m.safetensors")
    loaded = bale.load_model(tmp_path / "m.safetensors")
    assert loaded.sha256 == model.sha256
    report = bale.compress(HZZ, tmp_path / "m.bale", model=tmp_path / "m.safetensors",
                           columns=["Muon_*", "NMuon", "MET_*"])
    assert not report["model"]["embedded"]
    dataset = bale.decompress(tmp_path / "m.bale", model=tmp_path / "m.safetensors")
    assert dataset.tables["Muon"].num_rows == report["tables"]["Muon"]["rows"]
    with pytest.raises(BaleInputError, match=r"other tables|another schema"):
        bale.compress(HZZ, tmp_path / "x.bale", model=loaded, columns=["Jet_*"])


@pytest.mark.slow
def test_streaming_steps_match_the_whole(tmp_path: Path) -> None:
    _, pieces = iter_dataset(NANOAOD, ["Jet_pt", "Muon_pt"], step_rows=100)
    parts = list(pieces)
    assert len(parts) > 5
    assert all(p.tables[t].num_rows <= 100 or p.num_events == 1 for p in parts for t in p.tables)
    whole = read_dataset(NANOAOD, ["Jet_pt", "Muon_pt"])
    joined = Dataset.concat(parts)
    for name, table in whole.tables.items():
        for column, values in table.columns.items():
            assert joined.tables[name].columns[column].tobytes() == values.tobytes()
    # compressing in small steps gives the same data back
    cfg = quick_config()
    cfg.compress.chunk_rows = 64
    report = bale.compress(NANOAOD, tmp_path / "s.bale", columns=["Jet_pt", "Muon_pt"], config=cfg)
    assert report["chunks"] > 5
    back = bale.decompress(tmp_path / "s.bale")
    assert back.tables["Jet"].columns["Jet_pt"].shape == whole.tables["Jet"].columns["Jet_pt"].shape


def test_plan_steps_keeps_events_whole() -> None:
    counts = np.array([3, 0, 5, 1, 1, 9, 0], dtype=np.uint32)
    steps = plan_steps([counts], len(counts), 4)
    assert steps[0][0] == 0 and steps[-1][1] == len(counts)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(steps))
    for start, stop in steps:
        assert counts[start:stop].sum() <= 4 or stop - start == 1


def test_branch_selection_errors() -> None:
    with pytest.raises(BaleInputError, match="no branch matches"):
        read_dataset(NANOAOD, ["NoSuch_*"])
    with pytest.raises(BaleInputError, match="TTree"):
        read_dataset(NANOAOD, tree="Nope")


def test_dataset_checks_its_counters() -> None:
    main = Table({"n": np.array([1, 2], np.int32)})
    with pytest.raises(BaleInputError, match="adds up"):
        Dataset({MAIN: main, "c": Table({"x": np.zeros(4)})}, {"c": "n"})
    with pytest.raises(BaleInputError, match="counter"):
        Dataset({MAIN: main, "c": Table({"x": np.zeros(3)})}, {"c": "m"})


@pytest.mark.slow
def test_dataset_cannot_be_written_flat(nanoaod_round_trip: tuple[Path, Path, dict], tmp_path: Path) -> None:
    bale_file, _, _ = nanoaod_round_trip
    with pytest.raises(BaleInputError, match="ROOT"):
        bale.decompress(bale_file, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def _write_rntuple(path: Path, n: int = 300) -> dict[str, ak.Array]:
    rng = np.random.default_rng(7)
    jets, muons = rng.poisson(3, n), rng.poisson(1, n)
    data = {
        "EventInfo:run": np.full(n, 284500, np.uint32),
        "EventInfo:mu": rng.gamma(20, 1, n).astype(np.float32),
        "Jets:pt": ak.unflatten(rng.exponential(40, jets.sum()).astype(np.float32) + 20, jets),
        "Jets:eta": ak.unflatten(rng.normal(0, 1.5, jets.sum()).astype(np.float32), jets),
        "Jets:nTrk": ak.unflatten(rng.poisson(8, jets.sum()).astype(np.int32), jets),
        "Jets:constituents": ak.unflatten(ak.unflatten(np.zeros(2 * jets.sum(), np.int32), 2), jets),
        "Muons:pt": ak.unflatten(rng.exponential(30, muons.sum()).astype(np.float32) + 5, muons),
    }
    with uproot.recreate(path) as f:
        f["EventData"] = data
    return data


def test_rntuple_round_trip(tmp_path: Path) -> None:
    data = _write_rntuple(tmp_path / "nt.root")
    report = bale.compress(tmp_path / "nt.root", tmp_path / "nt.bale", columns=["EventInfo:*", "Jets:*", "Muons:pt"],
                           error="rel=1e-3", config=quick_config())
    assert set(report["tables"]) == {"", "Jets", "Muons"}
    assert "Jets:constituents[1]" in report["per_column"]  # a fixed-size array per jet: one column per element
    bale.decompress(tmp_path / "nt.bale", tmp_path / "back.root")
    with uproot.open(tmp_path / "back.root") as f:
        assert "RNTuple" in f.classnames()["EventData;1"]
        back = f["EventData"].arrays()
    assert sorted(ak.fields(back)) == sorted(data)  # no added counters
    for name in ak.fields(back):
        want, got = data[name], back[name]
        if isinstance(want, ak.Array):
            assert ak.num(got, axis=1).tolist() == ak.num(want, axis=1).tolist()
            want, got = ak.to_numpy(ak.flatten(want, axis=None)), ak.to_numpy(ak.flatten(got, axis=None))
        got = np.asarray(got)
        assert got.dtype == want.dtype, name
        if want.dtype.kind == "f":
            assert check_bound(want, got, Bound("rel", 1e-3)) == 0, name
        else:
            assert got.tobytes() == want.tobytes(), name


def test_steps_are_planned_in_blocks_of_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from bale.io import root_events

    monkeypatch.setattr(root_events, "_PLAN_BLOCK", 37)  # counters read 37 events at a time
    _, pieces = iter_dataset(NANOAOD, ["Jet_pt"], step_rows=50)
    parts = list(pieces)
    assert sum(p.num_events for p in parts) == 200
    assert all(p.num_events <= 37 for p in parts)
    whole = read_dataset(NANOAOD, ["Jet_pt"])
    assert Dataset.concat(parts).tables["Jet"].columns["Jet_pt"].tobytes() == whole.tables["Jet"].columns[
        "Jet_pt"].tobytes()
