"""Tests of bale.io: exact round trips per format, layouts kept in ``source``, error messages."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from bale.errors import BaleInputError
from bale.io import FORMATS, detect_format, read_table, write_table
from bale.table import Table
from common import DATA

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1.5, -2.25e-30, 3.0e38]


def sample(n: int = 40) -> Table:
    rng = np.random.default_rng(7)
    f8 = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    f8[: len(SPECIAL)] = SPECIAL
    f4 = rng.normal(size=n).astype(np.float32)
    f4[: len(SPECIAL)] = np.array(SPECIAL, dtype=np.float32)
    cols = {"f8": f8, "f4": f4, "b": rng.integers(0, 2, n).astype(bool)}
    for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(dt)
        arr = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        arr[:2] = [info.min, info.max]
        cols[dt] = arr
    return Table(cols)


def assert_same(a: Table, b: Table) -> None:
    assert a.names == b.names
    for name in a.names:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype, name
        assert x.tobytes() == y.tobytes(), name


def tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("ext", [".parquet", ".pq", ".npz", ".npy", ".h5", ".hdf5", ".root"])
def test_round_trip_exact(tmp_path: Path, ext: str) -> None:
    table = sample()
    path = tmp_path / f"t{ext}"
    write_table(table, path)
    back = read_table(path)
    assert_same(table, back)
    back = Table(back.columns, json.loads(json.dumps(back.source)))  # source survives JSON
    write_table(back, tmp_path / f"u{ext}")
    assert_same(table, read_table(tmp_path / f"u{ext}"))
    assert tmp_files(tmp_path) == sorted([f"t{ext}", f"u{ext}"])


def test_csv_round_trip(tmp_path: Path) -> None:
    t = sample(200)
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**63, 200, dtype=np.int64).view(np.float64)  # arbitrary float64s
    table = Table({"f8": t["f8"], "bits": bits, "i": t["int64"], "b": t["b"], "f4": t["f4"]})
    path = tmp_path / "t.csv"
    write_table(table, path)
    back = read_table(path)
    assert [str(v.dtype) for v in back.columns.values()] == ["float64", "float64", "int64", "bool", "float64"]
    for name in ("f8", "bits", "i", "b"):
        x, y = table[name], back[name]
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            assert np.array_equal(nan, np.isnan(y))
            x, y = x[~nan], y[~nan]
        assert x.tobytes() == y.tobytes(), name
    assert back["f4"].astype(np.float32).tobytes() == table["f4"].tobytes()
    write_table(back, tmp_path / "u.csv")
    assert_same(back, read_table(tmp_path / "u.csv"))
    assert "-0.0" in path.read_text() and "inf" in path.read_text()


def test_parquet_metadata_kept(tmp_path: Path) -> None:
    schema = pa.schema(
        [pa.field("x", pa.float32(), metadata={"unit": "GeV"}), pa.field("n", pa.int32(), nullable=False)],
        metadata={"about": json.dumps({"k": [1, 2]})},
    )
    src = pa.Table.from_arrays(
        [pa.array([1.5, np.nan], pa.float32()), pa.array([1, 2], pa.int32())], schema=schema
    )
    pq.write_table(src, tmp_path / "a.parquet")
    table = read_table(tmp_path / "a.parquet")
    assert table.source["metadata"] == {"about": '{"k": [1, 2]}'}
    write_table(table, tmp_path / "b.parquet")
    assert pq.read_schema(tmp_path / "b.parquet").equals(schema, check_metadata=True)


def test_parquet_real_sample(tmp_path: Path) -> None:
    table = read_table(DATA / "ttbar_jets_2k.parquet")
    table = Table(table.columns, json.loads(json.dumps(table.source)))
    assert len(table) == 2000 and table["pt"].dtype == np.float32 and table["event"].dtype == np.int64
    write_table(table, tmp_path / "out.parquet")
    a, b = pq.read_table(DATA / "ttbar_jets_2k.parquet"), pq.read_table(tmp_path / "out.parquet")
    assert b.equals(a) and b.schema.equals(a.schema, check_metadata=True)
    picked = read_table(DATA / "ttbar_jets_2k.parquet", columns=["eta", "pt"])
    assert picked.names == ["eta", "pt"]


def test_parquet_non_numeric(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0], "name": ["a"], "v": [[1, 2]]}), tmp_path / "s.parquet")
    with pytest.raises(
        BaleInputError, match="column 'name' has type string; bale compresses numeric columns only"
    ):
        read_table(tmp_path / "s.parquet")
    with pytest.raises(BaleInputError, match=r"column 'v'.*jagged collections are not supported yet"):
        read_table(tmp_path / "s.parquet", columns=["v"])
    assert read_table(tmp_path / "s.parquet", columns=["x"]).names == ["x"]


@pytest.mark.parametrize("shape", [(10,), (10, 3), (4, 2, 3)])
def test_npy_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    arr = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.save(tmp_path / "a.npy", arr)
    table = read_table(tmp_path / "a.npy")
    k = int(np.prod(shape[1:]))
    assert table.names == [f"col{i}" for i in range(k)] and len(table) == shape[0]
    assert np.array_equal(table["col1" if k > 1 else "col0"], arr.reshape(shape[0], -1)[:, 1 if k > 1 else 0])
    write_table(table, tmp_path / "b.npy")
    back = np.load(tmp_path / "b.npy")
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)


def test_npz_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    members = {
        "data": rng.normal(size=(6, 5, 4)),
        "x": np.arange(6, dtype=np.int16),
        "names": np.zeros(0),
        "scale": np.float32(2.5),
        "bins": np.linspace(0, 1, 11),
    }
    np.savez_compressed(tmp_path / "a.npz", **members)
    table = read_table(tmp_path / "a.npz")
    assert table.names == [f"data_{i}" for i in range(20)] + ["x"]
    assert np.array_equal(table["data_7"], members["data"].reshape(6, -1)[:, 7])
    write_table(table, tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz") as back:
        assert back.files == list(members)
        for key, value in members.items():
            assert back[key].dtype == np.asarray(value).dtype and back[key].shape == np.shape(value)
            assert back[key].tobytes() == np.asarray(value).tobytes()
    assert table.source["compressed"] is True
    json.dumps(table.source)  # source stays JSON-serialisable


def test_npz_names_member(tmp_path: Path) -> None:
    data = np.arange(15, dtype=np.int32).reshape(5, 3)
    np.savez(tmp_path / "a.npz", data=data, names=np.array(["u", "v", "w"]))
    table = read_table(tmp_path / "a.npz")
    assert table.names == ["u", "v", "w"] and np.array_equal(table["w"], data[:, 2])
    write_table(table, tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz") as back:
        assert np.array_equal(back["data"], data) and back["data"].dtype == np.int32
        assert back["names"].tolist() == ["u", "v", "w"]


def test_cfd_still_real(tmp_path: Path) -> None:
    table = read_table(DATA / "CFD_still.npz")
    assert len(table) == 1 and len(table.names) == 2500 and table["data_0"].dtype == np.float64
    write_table(table, tmp_path / "out.npz")
    with np.load(DATA / "CFD_still.npz") as a, np.load(tmp_path / "out.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert a[key].shape == b[key].shape and a[key].dtype == b[key].dtype
            assert a[key].tobytes() == b[key].tobytes()


def test_hdf5_groups(tmp_path: Path) -> None:
    n = 50
    rng = np.random.default_rng(5)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.attrs["title"] = "run 1"
        f.attrs["tags"] = ["a", "bb"]
        f.create_dataset("a/x", data=rng.normal(size=n).astype(">f4"), compression="gzip", chunks=(10,))
        f.create_dataset("a/b/y", data=np.arange(n, dtype=np.int16)).attrs["unit"] = np.float64(1e-3)
        f.create_dataset("z", data=rng.normal(size=(n, 3)))
        f.create_dataset("meta/bins", data=np.linspace(0, 1, 7))
        f.create_dataset("meta/version", data=np.int64(3))
        f.create_group("empty")
    table = read_table(tmp_path / "a.h5")
    assert table.names == ["a/b/y", "a/x", "z_0", "z_1", "z_2"]
    table = Table(table.columns, json.loads(json.dumps(table.source)))
    assert table["a/x"].dtype == np.float32 and table["a/b/y"].dtype == np.int16
    write_table(table, tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for key in ("a/x", "a/b/y", "z", "meta/bins", "meta/version"):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape
            assert a[key][()].tobytes() == b[key][()].tobytes()
        assert b["a/x"].compression == "gzip" and b["a/x"].chunks == (10,)
        assert list(b.attrs["tags"]) == ["a", "bb"]
        assert b.attrs["title"] == "run 1" and b["a/b/y"].attrs["unit"] == 1e-3
        assert "empty" in b
    assert read_table(tmp_path / "a.h5", columns=["z_1"])["z_1"].tobytes() == table["z_1"].tobytes()


def test_root_real_sample(tmp_path: Path) -> None:
    with pytest.raises(BaleInputError, match="column 'Type' has type string"):
        read_table(DATA / "uproot-Zmumu.root")
    cols = ["Run", "Event", "E1", "px1", "Q1", "M"]
    table = read_table(DATA / "uproot-Zmumu.root", columns=cols, tree="events")
    assert len(table) == 2304 and table["Q1"].dtype == np.int32 and table["M"].dtype == np.float64
    write_table(table, tmp_path / "z.root")
    with uproot.open(tmp_path / "z.root") as f:
        assert f.classnames() == {"events;1": "TTree"}
        tree = f["events"]
        assert tree.title == "Z -> mumu events" and tree.keys() == cols
        assert [str(tree[c].interpretation.to_dtype) for c in cols] == [str(table[c].dtype) for c in cols]
    assert_same(table, read_table(tmp_path / "z.root"))


def test_root_trees_and_jagged(tmp_path: Path) -> None:
    with uproot.recreate(tmp_path / "two.root") as f:
        for name in ("a", "b"):
            f.mktree(name, {"x": np.float64}).extend({"x": np.arange(3.0)})
    with pytest.raises(BaleInputError, match="several TTrees: a, b"):
        read_table(tmp_path / "two.root")
    with pytest.raises(BaleInputError, match=r"no TTree 'c'.*trees: a, b"):
        read_table(tmp_path / "two.root", tree="c")
    assert read_table(tmp_path / "two.root", tree="b").source["tree"] == "b"
    import awkward as ak

    with uproot.recreate(tmp_path / "j.root") as f:
        f.mktree("t", {"v": "var * float64"}).extend({"v": ak.Array([[1.0], [], [2.0, 3.0]])})
    with pytest.raises(BaleInputError, match="jagged collections are not supported yet"):
        read_table(tmp_path / "j.root")


def test_cross_format_flat(tmp_path: Path) -> None:
    table = read_table(DATA / "ttbar_jets_2k.parquet", columns=["pt", "n_constituents"])
    write_table(table, tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5") as f:
        assert sorted(f) == ["n_constituents", "pt"] and f["pt"].dtype == np.float32
    write_table(table, tmp_path / "x.npz")
    assert_same(table, read_table(tmp_path / "x.npz"))
    write_table(table, tmp_path / "x.root")
    assert read_table(tmp_path / "x.root").source["tree"] == "events"
    write_table(table, tmp_path / "x.dat", format="npz")
    with np.load(tmp_path / "x.dat") as z:
        assert z.files == ["pt", "n_constituents"] and z["pt"].tobytes() == table["pt"].tobytes()


def test_detect_format() -> None:
    assert set(FORMATS) == {"parquet", "npz", "npy", "hdf5", "csv", "root"}
    assert detect_format("a/B.PQ") == "parquet" and detect_format("x.hdf5") == "hdf5"
    with pytest.raises(BaleInputError, match=r"unknown file extension '\.txt'.*supported: \.parquet"):
        detect_format("x.txt")


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(BaleInputError, match=r"no such file: .*missing\.parquet"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "a.txt").write_text("x\n1\n")
    with pytest.raises(BaleInputError, match="unknown file extension"):
        read_table(tmp_path / "a.txt")
    table = sample(10)
    with pytest.raises(BaleInputError, match="unknown file extension"):
        write_table(table, tmp_path / "out.xyz")
    with pytest.raises(BaleInputError, match="unknown format 'zip'"):
        write_table(table, tmp_path / "out.npz", format="zip")
    write_table(table, tmp_path / "t.npz")
    with pytest.raises(BaleInputError, match="unknown column 'nope'; available columns: f8, f4, b"):
        read_table(tmp_path / "t.npz", columns=["f8", "nope"])
    with pytest.raises(BaleInputError, match="tree= applies to ROOT files only"):
        read_table(tmp_path / "t.npz", tree="events")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(BaleInputError, match="cannot read"):
        read_table(tmp_path / "bad.parquet")
    np.savez(tmp_path / "s.npz", x=np.arange(3.0), label=np.array(["a", "b", "c"]))
    with pytest.raises(BaleInputError, match="column 'label' has type <U1"):
        read_table(tmp_path / "s.npz")
    assert read_table(tmp_path / "s.npz", columns=["x"]).names == ["x"]
    (tmp_path / "s.csv").write_text("x,name\n1,a\n")
    with pytest.raises(BaleInputError, match="column 'name' has type string"):
        read_table(tmp_path / "s.csv")


def test_atomic_write(tmp_path: Path) -> None:
    good = sample(10)
    write_table(good, tmp_path / "t.root")
    before = (tmp_path / "t.root").read_bytes()
    bad = Table({"h": np.zeros(10, dtype=np.float16)})
    with pytest.raises(BaleInputError, match="float16"):
        write_table(bad, tmp_path / "t.root")
    assert (tmp_path / "t.root").read_bytes() == before
    assert tmp_files(tmp_path) == ["t.root"]
    with pytest.raises(BaleInputError, match="no such directory"):
        write_table(good, tmp_path / "nope" / "t.npz")
