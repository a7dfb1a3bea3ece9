"""Atomic file output: temporary files beside the target, with the permissions of a normal file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["temp_beside"]


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
