"""Atomic file output: temporary files beside the target, with the permissions of a normal file.

Every file bale writes goes to a temporary name in the target's directory and is renamed into
place once complete and synced, so an interrupted or failed run (Ctrl-C, a kill, a full disk)
never leaves a partial file under the target's name; the temporary file is removed on any
error or interruption that Python sees (a SIGKILL can leave a ``.NAME.*.tmp`` / ``.part`` file
beside the target, never a partial target).
"""

from __future__ import annotations

import contextvars
import errno
import os
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bale.errors import BaleInputError

__all__ = [
    "atomic_target",
    "finish_output",
    "forbid_overwrite",
    "no_overwrite",
    "refuse_same_file",
    "temp_beside",
    "write_atomic",
    "write_error",
]

_ANY = "*"  # every output, not only named ones
_NO_OVERWRITE: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("bale_no_overwrite", default=frozenset())


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
def no_overwrite(*paths: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, these outputs (every output when none is named) are created, never replaced.

    The CLI runs without ``--force`` under it for its output, so two runs writing one new path
    cannot both succeed: the second one's final link fails (``FileExistsError``) instead of replacing.
    """
    token = _NO_OVERWRITE.set(_NO_OVERWRITE.get() | (_keys(paths) if paths else {_ANY}))
    try:
        yield
    finally:
        _NO_OVERWRITE.reset(token)


def forbid_overwrite(path: str | os.PathLike[str], enabled: bool = True) -> None:
    """:func:`no_overwrite` for ``path``, for the rest of the current context (the CLI runs each command in one)."""
    if enabled:
        _NO_OVERWRITE.set(_NO_OVERWRITE.get() | _keys([path]))


def _keys(paths: Iterable[str | os.PathLike[str]]) -> frozenset[str]:
    return frozenset(os.path.abspath(p) for p in paths)


def _no_replace(path: Path) -> bool:
    names = _NO_OVERWRITE.get()
    return bool(names) and (_ANY in names or os.path.abspath(path) in names)


def finish_output(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` to ``path``, with the permissions of the file it replaces.

    A new file keeps what its creation gave it (0666 less the umask). Inside
    :func:`no_overwrite`, an existing ``path`` is never replaced: the file is hard-linked into
    place, which fails atomically if the name exists (file systems without hard links fall back
    to a check, then a rename).
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    if mode is not None and tmp.is_file():
        os.chmod(tmp, mode)  # a private output stays private
    if not _no_replace(path):
        os.replace(tmp, path)
        return
    if mode is not None or os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, f"{path} exists; pass --force to overwrite it")
    if tmp.is_dir():
        os.rename(tmp, path)  # a directory (zarr store): rename refuses a non-empty target
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        os.replace(tmp, path)  # no hard links here: checked above, not atomic
        return
    tmp.unlink()


def write_error(path: Path, exc: OSError) -> OSError:
    """An ``OSError`` naming ``path`` in one line (``[Errno 28] cannot write x.h5: No space left on device``)."""
    if isinstance(exc, FileExistsError) and str(path) in str(exc):
        return exc
    if exc.errno is not None:
        return OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OSError(f"cannot write {path}: {first[:300]}")


def refuse_same_file(source: object, output: object) -> None:
    """Refuse an output that is the input (same path, or another name of the same file)."""
    if not isinstance(source, (str, os.PathLike)) or not isinstance(output, (str, os.PathLike)):
        return
    src, out = Path(source), Path(output)
    same = src.resolve() == out.resolve()
    if not same and src.exists() and out.exists():
        try:
            same = os.path.samefile(src, out)
        except OSError:
            same = False
    if same:
        raise BaleInputError(f"the output {out} is the input file; choose another output")


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success, remove it on error.

    A disk error while the temporary file is written (a full disk in a library's writer) is
    raised as one line naming ``path``.
    """
    if not path.parent.is_dir():
        raise BaleInputError(f"no such directory: {path.parent}")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        try:
            yield tmp
            _fsync(tmp)
        except OSError as exc:
            if isinstance(exc, FileExistsError) or str(path) in str(exc):
                raise
            raise write_error(path, exc) from exc
        finish_output(tmp, path)
    except BaseException:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
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
