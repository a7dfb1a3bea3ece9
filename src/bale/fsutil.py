"""Atomic file output: temporary files beside the target, with the permissions of a normal file.

Every file bale writes goes to a temporary name in the target's directory and is renamed into
place once complete and synced, so an interrupted or failed run (Ctrl-C, a kill, a full disk)
never leaves a partial file under the target's name; the temporary file is removed on any
error or interruption that Python sees (a SIGKILL can leave a ``.NAME.*.tmp`` / ``.part`` file
beside the target, never a partial target).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bale.errors import BaleInputError

__all__ = ["atomic_target", "temp_beside", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(path: Path) -> tuple[int, Path]:
    """Open a new temporary file in ``path``'s directory; returns its descriptor and path.

    ``mkstemp`` creates files readable by the owner only; the finished output should carry
    the permissions any other new file would (0666 less the umask).
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, Path(tmp)


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success, remove it on error."""
    if not path.parent.is_dir():
        raise BaleInputError(f"no such directory: {path.parent}")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    """Flush a file that a library wrote to disk, before it is renamed into place."""
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_target(Path(path)) as tmp, open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
