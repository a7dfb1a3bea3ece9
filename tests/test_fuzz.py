"""Damaged, truncated and forged ``.bale`` files: a ``BaleFormatError`` every time, never a crash.

A short run of the fuzz campaign of ``benchmarks/fuzz_container.py`` (the long one is in
docs/reliability.md), property tests of byte edits with the checksums fixed, sizes declared
far past the file refused before allocating, damage named down to table, rows and column,
and ``bale verify``.
"""

from __future__ import annotations

import json
import random
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bale
from bale.api import verify
from bale.cli import main
from bale.codec.exact import encode_exact
from bale.config import load_config
from bale.errors import BaleFormatError, BaleModelMismatchError
from common import FROZEN

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import fuzz_container as fz

FAST = load_config(None, {"compress.chunk_rows": 100, "model.learned": False})


def table(n: int = 450) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 5, n)
    return {"i": rng.integers(0, 50, n).astype(np.int32), "x": x, "y": (x * 3).astype(np.float32)}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[fz.Seed]:
    folder = tmp_path_factory.mktemp("seeds")
    return [fz.parse_seed(n, Path(p).read_bytes(), m) for n, p, m in fz.make_seeds(folder)]


def test_short_fuzz_campaign(seeds: list[fz.Seed], tmp_path: Path) -> None:
    """400 inputs of every mutator: each ends in success or a BaleFormatError (CI's slice of the campaign)."""
    path = str(tmp_path / "f.bale")
    outcomes: dict[str, int] = {}
    kinds = set()
    for index in range(400):
        rng = random.Random(1234 * 1_000_000_007 + index)
        seed = seeds[rng.randrange(len(seeds))]
        kind, data = fz.make_input(seed, rng)
        Path(path).write_bytes(data)
        outcome = fz.target(path, seed.model_path)  # anything but a clean outcome raises and fails the test
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        kinds.add(kind)
    assert kinds == set(fz.MUTATORS)
    assert outcomes["format_error"] > 200 and outcomes.get("ok", 0) > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
    which=st.integers(0, 100),
)
def test_forged_sections_never_crash(
    seeds: list[fz.Seed], tmp_path: Path, edits: list[tuple[int, int]], cut: int | None, which: int
) -> None:
    """Byte edits inside a chunk section with the index and CRCs recomputed: the decoders see the damage."""
    seed = seeds[which % len(seeds)]
    chunks = [list(parts) for parts in seed.chunks]
    if not chunks or not chunks[0]:
        return
    i = which % len(chunks)
    name, payload = chunks[i][which % len(chunks[i])]
    buf = bytearray(payload)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    if cut is not None:
        del buf[cut % (len(buf) + 1) :]
    chunks[i][which % len(chunks[i])] = (name, bytes(buf))
    path = tmp_path / "h.bale"
    path.write_bytes(fz.build(seed, chunks=chunks))
    assert fz.target(str(path), seed.model_path) in ("ok", "format_error")


