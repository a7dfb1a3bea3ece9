"""Writing ``.bale`` files (the layout: :mod:`bale.container.layout`), and the container's public names.

Chunks are written as they come and indexed at the end, so compression streams with
memory bounded by one chunk. The header is built by :mod:`bale.container.header` and
checked here before a byte is written: bale never writes a file it would refuse to read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import zstandard

from bale.container.header import DECODED_FLOOR, MAX_RATIO, decoded_bytes, decoded_limit, header_tables, parse_header
from bale.container.index import footer
from bale.container.layout import (
    BASE_VERSION,
    END_MAGIC,
    FLAGS,
    FORMAT_VERSION,
    MAGIC,
    PREAMBLE,
    TRAILER,
    ChunkInfo,
    Source,
    json_bytes,
)
from bale.container.layout import crc as _crc
from bale.container.reader import BaleReader
from bale.container.schema import MEMBER_SECTION, MEMBERS_KIND, Header, TableEntry
from bale.errors import BaleFormatError, BaleInputError
from bale.fsutil import finish_output, temp_beside

__all__ = [
    "DECODED_FLOOR",
    "END_MAGIC",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_RATIO",
    "MEMBERS_KIND",
    "MEMBER_SECTION",
    "BaleReader",
    "BaleWriter",
    "ChunkInfo",
    "Source",
    "decoded_bytes",
    "decoded_limit",
]

log = logging.getLogger(__name__)


class BaleWriter:
    """Writes a ``.bale`` file atomically: to a temporary file, renamed into place on :meth:`close`."""

    def __init__(
        self,
        path: str | os.PathLike[str] | IO[bytes],
        header: Header,
        model: bytes | None,
        version: int = BASE_VERSION,
    ) -> None:
        """Write to ``path`` atomically, or straight into a binary file object (``io.BytesIO``: a codec's chunk).

        ``version``: the format version the chunks need (``BASE_VERSION`` to ``FORMAT_VERSION``).
        """
        if not BASE_VERSION <= version <= FORMAT_VERSION:
            raise ValueError(f"bale writes format versions {BASE_VERSION} to {FORMAT_VERSION}, not {version}")
        self.version = version
        self._tmp: Path | None = None
        self._file: IO[bytes]
        if hasattr(path, "write"):
            self.path = Path("<memory>")
            self._file = path  # type: ignore[assignment]
        else:
            self.path = Path(path)
            directory = self.path.parent if str(self.path.parent) else Path(".")
            if not directory.is_dir():
                raise BaleInputError(f"output directory does not exist: {directory}")
            fd, self._tmp = temp_beside(self.path)
            self._file = os.fdopen(fd, "wb")
        try:
            self._start(header, model)
        except OSError as exc:
            self.abort()
            raise _write_error(self.path, exc) from exc
        except BaseException:
            self.abort()
            raise

    def _start(self, header: Header, model: bytes | None) -> None:
        self._tables = _checked(header)
        header = header.copy()
        if model is not None:
            model = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(model)
            meta = header["model"].copy()
            meta["embedded"], meta["length"], meta["crc32"], meta["encoding"] = True, len(model), _crc(model), "zstd"
            header["model"] = meta
        head = json_bytes(header)
        self._file.write(PREAMBLE.pack(MAGIC, self.version, FLAGS, len(head), _crc(head)))
        self._file.write(head)
        if model is not None:
            self._file.write(model)
        self.header_bytes = PREAMBLE.size + len(head)
        self.chunks: list[ChunkInfo] = []
        self.num_tables = len(self._tables)
        self.table_rows = [0] * self.num_tables

    @property
    def num_rows(self) -> int:
        """Rows of the main table (events)."""
        return self.table_rows[0]

    def write_chunk(self, rows: int, sections: Mapping[str, bytes], *, table: int = 0, step: int | None = None) -> None:
        if not 0 <= table < self.num_tables:
            raise ValueError(f"no table {table} in this file")
        offset = self._file.tell()
        index = []
        try:
            for name, payload in sections.items():
                self._file.write(payload)
                index.append((name, len(payload), _crc(payload)))
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self.chunks.append(ChunkInfo(rows, offset, index, table, len(self.chunks) if step is None else step))
        self.table_rows[table] += rows

    def write_chunk_from_file(self, rows: int, section: str, source: Path, *, table: int, step: int) -> None:
        """A chunk of one section whose bytes are the file ``source`` (a member), copied in blocks."""
        offset = self._file.tell()
        crc, length = 0, 0
        try:
            with open(source, "rb") as f:
                while block := f.read(1 << 20):
                    self._file.write(block)
                    crc = zlib.crc32(block, crc)
                    length += len(block)
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self.chunks.append(ChunkInfo(rows, offset, [(section, length, crc & 0xFFFFFFFF)], table, step))
        self.table_rows[table] += rows

    def close(self, footer_extra: Mapping[str, Any] | None = None) -> int:
        """Write the index, fsync and rename into place; returns the file size."""
        data = json_bytes(footer(self.chunks, self.table_rows, footer_extra))
        try:
            offset = self._file.tell()
            self._file.write(data)
            self._file.write(TRAILER.pack(offset, len(data), _crc(data), END_MAGIC))
            self._file.flush()
            size = self._file.tell()
            if self._tmp is not None:  # a file: on disk before it is renamed into place
                os.fsync(self._file.fileno())
                self._file.close()
                finish_output(self._tmp, self.path)
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self._warn_if_refused(size)
        return size

    def _warn_if_refused(self, size: int) -> None:
        """Readers refuse a file declaring more values than its size justifies: say so when writing one."""
        with contextlib.suppress(KeyError, TypeError, ValueError):
            declared = decoded_bytes(self._tables, self.table_rows)
            if declared > decoded_limit(size):
                log.warning(
                    "%s decodes to %d bytes from %d: more than readers accept by default (%d per byte past %d); "
                    "reading it needs BALE_MAX_RATIO=%d",
                    self.path,
                    declared,
                    size,
                    MAX_RATIO,
                    DECODED_FLOOR,
                    -(-(declared - DECODED_FLOOR) // size),
                )

    def abort(self) -> None:
        """Remove the temporary file: nothing appears under the target's name."""
        if self._tmp is None:  # a caller's file object: theirs to discard
            return
        if not self._file.closed:
            with contextlib.suppress(OSError):  # a full disk fails the flush of the close too
                self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BaleWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


def _write_error(path: Path, exc: OSError) -> OSError:
    """An OSError of the writer, naming the file (``[Errno 28] cannot write x.bale: No space left on device``)."""
    if exc.errno is None or isinstance(exc, FileExistsError):
        return exc
    return OSError(exc.errno, f"cannot write {path}: {exc.strerror}")


def _checked(header: Header) -> list[TableEntry]:
    """The tables of a header about to be written, checked as a reader checks them."""
    try:
        return header_tables(parse_header(header, FORMAT_VERSION))
    except BaleFormatError as exc:
        raise ValueError(f"bale would write a header it cannot read: {exc}") from None
