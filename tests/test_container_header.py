"""The header, footer and chunk index are typed models the container alone builds and validates (issue 17).

The builders in :mod:`bale.container.header` must give, key for key, the headers the frozen
files of format version 2 hold (so files stay byte-identical); what a reader is handed is
checked field by field, and a field of the wrong type is refused in one line that names it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bale.container import (
    BaleReader,
    BaleWriter,
    Header,
    column_entry,
    grid_entry,
    grid_header,
    members_header,
    model_entry,
    table_entry,
    table_header,
)
from bale.container.header import parse_footer, parse_header
from bale.errors import BaleFormatError
from common import FROZEN, forge, split


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _without_embedding(model: dict[str, Any]) -> dict[str, Any]:
    """The model entry as a writer hands it over: the writer itself adds the embedded frame's length and CRC."""
    return {k: v for k, v in model.items() if k not in ("length", "crc32", "encoding")}


def _rebuilt_table_header(header: dict[str, Any]) -> Header:
    tables = [
        table_entry(
            t["name"],
            [column_entry(c["name"], c["dtype"], c["bound"], c["predictor"]) for c in t["schema"]],
            counter=t.get("counter"),
            quantities=t.get("quantities"),
        )
        for t in header["tables"]
    ]
    model = model_entry(**_without_embedding(header["model"]))
    return table_header(tables, model, chunk_rows=header["chunk_rows"], source=header["source"])


def _rebuilt_grid_header(header: dict[str, Any]) -> Header:
    grids = [
        grid_entry(t["name"], t["schema"][0]["dtype"], t["schema"][0]["bound"], t["grid"]["shape"], t["grid"]["error"])
        for t in header["tables"]
    ]
    return grid_header(grids, model_entry(**_without_embedding(header["model"])), source=header["source"])


def _written_header(header: Header, model: bytes | None) -> dict[str, Any]:
    """The header a BaleWriter writes (embedded model entry included), read back."""
    out = io.BytesIO()
    writer = BaleWriter(out, header, model)
    writer.close()
    return split(out.getvalue())[0]


@pytest.mark.parametrize(
    ("name", "rebuild"),
    [
        ("jets_v2.bale", _rebuilt_table_header),  # a table, embedded model
        ("jets_external_v2.bale", _rebuilt_table_header),  # a table, external model
        ("events_v2.bale", _rebuilt_table_header),  # an event dataset: a main table and collections
        ("jets_quantities_v2.bale", _rebuilt_table_header),  # quantities
        ("grid_v2.bale", _rebuilt_grid_header),  # grids, no model
        ("grid_conv_v2.bale", _rebuilt_grid_header),  # a grid with an embedded conv model
    ],
)
def test_built_header_is_the_frozen_files_header(name: str, rebuild: Any) -> None:
    """Key for key and byte for byte (as canonical JSON), the builders give what earlier bale wrote."""
    data = (FROZEN / name).read_bytes()
    head, model, _, _ = split(data)
    built = rebuild(head)
    if head["model"].get("embedded"):
        import zstandard

        written = _written_header(built, zstandard.ZstdDecompressor().decompress(model))
    else:
        written = _written_header(built, None)
    assert _canonical(written) == _canonical(head)
    with BaleReader(data) as reader:
        assert _canonical(reader.header) == _canonical(head)


def test_members_header_has_the_keys_of_a_whole_root_file() -> None:
    source = {"format": "root", "objects": {}, "left_out": {}, "changed": {}}
    header = members_header([("events", "tree"), ("objects", "objects")], source=source)
    assert header["kind"] == "members"
    assert header["tables"] == [
        {"name": "events", "kind": "tree", "schema": []},
        {"name": "objects", "kind": "objects", "schema": []},
    ]
    assert header["model"] == {"embedded": False}
    assert sorted(header) == ["created_by", "format", "kind", "model", "source", "tables"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda h: h["tables"][0]["schema"][2].update(dtype=3), r"tables\[0\]\.schema\[2\]\.dtype"),
        (lambda h: h["tables"][0]["schema"][0].update(bound=None), r"tables\[0\]\.schema\[0\]\.bound"),
        (lambda h: h["model"].update(embedded=1), r"model\.embedded"),
        (lambda h: h.update(chunk_rows="262144"), r"chunk_rows"),
        (lambda h: h.update(chunk_rows=True), r"chunk_rows"),
        (lambda h: h.update(source=[]), r"source"),
        (lambda h: h["tables"][0].update(quantities={}), r"tables\[0\]\.quantities"),
        (lambda h: h.__delitem__("model"), r"model"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_by_name(tmp_path: Path, edit: Any, field: str) -> None:
    path = tmp_path / "bad.bale"
    path.write_bytes(forge((FROZEN / "jets_v2.bale").read_bytes(), header=edit))
    with pytest.raises(BaleFormatError, match=rf"bad\.bale: bad header: {field}: ") as info:
        BaleReader(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda f: f["chunks"][0].update(rows="2000"), r"chunks\[0\]\.rows"),
        (lambda f: f["chunks"][0].update(rows=2000.0), r"chunks\[0\]\.rows"),
        (lambda f: f["chunks"][0]["sections"][1].__delitem__(2), r"chunks\[0\]\.sections\[1\]\[2\]"),
        (lambda f: f.update(table_rows=["2000"]), r"table_rows\[0\]"),
        (lambda f: f.update(raw_bytes="144000"), r"raw_bytes"),
        (lambda f: f.update(exact_sha256={"event": 1}), r"exact_sha256\.event"),
    ],
)
def test_an_index_entry_of_the_wrong_type_is_refused_by_name(tmp_path: Path, edit: Any, field: str) -> None:
    path = tmp_path / "bad.bale"
    path.write_bytes(forge((FROZEN / "jets_v2.bale").read_bytes(), footer=edit))
    with pytest.raises(BaleFormatError, match=rf"bad\.bale: bad chunk index: {field}: "):
        BaleReader(path)