@pytest.mark.parametrize(
    "edit",
    [
        "model_length",
        "chunk_rows",
        "footer_rows",
        "section_length",
        "trailer_offset",
        "zstd_content_size",
        "header_length",
    ],
)
def test_sizes_past_the_file_are_refused_before_allocating(seeds: list[fz.Seed], tmp_path: Path, edit: str) -> None:
    seed = next(s for s in seeds if s.name == "small_chunks")
    path = tmp_path / "big.bale"
    if edit == "model_length":
        header = json.loads(json.dumps(seed.header))
        header["model"]["length"] = 2**40
        path.write_bytes(fz.build(seed, header=header, model_frame=b""))
        data = bytearray(path.read_bytes())
    elif edit in ("chunk_rows", "footer_rows"):

        def huge(footer: dict) -> dict:
            footer["chunks"][0]["rows"] += 2**40
            if edit == "footer_rows":
                footer["num_rows"] += 2**40
                footer["table_rows"][0] += 2**40
            return footer

        data = bytearray(fz.build(seed, footer_edit=huge))
    elif edit == "section_length":

        def long(footer: dict) -> dict:
            footer["chunks"][-1]["sections"][0][1] = 2**50
            return footer

        data = bytearray(fz.build(seed, footer_edit=long))
    elif edit == "trailer_offset":
        data = bytearray(seed.data)
        offset, _, crc, end = fz.TRAILER.unpack_from(data, len(data) - fz.TRAILER.size)
        data[-fz.TRAILER.size :] = fz.TRAILER.pack(offset, 2**32 - 1, crc, end)
    elif edit == "zstd_content_size":
        import zstandard

        bomb = zstandard.ZstdCompressor(level=1).compress(b"{" + b" " * (64 * 2**20) + b"}")  # past the 64 MiB limit
        data = bytearray(fz.build(seed, head_frame=bomb))
    else:
        data = bytearray(seed.data)
        data[12:16] = (2**32 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(BaleFormatError):
            verify(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{edit}: {peak / 2**20:.0f} MiB allocated for a {len(data)}-byte file"


def test_damage_is_named_by_chunk_rows_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.bale"
    bale.compress(table(), path, errors={"x": "abs=1e-3"}, config=FAST, workers=1)
    seed = fz.parse_seed("t", path.read_bytes(), None)
    assert len(seed.chunks) == 5
    data = bytearray(seed.data)
    c = seed.footer["chunks"][2]
    names = [s[0] for s in c["sections"]]
    at = c["offset"] + sum(s[1] for s in c["sections"][: names.index("x")])
    data[at + 1] ^= 0x10
    path.write_bytes(bytes(data))
    for run in (verify, bale.decompress):
        with pytest.raises(BaleFormatError, match=r"chunk 2 \(rows 200-299\), section 'x': checksum mismatch"):
            run(path)


def test_damage_in_a_collection_names_the_table(tmp_path: Path) -> None:
    seed = fz.parse_seed("events", (FROZEN / "events_v2.bale").read_bytes(), None)
    data = bytearray(seed.data)
    c = seed.footer["chunks"][1]
    data[c["offset"] + c["sections"][0][1] + 3] ^= 0x01  # the second section of the Jet chunk
    path = tmp_path / "e.bale"
    path.write_bytes(bytes(data))
    second = c["sections"][1][0]
    with pytest.raises(BaleFormatError, match=rf"chunk 1 \(table 'Jet', rows 0-536\), section '{second}'"):
        verify(path)


def test_exact_columns_are_checked_against_their_stored_hash(tmp_path: Path) -> None:
    """A forged section that decodes (CRCs right) to other values of an exact column: verify tells."""
    path = tmp_path / "t.bale"
    data = table()
    bale.compress(data, path, config=FAST, workers=1)
    assert verify(path)["exact_sha256_checked"] is True
    seed = fz.parse_seed("t", path.read_bytes(), None)
    chunks = [list(parts) for parts in seed.chunks]
    other = data["i"][:100].copy()
    other[7] += 1
    chunks[0] = [(n, encode_exact(other) if n == "i" else p) for n, p in chunks[0]]
    path.write_bytes(fz.build(seed, chunks=chunks))
    bale.decompress(path)  # decodes: the damage is consistent
    with pytest.raises(BaleFormatError, match=r"exact column\(s\) \['i'\] decode to other values"):
        verify(path)


@pytest.mark.parametrize("name", ["jets_v1", "jets_v2", "special_v2", "events_v2"])
def test_frozen_files_verify(name: str) -> None:
    result = verify(FROZEN / f"{name}.bale")
    assert result["ok"] and result["exact_sha256_checked"] is False  # written before the hashes


def test_verify_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "t.bale"
    bale.compress(table(), path, config=FAST, workers=1)
    before = sorted(tmp_path.iterdir())
    result = runner.invoke(main, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1 and "ok (450 rows, 3 columns, 5 chunk(s)" in result.output
    assert json.loads(runner.invoke(main, ["verify", str(path), "--json"]).output)["ok"] is True
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))
    result = runner.invoke(main, ["verify", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bale: error:") and "chunk" in lines[0]
    assert sorted(tmp_path.iterdir()) == before  # nothing written
    result = runner.invoke(main, ["verify", str(FROZEN / "jets_external_v2.bale")])
    assert result.exit_code == 2 and "external model" in result.output
    model = FROZEN / "jets_model_v2.safetensors"
    assert runner.invoke(main, ["verify", str(FROZEN / "jets_external_v2.bale"), "-m", str(model)]).exit_code == 0
    result = runner.invoke(main, ["verify", str(FROZEN / "jets_external_v2.bale"), "-m", str(FROZEN / "jets_v2.bale")])
    assert result.exit_code == 2


def test_wrong_external_model_is_a_mismatch(tmp_path: Path) -> None:
    model = bale.train(table(), config=FAST)
    bale.save_model(model, tmp_path / "m.safetensors")
    bale.compress(table(), tmp_path / "t.bale", model=tmp_path / "m.safetensors", config=FAST)
    other = bale.train({k: v[::-1].copy() for k, v in table().items()}, config=FAST, error="rel=1e-2")
    bale.save_model(other, tmp_path / "o.safetensors")
    with pytest.raises(BaleModelMismatchError):
        verify(tmp_path / "t.bale", model=tmp_path / "o.safetensors")
    assert verify(tmp_path / "t.bale", model=tmp_path / "m.safetensors")["ok"]


def test_crc_of_every_block_is_checked(tmp_path: Path) -> None:
    """Header, model, index: a flipped bit in each is caught by its own CRC-32."""
    path = tmp_path / "t.bale"
    bale.compress(table(), path, config=FAST, workers=1)
    good = path.read_bytes()
    seed = fz.parse_seed("t", good, None)
    head_len = int.from_bytes(good[12:16], "little")
    model_at = fz.PREAMBLE.size + head_len
    offset, length, crc, _ = fz.TRAILER.unpack_from(good, len(good) - fz.TRAILER.size)
    assert crc == zlib.crc32(good[offset : offset + length])
    for at, what in ((fz.PREAMBLE.size + 5, "header"), (model_at + 5, "model"), (offset + 5, "footer")):
        if what == "model" and seed.model is None:
            continue
        data = bytearray(good)
        data[at] ^= 0x20
        path.write_bytes(bytes(data))
        with pytest.raises(BaleFormatError, match="checksum mismatch"):
            verify(path)


def test_verify_a_grid_file(tmp_path: Path) -> None:
    """Grid files verify too: checksums, then every grid decoded; damage is a format error."""
    from click.testing import CliRunner

    from bale.cli import main

    frozen = Path(__file__).parent / "data" / "frozen" / "grid_v2.bale"
    result = CliRunner().invoke(main, ["verify", str(frozen)])
    assert result.exit_code == 0 and "ok (grids" in result.output
    data = bytearray(frozen.read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.bale").write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "bad.bale")])
    assert result.exit_code == 2 and "checksum" in result.output
