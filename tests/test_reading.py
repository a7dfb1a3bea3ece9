"""bale.open: lazy, column-selective reading in place, compared with the originals (pyarrow, uproot)."""

from __future__ import annotations

import io
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

import bale
import bale.chunks
from bale.bounds import Bound, check_bound
from bale.chunks import LATENT_SECTION, closure, decode_chunk
from bale.config import BaleConfig
from bale.container import BaleReader
from bale.errors import BaleInputError
from common import DATA, JETS, NANOAOD

ATLAS = DATA / "root" / "atlas_style.root"  # written by real ROOT: tests/data/root/make_fixtures.py
REL = Bound("rel", 1e-3)


def config(*, learned: bool = False, chunk_rows: int = 500) -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = learned
    cfg.train.epochs = 2
    cfg.compress.chunk_rows = chunk_rows
    return cfg


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A file coded with a network (2 latents; head j sees c0..c(2+j)) of random fixed-point weights."""
    from bale.models import ColumnPlan, CompressionModel
    from test_determinism import random_network  # type: ignore[import-not-found]

    tmp = tmp_path_factory.mktemp("learned")
    rng = np.random.default_rng(3)
    data = {f"c{i}": rng.normal(0, 2, 1200) for i in range(9)}
    data["n"] = rng.poisson(4, 1200).astype(np.int16)
    plans = [ColumnPlan("n", "int16", Bound("exact"), {"kind": "exact"})]
    plans += [ColumnPlan(f"c{i}", "float64", REL, {"kind": "grid" if i else "delta"}) for i in range(3)]
    plans += [ColumnPlan(f"c{i}", "float64", REL, {"kind": "learned", "head": i - 3}) for i in range(3, 9)]
    bale.save_model(CompressionModel(plans, random_network(seed=4, columns=9, latent=2)), tmp / "m.safetensors")
    bale.compress(data, tmp / "l.bale", model=tmp / "m.safetensors", config=config(chunk_rows=1000))
    return tmp / "l.bale", tmp / "m.safetensors"


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nano") / "nano.bale"
    bale.compress(NANOAOD, path, error="rel=1e-3", config=config(chunk_rows=4096))
    return path


def _close(original: np.ndarray, decoded: np.ndarray, name: str) -> None:
    assert decoded.dtype == original.dtype, name
    if original.dtype.kind == "f":
        assert check_bound(original, decoded, REL) == 0, name
    else:
        assert np.array_equal(original, decoded), name


def _same_events(original: ak.Array, decoded: ak.Array, name: str) -> None:
    """The same type (uproot's), the same counts at every level, values within the bound."""
    assert str(decoded.type) == str(original.type), name
    while original.ndim > 1 and not isinstance(original.type.content, ak.types.RegularType):
        assert ak.num(original, axis=1).tolist() == ak.num(decoded, axis=1).tolist(), name
        original, decoded = ak.flatten(original, axis=1), ak.flatten(decoded, axis=1)
    _close(np.asarray(ak.to_numpy(original)), np.asarray(ak.to_numpy(decoded)), name)


def test_a_table_reads_like_the_parquet_file(jets_file: Path) -> None:
    original = pq.read_table(JETS)
    with bale.open(jets_file) as t:
        assert t.keys() == original.column_names
        assert t.num_entries == original.num_rows == 2000
        assert t.typenames()["pt"] == "float" and t.typenames()["n_constituents"] == "int32_t"
        assert t.keys(filter_name="p?") == ["pt", "px", "py", "pz"]
        assert t.keys(filter_name=["eta", "/^n_/"]) == ["eta", "n_constituents", "n_charged"]
        got = t.arrays(library="np")
        for name in original.column_names:
            _close(original.column(name).to_numpy(), got[name], name)
        frame = t.arrays(["pt", "eta"], entry_start=-300, entry_stop=-100, library="pd")
        assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["pt", "eta"] and len(frame) == 200
        _close(original.column("pt").to_numpy()[1700:1900], frame["pt"].to_numpy(), "pt")
        records = t.arrays(filter_name="p?", entry_start=10, entry_stop=20)
        assert records.fields == ["pt", "px", "py", "pz"] and len(records) == 10
        _close(original.column("px").to_numpy()[10:20], ak.to_numpy(records["px"]), "px")
        assert np.array_equal(t["pt"].array(library="np"), got["pt"])
        parts = list(t.iterate(["pt", "n_charged"], step_size=333, entry_start=5, library="np"))
        assert [len(p["pt"]) for p in parts] == [333] * 5 + [330]
        assert np.array_equal(np.concatenate([p["pt"] for p in parts]), got["pt"][5:])
        assert [len(p) for p in t.iterate("pt")] == [500] * 4  # the file's own chunks
        assert len(t.arrays("pt", entry_start=1990, entry_stop=5000)) == 10
        with pytest.raises(BaleInputError, match="no branch"):
            t.arrays(["pt", "pt * 2"])
        with pytest.raises(KeyError):
            t["nothing"]


def test_an_entry_range_reads_only_its_chunks(jets_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[tuple[int, tuple[str, ...]]] = []
    original = BaleReader.chunk

    def counting(self: BaleReader, index: int, names: list[str] | None = None) -> dict:
        read.append((index, tuple(names or ())))
        return original(self, index, names)

    monkeypatch.setattr(BaleReader, "chunk", counting)
    with bale.open(jets_file) as t:
        t.arrays("eta", entry_start=600, entry_stop=1400)
        assert sorted(i for i, _ in read) == [1, 2]  # rows 500-999 and 1000-1499
        assert all(names == ("eta",) for _, names in read)
        read.clear()
        t.arrays("energy", entry_start=1999)
        assert [i for i, _ in read] == [3] and set(read[0][1]) == {"pt", "eta", "mass", "energy"}


def test_one_exact_column_decodes_one_section(jets_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    exact, lossy = bale.chunks.decode_exact, bale.chunks.decode_lossy
    monkeypatch.setattr(bale.chunks, "decode_exact", lambda *a: decoded.append("exact") or exact(*a))
    monkeypatch.setattr(bale.chunks, "decode_lossy", lambda *a: decoded.append("lossy") or lossy(*a))
    with bale.open(jets_file) as t:
        before = t.bytes_read
        t["n_charged"].array(entry_stop=100)
        assert decoded == ["exact"]
        one = t.bytes_read - before
        section = next(length for name, length, _ in BaleReader(jets_file).chunks[0].sections if name == "n_charged")
        assert one == section  # that section, nothing else
        decoded.clear()
        t.arrays()
        assert len(decoded) == 17 * 4 - 1  # every column of every chunk, but n_charged of chunk 0: still cached
    assert t.closure("n_charged").columns == ("n_charged",)
    energy = t.closure("energy")
    assert set(energy.columns) == {"pt", "eta", "mass", "energy"} and 0 < energy.fraction < 0.5


def test_closure_decodes_the_same_values_as_a_full_decode(learned: tuple[Path, Path]) -> None:
    path, model = learned
    info = bale.info(path, model=model)["per_column"]
    with BaleReader(path) as reader, bale.open(path, model=model) as t:
        coder = t._coders[0]
        kinds = {p.name: p.predictor["kind"] for p in coder.columns}
        assert sorted(set(kinds.values())) == ["delta", "exact", "grid", "learned"]
        full = decode_chunk(reader.chunk(0), reader.chunks[0].rows, coder, reader.version)
        for name, kind in kinds.items():
            needed = closure(coder, [name])
            assert info[name]["depends_on"] == [n for n in needed if n != name]
            assert (LATENT_SECTION in needed) == (kind == "learned"), name
            if kind != "learned":
                assert needed == [name]
            alone = decode_chunk(reader.chunk(0, needed), reader.chunks[0].rows, coder, reader.version, [name])
            assert list(alone) == [name]
            assert alone[name].tobytes() == full[name].tobytes(), name  # bit for bit
        # head j sees c0..c(2+j): c3 needs c0-c2 and the latents, c8 every column before it
        assert closure(coder, ["c3"]) == [LATENT_SECTION, "c0", "c1", "c2", "c3"]
        assert t.closure("c8").columns == tuple(f"c{i}" for i in range(9))
        assert t.closure("c3").bytes < t.closure("c8").bytes < t.closure("c8").total_bytes
        _close(full["c5"], t["c5"].array(library="np")[:1000], "c5")


@pytest.mark.slow
def test_nanoaod_branches_read_as_uproot_reads_them(nano: Path) -> None:
    with uproot.open(NANOAOD) as f, bale.open(nano) as events:
        tree = f["Events"]
        assert events.keys() == tree.keys()
        assert events.num_entries == tree.num_entries
        names = tree.keys()
        assert events.typenames() == {k: tree[k].typename for k in names}
        assert len({s.first for s in events._steps}) > 1  # several steps
        jets = events["Jet_pt"].array()
        assert str(jets.type) == "200 * var * float32"
        _same_events(tree["Jet_pt"].array(), jets, "Jet_pt")
        names = tree.keys(filter_name=["Jet_*", "nJet", "MET_*", "Muon_*", "LHEPdfWeight", "HLT_IsoMu2*"])
        part = events.arrays(names, entry_start=37, entry_stop=151)
        want = tree.arrays(names, entry_start=37, entry_stop=151)
        for name in names:
            _same_events(want[name], part[name], name)
        np_jets = events["Jet_eta"].array(library="np", entry_stop=5)
        assert np_jets.dtype == object and len(np_jets) == 5
        assert [len(x) for x in np_jets] == ak.num(tree["Jet_eta"].array(entry_stop=5)).tolist()
        assert events.closure("Jet_pt").columns[0] == "nJet"
        with pytest.raises(BaleInputError, match="jagged"):
            events.arrays("Jet_pt", library="pd")


@pytest.mark.skipif(not ATLAS.is_file(), reason="tests/data/root/atlas_style.root (real ROOT) is not here")
def test_a_whole_root_file_reads_tree_by_tree(tmp_path: Path) -> None:
    path = tmp_path / "atlas.bale"
    bale.compress(ATLAS, path, error="rel=1e-3", config=config())
    with uproot.open(ATLAS) as f, bale.open(path) as whole:
        assert whole.keys() == ["events", "ntuple"]
        assert whole.classnames()["ntuple"] == "TNtuple"
        trees = whole.keys()
        for name in trees:
            tree, mine = f[name], whole[name]
            branches = tree.keys()
            assert mine.keys() == branches and mine.num_entries == tree.num_entries
            got = mine.arrays()
            for branch in branches:
                _same_events(tree[branch].array(), got[branch], f"{name}/{branch}")
        events = whole["events"]
        types = {str(events[k].array().type).split(" * ", 1)[1] for k in events}
        assert "4 * float32" in types and any(t.startswith("var * var *") for t in types)
    with bale.open(path, tree="ntuple") as ntuple:
        assert ntuple.keys() == ["x", "y", "z"]


def test_bytes_file_objects_and_urls_read_like_paths(jets_file: Path) -> None:
    want = bale.open(jets_file).arrays(library="np")
    data = jets_file.read_bytes()
    with open(jets_file, "rb") as handle:
        sources = [data, memoryview(data), io.BytesIO(data), handle, jets_file.as_uri()]
        for source in sources:
            with bale.open(source) as t:
                got = t.arrays(library="np")
                assert all(np.array_equal(got[k], want[k]) for k in want), type(source)
        assert not handle.closed  # a file object given is left open
    with pytest.raises(BaleInputError, match="no such file"):
        bale.open(jets_file.parent.as_uri() + "/missing.bale")
    with BaleReader(io.BytesIO(data)) as reader:
        assert reader.bytes_read < len(data) / 4  # preamble, header and index only
    table = bale.decompress(data)
    assert np.array_equal(table.columns["pt"], want["pt"])


def test_grid_files_are_refused() -> None:
    with pytest.raises(BaleInputError, match="grids"):
        bale.open(DATA / "frozen" / "grid_v2.bale")


def test_arrays_zipped_by_collection(tmp_path: Path) -> None:
    """``how="zip"``: a collection's branches as records per object, as uproot gives them."""
    cfg = BaleConfig()
    cfg.model.learned = False
    bale.compress(NANOAOD, tmp_path / "z.bale", columns=["Jet_pt", "Jet_eta", "nJet", "run"], config=cfg)
    with bale.open(tmp_path / "z.bale") as events:
        zipped = events.arrays(["Jet_pt", "Jet_eta", "run"], how="zip")
        plain = events.arrays(["Jet_pt", "Jet_eta"])
    assert set(zipped.fields) == {"Jet", "run"}
    assert set(zipped.Jet.fields) == {"pt", "eta"}
    assert ak.all(ak.num(zipped.Jet, axis=1) == ak.num(plain.Jet_pt, axis=1))
    assert ak.all(ak.flatten(zipped.Jet.pt) == ak.flatten(plain.Jet_pt))
    with uproot.open(NANOAOD) as f:
        want = f["Events"].arrays(["Jet_pt", "Jet_eta"], how="zip")
    assert ak.num(want.Jet, axis=1).tolist() == ak.num(zipped.Jet, axis=1).tolist()
