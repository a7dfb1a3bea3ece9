"""Whole ROOT files written by real ROOT: every tree, every numeric branch type, titles and objects come back."""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

import bale
from bale.api import info, verify
from bale.cli import main
from bale.config import BaleConfig
from bale.errors import BaleFormatError, BaleInputError
from bale.table import Forest
from common import DATA, NANOAOD

ATLAS = DATA / "root" / "atlas_style.root"  # written by real ROOT: tests/data/root/make_fixtures.py
VECTORS = DATA / "root" / "vectors_only.root"
REL = 1e-3


def quick() -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 2
    return cfg


def _walk(x: ak.Array, y: ak.Array, name: str) -> None:
    """Counts at every level equal, then integers exact and floats within REL."""
    while x.ndim > 1:
        assert ak.num(x, axis=1).tolist() == ak.num(y, axis=1).tolist(), name
        x, y = ak.flatten(x, axis=1), ak.flatten(y, axis=1)
    a, b = np.asarray(ak.to_numpy(x)), np.asarray(ak.to_numpy(y))
    assert a.shape == b.shape, name
    if a.dtype.kind == "f":
        assert b.dtype.kind == "f", name
        finite = np.isfinite(a)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        err = np.abs(a[finite].astype(np.float64) - b[finite].astype(np.float64))
        assert (err <= REL * np.abs(a[finite].astype(np.float64))).all(), name
    else:
        assert a.astype(np.int64).tolist() == b.astype(np.int64).tolist(), name


def compare(original: Path, decoded: Path, *, flattened: tuple[str, ...] = ()) -> int:
    """Every tree of ``original`` in ``decoded``, branch by branch; returns the branches checked."""
    checked = 0
    with uproot.open(original) as a, uproot.open(decoded) as b:
        for path, classname in a.classnames(cycle=False).items():
            if classname not in ("TTree", "TNtuple"):
                continue
            ta, tb = a[path], b[path]
            assert ta.num_entries == tb.num_entries, path
            assert ta.title == tb.title, path
            for branch in ta.branches:
                x, y = branch.array(library="ak"), tb[branch.name].array(library="ak")
                assert tb[branch.name].title == branch.title, branch.name
                if branch.name in flattened:  # written as the values per event and the inner sizes
                    _walk(ak.flatten(x, axis=2), y, branch.name)
                    sizes = ak.flatten(tb[f"{branch.name}_size"].array())
                    _walk(ak.flatten(ak.num(x, axis=2), axis=1), sizes, branch.name)
                else:
                    _walk(x, y, branch.name)
                checked += 1
    return checked


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("atlas")
    report = bale.compress(ATLAS, tmp / "a.bale", error=f"rel={REL}", config=quick())
    bale.decompress(tmp / "a.bale", tmp / "a.root")
    return tmp / "a.bale", tmp / "a.root", report


def test_atlas_style_ntuple_comes_back_whole(atlas: tuple[Path, Path, dict]) -> None:
    _, out, report = atlas
    assert report["kind"] == "root_file" and set(report["trees"]) == {"events", "ntuple"}
    assert compare(ATLAS, out, flattened=("jet_trk_pt",)) == 26 + 3
    with uproot.open(out) as f:
        classes = f.classnames(cycle=False)
        assert classes["ntuple"] == "TTree"  # uproot writes no TNtuple: a TTree of the same branches
        events = f["events"]
        assert events["pileup_d32"].typename == "double" and events["mu_f16"].typename == "float"
        assert events["w"].typename == "float[4]"
        assert events["runNumber"].typename == "uint32_t" and events["eventNumber"].typename == "uint64_t"
        assert events["hfor"].typename == "int8_t" and events["passTrig"].typename == "bool"
        assert events["jet_pt"].typename == "float[]"  # std::vector<float> comes back as a C-style array …
        assert "njet" in events.keys()  # noqa: SIM118 - … counted by the counter bale added, named after the collection


