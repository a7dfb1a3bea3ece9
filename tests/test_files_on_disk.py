"""Outputs on disk (issue 16): permissions kept, never the input, created atomically, errors naming the file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import bale
import bale.container.format as container_format
import bale.io as bale_io
from bale.cli import main
from bale.errors import BaleInputError
from bale.fsutil import no_overwrite, refuse_same_file, write_atomic

TABLE = {"x": np.linspace(0.0, 1.0, 200), "n": np.arange(200, dtype=np.int32)}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "plain.toml"
    path.write_text("[model]\nlearned = false\n")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_force_keeps_a_private_output_private(tmp_path: Path, cfg: Path) -> None:
    packed = tmp_path / "t.bale"
    bale.compress(TABLE, packed, config=cfg)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"old")
    out.chmod(0o600)
    result = CliRunner().invoke(main, ["decompress", str(packed), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert _mode(out) == 0o600 and out.read_bytes() != b"old"
    packed.chmod(0o640)  # a .bale replaced through the API keeps its mode too
    bale.compress(TABLE, packed, config=cfg)
    assert _mode(packed) == 0o640


def test_a_new_output_has_the_umask_permissions(tmp_path: Path, cfg: Path) -> None:
    bale.compress(TABLE, tmp_path / "new.bale", config=cfg)
    bale.decompress(tmp_path / "new.bale", tmp_path / "new.npz")
    for name in ("new.bale", "new.npz"):
        assert _mode(tmp_path / name) == 0o666 & ~_umask()


def test_the_api_refuses_an_output_that_is_its_input(tmp_path: Path, cfg: Path) -> None:
    source = tmp_path / "t.parquet"
    bale.decompress(bale.compress(TABLE, tmp_path / "t.bale", config=cfg)["file"], source)
    before = source.read_bytes()
    link = tmp_path / "alias.parquet"
    link.symlink_to(source)
    for output in (source, tmp_path / "." / "t.parquet", link):
        with pytest.raises(BaleInputError, match="is the input"):
            bale.compress(source, output, config=cfg)
    assert source.read_bytes() == before
    with pytest.raises(BaleInputError, match="is the input"):
        refuse_same_file(str(source), str(link))


def test_creating_a_new_output_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with no_overwrite():
        write_atomic(target, "first")
        with pytest.raises(FileExistsError, match="exists"):
            write_atomic(target, "second")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    write_atomic(target, "third")  # outside the block: replaced, as asked
    assert target.read_text() == "third"


def test_two_cli_runs_to_one_new_path_cannot_both_succeed(
    tmp_path: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other run finishes first, between this run's existence check and its rename: this one must fail."""
    source = tmp_path / "in.npz"
    np.savez(source, **TABLE)
    out = tmp_path / "out.bale"
    real = container_format.finish_output

    def racing(tmp: Path, path: Path) -> None:
        path.write_bytes(b"the other run's file")
        real(tmp, path)

    monkeypatch.setattr(container_format, "finish_output", racing)
    result = CliRunner().invoke(main, ["compress", str(source), "-o", str(out), "-c", str(cfg)])
    assert result.exit_code == 2 and "exists" in result.output
    assert out.read_bytes() == b"the other run's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz", "out.bale", "plain.toml"]


@pytest.mark.parametrize("fmt", ["hdf5", "npy", "npz", "parquet", "csv"])
@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), OSError("Can't write data")])
def test_disk_errors_name_the_file(
    tmp_path: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, error: OSError
) -> None:
    packed = tmp_path / "t.bale"
    bale.compress(TABLE, packed, config=cfg)
    out = tmp_path / f"out.{ {'hdf5': 'h5'}.get(fmt, fmt)}"

    def full(table: object, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        raise error

    monkeypatch.setitem(bale_io._WRITERS, fmt, full)
    with pytest.raises(OSError) as info:
        bale.decompress(packed, out)
    assert str(out) in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()
    result = CliRunner().invoke(main, ["decompress", str(packed), "-o", str(out)])
    assert result.exit_code == 2 and f"cannot write {out}" in result.output