def test_version_1_headers_keep_their_columns_at_the_top() -> None:
    head, _, _, _ = split((FROZEN / "jets_v1.bale").read_bytes())
    assert "tables" not in head
    parse_header(head, 1)
    with pytest.raises(BaleFormatError, match=r"bad header: tables: Field required"):
        parse_header(head, 2)
    with BaleReader(FROZEN / "jets_v1.bale") as reader:
        assert [c["name"] for c in reader.tables[0]["schema"]] == [c["name"] for c in head["schema"]]


def test_keys_a_later_bale_adds_are_kept() -> None:
    head, _, _, foot = split((FROZEN / "jets_v2.bale").read_bytes())
    head["comment"] = "from the future"
    head["tables"][0]["schema"][0]["unit"] = "GeV"
    parsed = parse_header(head, 2)
    assert parsed["tables"][0]["schema"][0]["unit"] == "GeV"  # type: ignore[typeddict-item]
    assert parsed["comment"] == "from the future"  # type: ignore[typeddict-item]
    assert parse_footer({**foot, "note": 1})["note"] == 1  # type: ignore[typeddict-item]


def test_semantic_checks_follow_the_typed_ones(tmp_path: Path) -> None:
    """A header of the right types can still be wrong: the messages of these checks are unchanged."""
    cases = [
        (lambda h: h["tables"][0]["schema"][1].update(name="pt"), "is empty or repeated"),
        (lambda h: h["tables"][0]["schema"][0].update(dtype="object"), "cannot be stored"),
        (lambda h: h["tables"][0]["schema"][0].update(bound="rel=-1"), "bad dtype or bound"),
        (lambda h: h["tables"][0]["schema"][0].__delitem__("predictor"), "has no predictor"),
        (lambda h: h.update(chunk_rows=0), "bad chunk_rows"),
    ]
    for edit, match in cases:
        path = tmp_path / "bad.bale"
        path.write_bytes(forge((FROZEN / "jets_v2.bale").read_bytes(), header=edit))
        with pytest.raises(BaleFormatError, match=match):
            BaleReader(path)


def test_the_writer_refuses_a_header_readers_would_refuse() -> None:
    column = column_entry("x", "float64", "rel=0.001", "grid")
    twice = table_header([table_entry("", [column, column])], model_entry(embedded=False), chunk_rows=10, source={})
    with pytest.raises(ValueError, match="cannot read: column name 'x' is empty or repeated"):
        BaleWriter(io.BytesIO(), twice, None)
    bad_shape = grid_header(
        [grid_entry("g", "float32", "abs=0.1", [-1], "abs=0.1")], model_entry(embedded=False), source={}
    )
    with pytest.raises(ValueError, match="bad shape"):
        BaleWriter(io.BytesIO(), bad_shape, None)
    wrong_type = table_header([table_entry("", [column])], model_entry(embedded=False), chunk_rows=10, source={})
    wrong_type["tables"][0]["schema"][0]["bound"] = 0.001  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match=r"cannot read: bad header: tables\[0\]\.schema\[0\]\.bound: "):
        BaleWriter(io.BytesIO(), wrong_type, None)


@pytest.mark.slow
def test_mypy_catches_a_misspelled_key(tmp_path: Path) -> None:
    """The models are types: a key that is not the format's is an error before anything runs."""
    pytest.importorskip("mypy")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from bale.container import TableEntry, BaleReader\n"
        "entry: TableEntry = {'name': '', 'shema': []}\n"
        "def rows(reader: BaleReader) -> int:\n"
        "    return reader.footer['num_row']\n"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(snippet)],
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(src), "PATH": ""},
        cwd=tmp_path,
        check=False,
    )
    assert '"shema"' in run.stdout, run.stdout
    assert '"num_row"' in run.stdout, run.stdout


def test_the_readers_header_type_covers_every_version() -> None:
    """``Header`` (what readers see) has each key of the header of every version, required where all require it."""
    from bale.container.schema import HeaderV1, HeaderV2

    versions = (HeaderV1, HeaderV2)
    assert Header.__required_keys__ == frozenset.intersection(*(v.__required_keys__ for v in versions))
    assert Header.__required_keys__ | Header.__optional_keys__ == frozenset.union(
        *(v.__required_keys__ | v.__optional_keys__ for v in versions)
    )