def test_objects_are_copied_back(atlas: tuple[Path, Path, dict]) -> None:
    _, out, report = atlas
    assert report["objects"] == {"h_jet_pt": "TH1F", "info": "TObjString", "generator": "TNamed"}
    assert report["left_out"] == {}
    with uproot.open(ATLAS) as a, uproot.open(out) as b:
        assert np.array_equal(a["h_jet_pt"].values(flow=True), b["h_jet_pt"].values(flow=True))
        assert a["h_jet_pt"].member("fTitle") == b["h_jet_pt"].member("fTitle")
        assert str(a["info"]) == str(b["info"])
        assert a["generator"].member("fTitle") == b["generator"].member("fTitle")


def test_whole_file_in_memory_info_and_verify(atlas: tuple[Path, Path, dict]) -> None:
    path, _, _ = atlas
    forest = bale.decompress(path)
    assert isinstance(forest, Forest) and set(forest.trees) == {"events", "ntuple"}
    events = forest.trees["events"]
    assert set(events.tables) >= {"", "jet", "el", "lep"}
    assert events.counters["lep"] == "nlep" and events.counters["jet"] == "njet"
    assert events.tables["jet"].columns["jet_trk_pt#size"].dtype == np.int32
    assert "w[3]" in events.main.columns
    summary = info(path)
    assert summary["trees"]["events"]["tables"]["jet"]["counter"] == "njet"
    checked = verify(path)
    assert checked["ok"] and set(checked["trees"]) == {"events", "ntuple"}


def test_damaged_member_is_a_format_error(atlas: tuple[Path, Path, dict], tmp_path: Path) -> None:
    path, _, _ = atlas
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "bad.bale"
    bad.write_bytes(bytes(data))
    with pytest.raises(BaleFormatError):
        verify(bad)


def test_vectors_only_tree(tmp_path: Path) -> None:
    bale.compress(VECTORS, tmp_path / "v.bale", error=f"rel={REL}", config=quick())
    bale.decompress(tmp_path / "v.bale", tmp_path / "v.root")
    assert compare(VECTORS, tmp_path / "v.root") > 0


@pytest.mark.slow
def test_full_nanoaod_plain_command(tmp_path: Path) -> None:
    """All 947 branches, no --branches: collections named after their counter never collide with it."""
    cfg = quick()
    cfg.model.learned = False
    report = bale.compress(NANOAOD, tmp_path / "n.bale", error=f"rel={REL}", config=cfg)
    assert report["columns"] == 947
    assert report["tables"]["LHEPdfWeight_"]["counter"] == "nLHEPdfWeight"
    bale.decompress(tmp_path / "n.bale", tmp_path / "n.root")
    assert compare(NANOAOD, tmp_path / "n.root") == 947


def _tree_with_strings(path: Path) -> None:
    with uproot.recreate(path) as f:
        f.mktree("t", {"x": np.float32, "label": "string", "v": "var * float32"})
        f["t"].extend({"x": np.arange(5, dtype=np.float32) + 1, "label": ["a", "bb", "c", "", "d"],
                       "v": ak.Array([[1.0, 2.0], [], [3.0], [4.0, 5.0, 6.0], []])})  # fmt: skip


def test_branches_bale_cannot_code_are_all_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _tree_with_strings(tmp_path / "s.root")
    with caplog.at_level(logging.WARNING):
        report = bale.compress(tmp_path / "s.root", tmp_path / "s.bale", config=quick())
    assert "label (strings)" in caplog.text
    assert set(report["per_column"]) == {"x", "v", "nv"}
    with pytest.raises(BaleInputError, match="label: strings"):
        bale.compress(tmp_path / "s.root", tmp_path / "s2.bale", columns=["label"], config=quick())


@pytest.mark.slow
def test_cli_plain_command_whole_file(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["compress", str(ATLAS), "-o", str(tmp_path / "c.bale")])  # as a user types it
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["info", str(tmp_path / "c.bale")])
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "ntuple" in result.output
    result = runner.invoke(main, ["decompress", str(tmp_path / "c.bale"), "-o", str(tmp_path / "c.root")])
    assert result.exit_code == 0, result.output
    assert compare(ATLAS, tmp_path / "c.root", flattened=("jet_trk_pt",)) == 29


