"""bale.dask.from_bale (dask_awkward, column projection) and coffea on `.bale` (examples/coffea_dimuon.py)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import dask
import numpy as np
import pytest

import bale
import bale.chunks
from bale.config import BaleConfig
from bale.container import BaleReader
from bale.errors import BaleInputError

dak = pytest.importorskip("dask_awkward")
import bale.dask  # noqa: E402  (needs dask_awkward)
from common import DATA, NANOAOD  # noqa: E402

ZMUMU = DATA / "uproot-Zmumu.root"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "coffea_dimuon.py"
NANO_BRANCHES = [
    "run", "luminosityBlock", "event", "nJet", "Jet_*", "nMuon", "Muon_*", "nElectron", "Electron_*", "MET_*"
]  # fmt: skip


def config(chunk_rows: int) -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = False
    cfg.compress.chunk_rows = chunk_rows
    return cfg


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nano") / "nano.bale"
    bale.compress(NANOAOD, path, error="rel=1e-3", config=config(150), columns=NANO_BRANCHES)
    return path


class Counter:
    """Sections read (per BaleReader.chunk call) and sections decoded (exact and lossy decoders)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read: list[tuple[int, tuple[str, ...]]] = []
        self.decoded = 0
        chunk, exact, lossy = BaleReader.chunk, bale.chunks.decode_exact, bale.chunks.decode_lossy

        def reading(reader: BaleReader, index: int, names: list[str] | None = None) -> Any:
            self.read.append((index, tuple(names or ())))
            return chunk(reader, index, names)

        def count(decode: Any) -> Any:
            def counted(*args: Any) -> Any:
                self.decoded += 1
                return decode(*args)

            return counted

        monkeypatch.setattr(BaleReader, "chunk", reading)
        monkeypatch.setattr(bale.chunks, "decode_exact", count(exact))
        monkeypatch.setattr(bale.chunks, "decode_lossy", count(lossy))

    @property
    def names(self) -> set[str]:
        return {n for _, names in self.read for n in names}


def _columns(collection: Any) -> frozenset[str]:
    (columns,) = dak.necessary_columns(collection).values()
    return columns


def test_one_partition_per_step_and_the_values_of_bale_open(nano: Path) -> None:
    with bale.open(nano) as tree:
        steps = tree.steps()
        eager = tree.arrays(["Jet_pt", "Muon_pt", "MET_pt", "event"])
        keys = tree.keys()
    assert len(steps) > 2
    events = bale.dask.from_bale(nano)
    assert events.npartitions == len(steps)
    assert events.divisions == (*[first for first, _ in steps], steps[-1][0] + steps[-1][1])
    assert events.fields == keys
    assert str(events.Jet_pt.type).endswith("var * float32")
    with dask.config.set(scheduler="sync"):
        got = events[["Jet_pt", "Muon_pt", "MET_pt", "event"]].compute()
        whole = events.compute()
    assert got.to_list() == eager.to_list()
    assert whole.layout.form == events._meta.layout.form  # the meta is what partitions give
    assert len(whole) == 200 and whole.fields == keys


