"""Outputs appear whole or not at all: killed runs and full disks leave nothing under the target name.

A child process compresses or decompresses with a slowed-down step, is killed mid-run
(SIGINT, SIGTERM, SIGKILL), and the target must not exist; after SIGINT and SIGTERM no
temporary file is left either. Write failures (ENOSPC) are injected into the container
writer, the table writers and the model writer: a clear error, and no file.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import bale
import bale.container.format
import bale.io
from bale.cli import main
from bale.config import load_config
from bale.fsutil import write_atomic

SRC = Path(__file__).resolve().parents[1] / "src"
FAST = load_config(None, {"compress.chunk_rows": 50, "model.learned": False})

CHILD = r"""
import os, sys, time
import numpy as np
import bale, bale.api, bale.io, bale.cli
from bale.config import load_config

how, target, ready, source = sys.argv[1:5]
cfg = load_config(None, {"compress.chunk_rows": 50, "model.learned": False})
data = {"x": np.linspace(0, 1, 2000), "i": np.arange(2000)}

def mark():
    with open(ready, "w"):
        pass

if how in ("compress", "cli"):
    real = bale.api.compressing.encode_chunk
    def slow(columns, model, *more):
        out = real(columns, model, *more)
        mark()  # chunks are being written to the temporary file
        time.sleep(0.3)
        return out
    bale.api.compressing.encode_chunk = slow
    if how == "compress":
        bale.compress(data, target, config=cfg, workers=1)
    else:
        with open(ready + ".toml", "w") as f:
            f.write("[model]\nlearned = false\n")
        bale.cli.main(["compress", source, "-o", target, "--chunk-rows", "50", "--no-progress", "-c", ready + ".toml"])
else:
    def slow_write(table, path):
        with open(path, "wb") as f:
            f.write(b"partial" * 10000)
            f.flush()
            mark()
            time.sleep(120)
    bale.io._WRITERS["npz"] = slow_write
    bale.decompress(source, target)
"""


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "sig"),
    [("compress", signal.SIGINT), ("decompress", signal.SIGKILL), ("cli", signal.SIGTERM)],
)
def test_killed_run_leaves_no_partial_output(tmp_path: Path, how: str, sig: signal.Signals) -> None:
    source = tmp_path / "in.bale"
    if how == "cli":
        source = tmp_path / "in.npz"
        np.savez(source, x=np.linspace(0, 1, 2000), i=np.arange(2000))
    else:
        bale.compress({"x": np.linspace(0, 1, 2000), "i": np.arange(2000)}, source, config=FAST, workers=1)
    target = tmp_path / ("out.npz" if how == "decompress" else "out.bale")
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, how, str(target), str(ready), str(source)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(1200):  # the child imports bale, then starts writing
            if ready.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), child.communicate()[0].decode()
        assert child.poll() is None, "the child finished before it was killed"
        assert any(p.name.startswith(f".{target.name}.") for p in tmp_path.iterdir())  # mid-write
        child.send_signal(sig)
        output = child.communicate(timeout=60)[0].decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0, output
    assert not target.exists()
    left = _leftovers(tmp_path, {source.name, ready.name, ready.name + ".toml"})
    if sig == signal.SIGKILL:  # nothing can clean up after a SIGKILL: at most the temporary file beside
        assert all(re.fullmatch(rf"\.{re.escape(target.name)}\..+\.(part|tmp)", name) for name in left), left
    else:
        assert left == [], left
        assert "Traceback" not in output or sig == signal.SIGINT


class FullDisk:
    """A file whose writes fail with ENOSPC after ``room`` bytes, like a full disk."""

    def __init__(self, file: Any, room: int) -> None:
        self._file = file
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@pytest.mark.parametrize("room", [0, 300, 1200, "fsync"])  # preamble, model, chunks, the end
def test_full_disk_while_compressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int | str) -> None:
    real = os.fdopen
    if room == "fsync":

        def no_sync(fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(bale.container.format.os, "fsync", no_sync)
    else:
        monkeypatch.setattr(bale.container.format.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), room))
    target = tmp_path / "out.bale"
    data = {"x": np.linspace(0, 1, 500), "i": np.arange(500)}
    with pytest.raises(OSError, match=r"cannot write .*out\.bale: No space left on device") as info:
        bale.compress(data, target, config=FAST, workers=1)
    assert info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_full_disk_in_the_cli_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.fdopen
    monkeypatch.setattr(bale.container.format.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), 1000))
    np.savez(tmp_path / "in.npz", x=np.linspace(0, 1, 500))
    (tmp_path / "c.toml").write_text("[model]\nlearned = false\n")
    args = ["-o", str(tmp_path / "o.bale"), "--chunk-rows", "50", "--no-progress", "-c", str(tmp_path / "c.toml")]
    result = CliRunner().invoke(main, ["compress", str(tmp_path / "in.npz"), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "o.bale" in lines[0]
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "in.npz"]


@pytest.mark.parametrize("fmt", ["npz", "parquet", "csv"])
def test_full_disk_while_decompressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    source = tmp_path / "in.bale"
    bale.compress({"x": np.linspace(0, 1, 500)}, source, config=FAST, workers=1)
    real = bale.io._WRITERS[fmt]

    def full(table: bale.Table, path: Path) -> None:
        real(table, path)  # the whole file, then the disk is full (as at the close of a buffered write)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setitem(bale.io._WRITERS, fmt, full)
    target = tmp_path / f"out.{fmt}"
    with pytest.raises(OSError, match="No space left on device"):
        bale.decompress(source, target)
    assert sorted(os.listdir(tmp_path)) == ["in.bale"]


def test_full_disk_while_saving_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = bale.train({"x": np.linspace(0, 1, 200)}, config=FAST)

    def no_sync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(OSError, match="No space left on device"):
        bale.save_model(model, tmp_path / "m.safetensors")
    with pytest.raises(OSError, match="No space left on device"):
        write_atomic(tmp_path / "report.json", "{}")
    assert os.listdir(tmp_path) == []


def test_an_existing_target_survives_a_failed_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bale"
    bale.compress({"x": np.linspace(0, 1, 300)}, target, config=FAST, workers=1)
    before = target.read_bytes()
    real = os.fdopen
    monkeypatch.setattr(bale.container.format.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), 700))
    with pytest.raises(OSError):
        bale.compress({"x": np.linspace(0, 2, 300)}, target, config=FAST, workers=1)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.bale"]


def test_every_writer_goes_through_an_atomic_helper() -> None:
    """No file is written in place: write_text/write_bytes/open(..., 'w')/savefig only via bale.fsutil."""
    pattern = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*['\"][wa]b?['\"]|(?<!_pdf)\.savefig\((?!buffer)")
    allowed = {
        "fsutil.py",  # the helpers themselves
        "container/format.py",  # BaleWriter: a temporary file from fsutil.temp_beside, renamed on close
        "io/numpy_format.py",  # table writers are handed the temporary path by io.write_table
        "bench/measure.py",  # /proc/self/clear_refs and a pipe
    }
    found = []
    root = SRC / "bale"
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root))
        if rel in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#", 1)[0]) and "tmp" not in line:
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