def test_evaluate_asks_for_one_tree_of_a_whole_file(atlas: tuple[Path, Path, dict], tmp_path: Path) -> None:
    path, _, _ = atlas
    result = CliRunner().invoke(main, ["evaluate", str(path), "--against", str(ATLAS), "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "evaluate one tree at a time" in result.output


SKHEP = "scikit-hep-testdata 0.3.12 (BSD-3)"  # tests/data/root/uproot-*.root come from that package


def test_trees_in_directories_and_a_tree_with_nothing_to_code(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = DATA / "root" / "uproot-nesteddirs.root"
    with caplog.at_level(logging.WARNING):
        report = bale.compress(source, tmp_path / "d.bale", config=quick())
    assert set(report["trees"]) == {"one/two/tree", "one/tree"}
    assert "three/tree" in report["left_out"] and "three/tree" in caplog.text  # an object split into sub-branches
    bale.decompress(tmp_path / "d.bale", tmp_path / "d.root")
    with uproot.open(tmp_path / "d.root") as f:
        assert {"one/two/tree", "one/tree"} <= set(f.classnames(cycle=False))


def test_double32_and_float16_within_the_bound_of_what_root_gives(tmp_path: Path) -> None:
    source = DATA / "root" / "uproot-double32-float16.root"
    bale.compress(source, tmp_path / "t.bale", error=f"rel={REL}", config=quick())
    bale.decompress(tmp_path / "t.bale", tmp_path / "t.root")
    assert compare(source, tmp_path / "t.root") == 12
    with uproot.open(tmp_path / "t.root") as f:
        types = {b.name: b.typename for b in f["tree"].branches}
    assert types["double32_32"] == "double" and types["float16_16"] == "float"
    assert types["array_30"] == "double[3]" and types["array_10"] == "float[3]"


def test_unwritable_attachments_are_dropped_and_named() -> None:
    from bale.io.root_objects import _drop_unwritable_functions

    class Item:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def serialize(self, name: object = None) -> bytes:
            if not self.ok:
                raise NotImplementedError("no")
            return b""

    class Model_TPaveStats_v4(Item):
        pass

    class Functions:
        def __init__(self) -> None:
            self._data = [Item(True), Model_TPaveStats_v4(False)]
            self._options = ["", ""]
            self._members = {"fSize": 2}

    class Histogram:
        def __init__(self) -> None:
            self.functions = Functions()

        def member(self, name: str) -> Functions:
            assert name == "fFunctions"
            return self.functions

    h = Histogram()
    assert _drop_unwritable_functions(h) == ["TPaveStats"]
    assert len(h.functions._data) == 1 and h.functions._members["fSize"] == 1 and h.functions._options == [""]


def test_a_dataset_in_memory_meets_the_name_rule(tmp_path: Path) -> None:
    from bale.table import MAIN, Dataset, Table

    main = Table({"n": np.array([1, 0], np.int32), " x": np.array([1.0, 2.0])})
    jets = Table({"pt": np.array([5.0])})
    with pytest.raises(BaleInputError, match="whitespace"):
        bale.compress(Dataset({MAIN: main, "jet": jets}, {"jet": "n"}), tmp_path / "d.bale", config=quick())


def test_whole_file_gives_the_same_bytes_whatever_the_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uproot stamps the objects' copy with datetime.now() and uuid1(); bale's file must not change with them."""
    import datetime
    import types

    import uproot.writing._cascade as cascade

    written = []
    for i, when in enumerate((datetime.datetime(2020, 1, 1), datetime.datetime(2024, 6, 30, 12, 34, 56))):

        class Clock(datetime.datetime):
            at = when.timestamp()

            @classmethod
            def now(cls, tz: datetime.tzinfo | None = None) -> Clock:
                return cls.fromtimestamp(cls.at, tz)

        monkeypatch.setattr(cascade, "datetime", types.SimpleNamespace(datetime=Clock))
        out = tmp_path / f"a{i}.bale"
        bale.compress(ATLAS, out, error="rel=1e-3", config=BaleConfig())
        written.append(out.read_bytes())
    assert written[0] == written[1]