def test_two_branches_decode_two_branches_and_their_counter(nano: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = bale.dask.from_bale(nano)
    central = events.Jet_pt[abs(events.Jet_eta) < 2.4]
    ht = ak.sum(central, axis=1)
    assert _columns(ht) == {"Jet_pt", "Jet_eta"}
    counter = Counter(monkeypatch)
    with dask.config.set(scheduler="sync"):
        got = ht.compute()
    with bale.open(nano) as tree:
        assert tree.closure("Jet_pt").columns == ("nJet", "Jet_pt")
        assert tree.closure("Jet_eta").columns == ("nJet", "Jet_eta")
        steps = len(tree.steps())
    assert counter.names == {"nJet", "Jet_pt", "Jet_eta"}
    assert len(counter.read) == 2 * steps  # per step: the counter from the events table, the jets' two columns
    assert counter.decoded == 3 * steps  # of 947 branches' columns, these three, once per step
    with bale.open(nano) as tree:
        jets = tree.arrays(["Jet_pt", "Jet_eta"])
    assert got.to_list() == ak.sum(jets.Jet_pt[abs(jets.Jet_eta) < 2.4], axis=1).to_list()


def test_a_parquet_table_projects_to_the_closure(jets_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = bale.dask.from_bale(jets_file)
    assert table.npartitions == 4 and table.divisions == (0, 500, 1000, 1500, 2000)
    heavy = table.energy[table.n_charged > 10]
    assert _columns(heavy) == {"energy", "n_charged"}
    with bale.open(jets_file) as tree:
        closure = set(tree.closure("energy").columns) | set(tree.closure("n_charged").columns)
        eager = tree.arrays(["energy", "n_charged"])
    counter = Counter(monkeypatch)
    with dask.config.set(scheduler="threads"):
        got = heavy.compute()
    assert closure == {"pt", "eta", "mass", "energy", "n_charged"}  # E = hypot(pt·cosh η, m)
    assert counter.names == closure  # of 17 columns: the two asked for and what energy is predicted from
    assert counter.decoded == 5 * 4
    assert np.array_equal(ak.to_numpy(got), ak.to_numpy(eager.energy[eager.n_charged > 10]))


def test_step_size_groups_whole_steps(jets_file: Path) -> None:
    assert bale.dask.from_bale(jets_file, step_size=1000).divisions == (0, 1000, 2000)
    assert bale.dask.from_bale(jets_file, step_size=1200).divisions == (0, 1000, 2000)
    assert bale.dask.from_bale(jets_file, step_size=1).npartitions == 4  # a step is never split
    assert bale.dask.from_bale(jets_file, step_size=10**9).npartitions == 1
    for bad in (0, -5, 2.5, True):
        with pytest.raises(BaleInputError, match="step_size"):
            bale.dask.from_bale(jets_file, step_size=bad)  # type: ignore[arg-type]


def test_many_files_by_glob_and_filter_name(jets_file: Path, tmp_path: Path) -> None:
    for name in ("a.bale", "b.bale"):
        shutil.copy(jets_file, tmp_path / name)
    table = bale.dask.from_bale(str(tmp_path / "*.bale"), filter_name=["p?", "eta"])
    assert table.fields == ["pt", "eta", "px", "py", "pz"]  # the file's order, as keys()
    assert table.npartitions == 8 and table.divisions[-1] == 4000
    with dask.config.set(scheduler="sync"):
        pt = ak.to_numpy(table.pt.compute())
    with bale.open(jets_file) as tree:
        one = tree["pt"].array(library="np")
    assert np.array_equal(pt, np.concatenate([one, one]))
    assert bale.dask.from_bale([tmp_path / "a.bale", f"file://{tmp_path / 'b.bale'}"]).npartitions == 8
    with pytest.raises(BaleInputError, match=r"no \.bale file matches"):
        bale.dask.from_bale(str(tmp_path / "*.nothing"))
    with pytest.raises(BaleInputError, match="no branch"):
        bale.dask.from_bale(jets_file, filter_name="nothing*")


def test_files_that_differ_are_refused(jets_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.bale"
    bale.compress({"pt": np.linspace(1, 2, 100, dtype=np.float32)}, other, error="rel=1e-3", config=config(50))
    with pytest.raises(BaleInputError, match="same branches"):
        bale.dask.from_bale([jets_file, other])


@pytest.mark.slow
def test_runs_on_a_distributed_cluster(jets_file: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        table = bale.dask.from_bale(jets_file)
        total = client.compute(ak.sum(table.pt)).result()
    with bale.open(jets_file) as tree:
        assert total == pytest.approx(float(np.sum(tree["pt"].array(library="np"))), rel=1e-6)


def test_the_partition_reader_pickles_by_name(jets_file: Path) -> None:
    """Worker processes get the reader by pickle: its class is found as bale.dask.BaleProjectingReadFn."""
    import pickle

    table = bale.dask.from_bale(jets_file)
    reader = table.dask.layers[table.name].io_func
    assert type(reader) is bale.dask.BaleProjectingReadFn
    again = pickle.loads(pickle.dumps(reader))
    assert again((str(jets_file), None, 0, 500)).fields == table.fields


# --------------------------------------------------------------------------- coffea


def _example() -> Any:
    pytest.importorskip("coffea")
    pytest.importorskip("hist")
    spec = importlib.util.spec_from_file_location("coffea_dimuon", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_coffea_dimuon_mass_on_zmumu_matches_the_original(tmp_path: Path) -> None:
    example = _example()
    packed = tmp_path / "zmumu.bale"
    bale.compress(ZMUMU, packed, error="rel=1e-3", config=config(500), columns=example.ZMUMU_BRANCHES)
    before, after = example.run_zmumu(packed)
    stats = example.compare(before, after, rel=1e-3)  # asserts bin by bin, within the bound's effect
    assert stats["events"] > 2000 and stats["filled"] > 1900  # the Z peak, 60-120 GeV
    assert stats["largest_relative_shift"] < 1e-2
    assert before.hist.axes[0].edges[np.argmax(after.hist.values())] == pytest.approx(90.0, abs=2)


@pytest.mark.slow
def test_coffea_dijet_mass_on_nanoaod_matches_coffea_on_the_root_file(nano: Path) -> None:
    example = _example()
    runs = example.run_nanoaod(nano)
    before, after = runs["dijet"]
    stats = example.compare(before, after, rel=1e-3)
    assert stats["events"] == 140 and stats["filled"] > 100
