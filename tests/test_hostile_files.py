"""Well-formed, CRC-valid but hostile ``.bale`` files (issue 16): bombs of rows, grids, JSON and indexes.

Every file here passes every checksum; what stops it is bale's validation, before the
allocation or the work it asks for. Each ends in one-line ``BaleFormatError``, fast, with a
small peak of memory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bale
from bale.api import verify
from bale.errors import BaleFormatError
from bale.grid.api import decompress_grid
from common import FROZEN, crc, forge, join, peak_memory, split, zjson

MiB = 2**20


def _zeros(tmp_path: Path, columns: int = 8, rows: int = 1000) -> bytes:
    path = tmp_path / "zeros.bale"
    bale.compress({f"c{i}": np.zeros(rows) for i in range(columns)}, path, error="rel=1e-3", config=_plain(tmp_path))
    return path.read_bytes()


def _plain(tmp_path: Path) -> Path:
    cfg = tmp_path / "plain.toml"
    cfg.write_text("[model]\nlearned = false\n")
    return cfg


def _refused(path: Path, *, memory: int = 64 * MiB, seconds: float = 5.0, match: str = "") -> None:
    """info, verify and decompress (in memory and to a file) all end in BaleFormatError, within bounds."""
    calls = [
        lambda: bale.info(path),
        lambda: verify(path),
        lambda: bale.decompress(path),
        lambda: bale.decompress(path, path.with_suffix(".parquet")),
    ]
    for call in calls:
        started = time.perf_counter()
        with peak_memory() as peak, pytest.raises(BaleFormatError, match=match) as info:
            call()
        assert "\n" not in str(info.value)
        assert time.perf_counter() - started < seconds
        assert peak[0] < memory, f"{peak[0]} bytes before {info.value}"
    assert not path.with_suffix(".parquet").exists()


def _rows(count: int, chunks: int = 1) -> Any:
    def edit(footer: dict[str, Any]) -> dict[str, Any]:
        first = footer["chunks"][0]
        footer["chunks"] = [dict(first, rows=count, step=i) for i in range(chunks)]
        footer["num_rows"] = count * chunks
        footer["table_rows"] = [count * chunks]
        return footer

    return edit


def test_row_count_bomb(tmp_path: Path) -> None:
    data = forge(_zeros(tmp_path), header=lambda h: h.update(chunk_rows=2**27), footer=_rows(2**27))
    path = tmp_path / "bomb.bale"
    path.write_bytes(data)
    assert len(data) < 4096  # 8 columns x 2^27 rows: 8 GiB declared
    _refused(path, match="decompression bomb")


def test_many_chunks_of_many_rows(tmp_path: Path) -> None:
    zeros = _zeros(tmp_path, columns=1)
    head, model, parts, foot = split(zeros)
    count = 2000  # 2000 chunks of 2^27 rows: days of decoding, in a file of kilobytes
    parts = parts[:1] * count
    foot["chunks"] = [dict(foot["chunks"][0], rows=2**27, step=i) for i in range(count)]
    foot["num_rows"] = 2**27 * count
    foot["table_rows"] = [2**27 * count]
    head["chunk_rows"] = 2**27
    path = tmp_path / "chunks.bale"
    path.write_bytes(join(head, model, parts, foot))
    _refused(path, match="decompression bomb")


def test_grid_shape_bomb(tmp_path: Path) -> None:
    def shape(h: dict[str, Any]) -> None:
        h["tables"][1]["grid"]["shape"] = [1, 32768, 32768]

    path = tmp_path / "grid.bale"
    path.write_bytes(forge((FROZEN / "grid_v2.bale").read_bytes(), header=shape))
    for call in (lambda: bale.info(path), lambda: decompress_grid(path), lambda: verify(path)):
        with peak_memory() as peak, pytest.raises(BaleFormatError):
            call()
        assert peak[0] < 64 * MiB


def test_grid_blocks_are_bounded(tmp_path: Path) -> None:
    """A grid's block shape is checked before its blocks are listed: 16 M blocks of one value are not a grid's."""
    from bale.codec.varint import ByteReader, encode_varint
    from bale.grid.codec import pack_sections, unpack_sections

    head, model, parts, foot = split((FROZEN / "grid_v2.bale").read_bytes())
    head["tables"][1]["grid"]["shape"] = [1, 4096, 4096]  # 256 MiB as decoded: within what any file may declare
    grid = {k: bytes(v) for k, v in unpack_sections(parts[1][0][1]).items()}
    plan = ByteReader(grid["plan"])
    for _ in range(3):
        plan.varint()
    grid["plan"] = encode_varint(1) * 3 + bytes(plan.data[plan.pos :])
    parts[1] = [("grid", pack_sections(grid))]
    path = tmp_path / "blocks.bale"
    path.write_bytes(join(head, model, parts, foot))
    for call in (lambda: bale.info(path), lambda: decompress_grid(path)):
        started = time.perf_counter()
        with peak_memory() as peak, pytest.raises(BaleFormatError, match="block"):
            call()
        assert time.perf_counter() - started < 5 and peak[0] < 64 * MiB


def test_quadratic_index_is_linear(tmp_path: Path) -> None:
    """K empty collections, each with an empty chunk: info and verify take linear time."""
    zeros = _zeros(tmp_path, columns=1, rows=10)
    head, model, parts, foot = split(zeros)
    count = 30_000
    head["tables"] += [{"name": f"t{i}", "counter": "c0", "schema": []} for i in range(count)]
    parts += [[] for _ in range(count)]
    foot["chunks"] += [{"table": i + 1, "step": 0, "rows": 0, "offset": 0, "sections": []} for i in range(count)]
    foot["table_rows"] += [0] * count
    path = tmp_path / "wide.bale"
    path.write_bytes(join(head, model, parts, foot))
    started = time.perf_counter()
    with pytest.raises(BaleFormatError):  # the model has no such tables; the index is read first
        verify(path)
    report = bale.info(path)
    assert report["chunks"] == count + 1
    assert time.perf_counter() - started < 10  # quadratic: 9e8 steps, minutes


@pytest.mark.parametrize("where", ["header", "footer"])
def test_json_bombs(tmp_path: Path, where: str) -> None:
    zeros = _zeros(tmp_path, columns=1)
    head, model, parts, foot = split(zeros)
    bomb = b'{"chunks":[' + b"[]," * (20 * MiB // 3) + b'[]],"x":1}'  # 20 MiB of JSON in a frame of kB
    deep = b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    for text in (bomb, deep):
        frame = zjson(None, raw=text)
        data = join(frame, model, parts, foot) if where == "header" else join(head, model, parts, frame)
        path = tmp_path / f"{where}.bale"
        path.write_bytes(data)
        with peak_memory() as peak, pytest.raises(BaleFormatError) as info:
            bale.info(path)
        assert "\n" not in str(info.value)
        assert peak[0] < 128 * MiB


def test_safetensors_header_bombs() -> None:
    from bale.models.bundle import model_from_bytes

    good = (FROZEN / "jets_model_v2.safetensors").read_bytes()
    n = int.from_bytes(good[:8], "little")
    huge = (2**40).to_bytes(8, "little") + good[8:]
    with pytest.raises(BaleFormatError):
        model_from_bytes(huge)
    header = b'{"__metadata__":{"x":"1"},"y":[' + b"[]," * (20 * MiB // 3) + b"[]]}"
    bomb = len(header).to_bytes(8, "little") + header + good[8 + n :]
    with peak_memory() as peak, pytest.raises(BaleFormatError):
        model_from_bytes(bomb)
    assert peak[0] < 128 * MiB
    deep = json.dumps({"bale_model": "[" * 3000 + "]" * 3000}).encode()
    header = b'{"__metadata__":' + deep + b"}"
    with pytest.raises(BaleFormatError, match="nests"):
        model_from_bytes(len(header).to_bytes(8, "little") + header)


def test_embedded_model_frame_is_bounded_by_the_file(tmp_path: Path) -> None:
    data = (FROZEN / "jets_v2.bale").read_bytes()
    head, _, parts, foot = split(data)
    frame = zjson(None, raw=b"\0" * (200 * MiB))  # 200 MiB of model in a frame of kB
    head["model"].update(length=len(frame), crc32=crc(frame))
    path = tmp_path / "model.bale"
    path.write_bytes(join(head, frame, parts, foot))
    with peak_memory() as peak, pytest.raises(BaleFormatError):
        bale.decompress(path)
    assert peak[0] < 64 * MiB


@pytest.mark.slow
def test_short_structural_fuzz_campaign() -> None:
    """CI's bounded slice of benchmarks/fuzz_structure.py: hostile CRC-valid files, every mutator, 0 findings."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import fuzz_structure

    # time is the campaign's to judge (docs/reliability.md): CI machines are shared, and traced memory is slower
    summary = fuzz_structure.campaign(120, seed_value=16, jobs=1, seconds=120.0, block=120)
    assert summary["findings"] == []
    kinds = {key.split("/")[0] for key in summary["per_mutator"]}
    assert kinds == set(fuzz_structure.MUTATORS)
    assert summary["outcomes"].get("format_error", 0) > 60
