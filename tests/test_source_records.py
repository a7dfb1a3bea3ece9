"""The header's ``source`` record drives the writers: forged, it is refused before anything is written (issue 16).

No pickle, no huge file, no traceback: one-line ``BaleFormatError``, and no output file.
"""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import bale
from bale.errors import BaleFormatError
from bale.io.source_check import check_root_source
from common import forge

ROWS = 20_000


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("plain")
    cfg = folder / "plain.toml"
    cfg.write_text("[model]\nlearned = false\n")
    rng = np.random.default_rng(16)
    path = folder / "t.bale"
    bale.compress({"a": rng.normal(size=ROWS), "n": np.arange(ROWS, dtype=np.int32)}, path, config=cfg)
    return path.read_bytes()


def _with_source(data: bytes, source: dict[str, Any]) -> bytes:
    return forge(data, header=lambda h: h.update(source=source))


def _b64(values: bytes) -> str:
    return base64.b64encode(values).decode()


def _npy(*fields: list[str]) -> dict[str, Any]:
    return {"format": "npy", "structured": [list(f) for f in fields], "columns": ["a", "n"]}


def _extra(name: str, descr: str, shape: list[int], data: str = "") -> dict[str, Any]:
    return {"format": "npz", "members": [{"name": name, "extra": {"descr": descr, "shape": shape, "data": data}}]}


def _h5(storage: dict[str, Any]) -> dict[str, Any]:
    member = {"name": "a", "dtype": "<f8", "shape": [], "columns": ["a"], "storage": storage}
    return {"format": "hdf5", "members": [member]}


FORGED: dict[str, tuple[str, dict[str, Any]]] = {
    "npy structured void": (".npy", _npy(["a", "<f8"], ["n", "<i4"], ["", "|V268435456"])),
    "npy structured object": (".npy", _npy(["a", "|O"], ["n", "<i4"])),
    "npy narrower field": (".npy", _npy(["a", "<f2"], ["n", "<i4"])),
    "npz object member": (".npz", _extra("evil", "|O", [1], _b64(b"\0" * 8))),
    "npz void member": (".npz", _extra("v", "|V268435456", [])),
    "npz member bytes short": (".npz", _extra("x", "<f8", [1000000])),
    "npz narrower member": (
        ".npz", {"format": "npz", "members": [{"name": "a", "dtype": "|i1", "shape": [], "columns": ["a"]}]},
    ),
    "npz member without columns": (".npz", {"format": "npz", "members": [{"name": "a", "dtype": "<f8", "shape": []}]}),
    "npz members not a list": (".npz", {"format": "npz", "members": {"a": 1}}),
    "hdf5 unknown filter": (".h5", _h5({"compression": 32001})),
    "hdf5 storage option": (".h5", _h5({"maxshape": [None]})),
    "hdf5 lossy level": (".h5", _h5({"compression": "lzf", "compression_opts": 99})),
    "hdf5 path climbing": (".h5", {"format": "hdf5", "groups": ["../x"], "order": ["../x"]}),
    "hdf5 attribute object": (
        ".h5",
        {"format": "hdf5", "attrs": {"/": {"k": {"array": {"descr": "|O", "shape": [], "data": ""}, "scalar": True}}}},
    ),
    "parquet metadata not strings": (".parquet", {"format": "parquet", "metadata": {"k": [1, 2]}}),
    "parquet row group not int": (".parquet", {"format": "parquet", "row_group_size": "1"}),
    "root tree path": (".root", {"format": "root", "tree": "../evil", "title": ""}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_source_records_are_refused(plain: bytes, tmp_path: Path, name: str) -> None:
    suffix, source = FORGED[name]
    path = tmp_path / "forged.bale"
    path.write_bytes(_with_source(plain, source))
    out = tmp_path / f"out{suffix}"
    with pytest.raises(BaleFormatError, match="source record") as info:
        bale.decompress(path, out)
    assert "\n" not in str(info.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["forged.bale"]  # no temporary file left either


def test_one_row_row_groups_are_not_replayed(plain: bytes, tmp_path: Path) -> None:
    path = tmp_path / "groups.bale"
    path.write_bytes(_with_source(plain, {"format": "parquet", "row_group_size": 1}))
    out = tmp_path / "out.parquet"
    bale.decompress(path, out)
    assert pq.ParquetFile(out).metadata.num_row_groups <= ROWS // 1024 + 1
    assert out.stat().st_size < 2_000_000


def test_a_valid_npz_record_still_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "in.npz"
    np.savez(source, a=np.arange(50.0), n=np.arange(50, dtype=np.int16), meta=np.array([1, 2, 3]))
    bale.compress(source, tmp_path / "x.bale", error="exact")
    bale.decompress(tmp_path / "x.bale", tmp_path / "back.npz")
    with np.load(tmp_path / "back.npz", allow_pickle=False) as back:
        assert back["n"].dtype == np.int16 and back["meta"].tolist() == [1, 2, 3]
    with zipfile.ZipFile(tmp_path / "back.npz") as z:
        assert sorted(z.namelist()) == ["a.npy", "meta.npy", "n.npy"]


def test_check_root_source() -> None:
    assert check_root_source({"format": "root", "tree": "Events", "title": "t"})["tree"] == "Events"
    assert check_root_source({"format": "root", "tree": "one/two/tree"})["tree"] == "one/two/tree"  # in directories
    bad_records = (
        {"tree": "a//b"}, {"tree": "../x"}, {"tree": "x\n"}, {"tree": ""}, {"tree": 5},
        {"title": "x\0"}, {"kind": "pickle"}, {"synthetic_counters": [1]},
    )  # fmt: skip
    for bad in bad_records:
        with pytest.raises(BaleFormatError, match="source record"):
            check_root_source({"format": "root", **bad})
