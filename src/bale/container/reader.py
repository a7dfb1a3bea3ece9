"""Reading ``.bale`` files: random access to the header, model and chunks, every size and checksum checked.

Every size read from the file is checked against the file's length before anything is
allocated, and every block has a checksum; the header and the chunk index are typed
(:mod:`bale.container.schema`) and checked (:mod:`bale.container.header`,
:mod:`bale.container.index`) on opening.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from bale.container.header import MAX_CHUNK_ROWS, header_tables, parse_footer, parse_header, section_names
from bale.container.index import check_declared, check_index, chunk_infos
from bale.container.layout import (
    END_MAGIC,
    FLAGS,
    FORMAT_VERSION,
    JSON_FLOOR,
    JSON_PER_BYTE,
    MAGIC,
    MAX_JSON,
    MAX_MODEL,
    PREAMBLE,
    TRAILER,
    ChunkInfo,
    Source,
    unzstd,
)
from bale.container.layout import (
    crc as _crc,
)
from bale.container.schema import Footer, Header, TableEntry
from bale.errors import BaleFormatError, BaleInputError
from bale.safejson import loads as safe_loads

__all__ = ["BaleReader"]

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")  # file://, https://, s3://, root:// ...


class BaleReader:
    """Random access to a ``.bale`` file's header, model and chunks, with every size and checksum checked."""

    _owner: BaleReader | None = None  # a member's file (:meth:`member`), kept open while the member is used

    def __init__(
        self, source: Source, *, window: tuple[int, int] | None = None, lock: threading.Lock | None = None
    ) -> None:
        """Open ``source``, or the ``.bale`` file that lies at ``window`` = (offset, length) inside it.

        ``source`` is a path, the file's bytes, a binary file object that can seek (an fsspec
        file, ``io.BytesIO`` ...; it is not closed here), or an fsspec URL (``file://``,
        ``https://``, ``s3://`` ... where fsspec is installed). Only the blocks asked for are
        read: the preamble, header and index on opening, then the model and sections on demand;
        :attr:`bytes_read` counts them.
        """
        self._file, self.path, self._owns = _open_source(source)
        self._lock = lock or threading.Lock()  # one per file: members read through their file's
        self._base = 0
        self.bytes_read = 0
        try:
            total = self._file.seek(0, os.SEEK_END)
            if window is not None:
                if not (window[0] >= 0 and window[1] >= 0 and window[0] + window[1] <= total):
                    raise BaleFormatError(f"{self.path}: a member at {window[0]}+{window[1]} runs past the file")
                self._base = window[0]
            self._open(window[1] if window is not None else total)
        except BaseException:
            self.close()
            raise

    def _open(self, size: int) -> None:
        self.size = size
        if self.size < PREAMBLE.size + TRAILER.size:
            raise BaleFormatError(f"{self.path}: too short to be a .bale file")
        magic, version, flags, head_len, head_crc = PREAMBLE.unpack(self._read(0, PREAMBLE.size))
        if magic != MAGIC:
            raise BaleFormatError(f"{self.path}: not a .bale file (bad magic bytes)")
        if version < 1:
            raise BaleFormatError(f"{self.path}: bad format version {version}")
        if version > FORMAT_VERSION:
            raise BaleFormatError(
                f"{self.path}: format version {version} is newer than this bale reads ({FORMAT_VERSION}); upgrade bale"
            )
        self.version = version
        if flags != FLAGS:
            raise BaleFormatError(f"{self.path}: unknown flags {flags:#x}")
        with self._named():
            self.header: Header = parse_header(self._json(PREAMBLE.size, head_len, head_crc, "header"), version)
        self.header_bytes = PREAMBLE.size + head_len
        model = self.header["model"]
        length = model.get("length", 0) if model.get("embedded") else 0
        if not 0 <= length <= self.size - self.header_bytes - TRAILER.size:
            raise BaleFormatError(f"{self.path}: embedded model of {length!r} bytes does not fit in the file")
        self.model_bytes = length
        offset, length, footer_crc, end = TRAILER.unpack(self._read(self.size - TRAILER.size, TRAILER.size))
        if end != END_MAGIC:
            raise BaleFormatError(f"{self.path}: truncated or unfinished .bale file (no end marker)")
        if offset < self.header_bytes + self.model_bytes or offset + length != self.size - TRAILER.size:
            raise BaleFormatError(f"{self.path}: the chunk index is not where the trailer says")
        self.footer_bytes = length + TRAILER.size
        with self._named():
            self.footer: Footer = parse_footer(self._json(offset, length, footer_crc, "footer"))
            self.tables: list[TableEntry] = header_tables(self.header)
            self._section_names = section_names(self.header, self.tables)
            chunk_rows = self.header.get("chunk_rows", MAX_CHUNK_ROWS)
            if not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
                raise BaleFormatError(f"bad chunk_rows {chunk_rows!r} in the header")
            self.chunk_rows = chunk_rows
            self.chunks = chunk_infos(self.footer)
            self.num_rows = self.footer["num_rows"]
            self.table_rows = self.footer.get("table_rows", [self.num_rows])
            data = (self.header_bytes + self.model_bytes, offset)
            check_index(
                self.chunks, self._section_names, self.table_rows, self.num_rows, data=data, chunk_rows=chunk_rows
            )
            check_declared(self.tables, self.table_rows, self.size)

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        """A BaleFormatError raised inside names the file (once); so does any slip past the checks, in one line."""
        try:
            yield
        except BaleFormatError as exc:
            if str(exc).startswith(str(self.path)):
                raise
            raise BaleFormatError(f"{self.path}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BaleFormatError(f"{self.path}: bad header or chunk index: {exc!r}"[:300]) from None

    def _read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BaleFormatError(f"{self.path}: block at {offset}+{length} runs past the end of the file")
        with self._lock:  # seek and read of one file are not shared between threads
            self._file.seek(self._base + offset)
            data = self._file.read(length)
        if len(data) != length:
            raise BaleFormatError(f"{self.path}: short read")
        self.bytes_read += length
        return bytes(data)

    def _json(self, offset: int, length: int, crc: int, what: str) -> dict[str, Any]:
        if length > MAX_JSON:
            raise BaleFormatError(f"{self.path}: {what} of {length} bytes is implausibly large")
        data = self._read(offset, length)
        if _crc(data) != crc:
            raise BaleFormatError(f"{self.path}: {what} checksum mismatch (file corrupt)")
        limit = min(MAX_JSON, JSON_FLOOR + JSON_PER_BYTE * self.size)  # what a file of this size can justify
        data = unzstd(data, limit, f"{self.path}: {what}")
        obj = safe_loads(data, f"{self.path}: {what}", max_bytes=limit, max_containers=65536 + 2 * self.size)
        if not isinstance(obj, dict):
            raise BaleFormatError(f"{self.path}: {what} is not a JSON object")
        return obj

    def model(self) -> bytes | None:
        meta = self.header["model"]
        if not meta.get("embedded"):
            return None
        data = self._read(self.header_bytes, self.model_bytes)
        if _crc(data) != meta.get("crc32"):
            raise BaleFormatError(f"{self.path}: embedded model checksum mismatch (file corrupt)")
        if meta.get("encoding") != "zstd":
            raise BaleFormatError(f"{self.path}: unknown model encoding {meta.get('encoding')!r}")
        limit = min(MAX_MODEL, 16 * 2**20 + JSON_PER_BYTE * self.size)  # what a file of this size can justify
        return unzstd(data, limit, f"{self.path}: embedded model")

    def chunk(self, index: int, names: Iterable[str] | None = None) -> dict[str, memoryview]:
        """The sections of chunk ``index`` (only those in ``names`` when given), each checked against its CRC-32.

        Wanted sections that lie back to back are read in one request; the others are not read.
        """
        info = self.chunks[index]
        wanted = None if names is None else set(names)
        out: dict[str, memoryview] = {}
        pos = 0
        runs: list[tuple[int, list[tuple[str, int, int, int]]]] = []  # (start, sections) of back-to-back reads
        for name, length, crc in info.sections:
            if wanted is None or name in wanted:
                if runs and runs[-1][1][-1][3] + runs[-1][1][-1][1] == pos:
                    runs[-1][1].append((name, length, crc, pos))
                else:
                    runs.append((pos, [(name, length, crc, pos)]))
            pos += length
        for start, sections in runs:
            end = sections[-1][3] + sections[-1][1]
            data = memoryview(self._read(info.offset + start, end - start))
            for name, length, crc, at in sections:
                part = data[at - start : at - start + length]
                if _crc(part) != crc:
                    first = self.first_row(index)
                    where = f"table {self.tables[info.table]['name']!r}, " if len(self.tables) > 1 else ""
                    raise BaleFormatError(
                        f"{self.path}: chunk {index} ({where}rows {first}-{first + info.rows - 1}), "
                        f"section {name!r}: checksum mismatch (file corrupt)"
                    )
                out[name] = part
        return out

    def window(self, index: int) -> tuple[int, int]:
        """(offset, length) in the underlying file of chunk ``index``'s data: a member's place."""
        info = self.chunks[index]
        return self._base + info.offset, info.length

    def check_streaming(self, index: int) -> None:
        """Check chunk ``index``'s one section against its CRC-32, reading it in blocks (a member may be large)."""
        info = self.chunks[index]
        crc, pos = 0, info.offset
        while pos < info.offset + info.length:
            block = self._read(pos, min(1 << 20, info.offset + info.length - pos))
            crc = zlib.crc32(block, crc)
            pos += len(block)
        if (crc & 0xFFFFFFFF) != info.sections[0][2]:
            raise BaleFormatError(f"{self.path}: member {self.tables[info.table]['name']!r}: checksum mismatch")

    def iter_chunks(self) -> Iterator[tuple[ChunkInfo, dict[str, memoryview]]]:
        for i, info in enumerate(self.chunks):
            yield info, self.chunk(i)

    def first_row(self, index: int) -> int:
        """Row of chunk ``index``'s table where the chunk starts."""
        table = self.chunks[index].table
        return sum(c.rows for c in self.chunks[:index] if c.table == table)

    def member(self, index: int) -> BaleReader:
        """The ``.bale`` file held as chunk ``index`` (a member of a whole ROOT file), read in place."""
        inner = BaleReader(self._file, window=self.window(index), lock=self._lock)
        inner.path = f"{self.path}[{self.tables[self.chunks[index].table]['name']}]"
        inner._owner = self  # the file stays open as long as a member is used
        return inner

    def close(self) -> None:
        if self._owns:
            self._file.close()

    def __enter__(self) -> BaleReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _open_source(source: Source) -> tuple[IO[bytes], Path | str, bool]:
    """(binary file, name for messages, whether closing the reader closes the file) of a source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source), "<bytes>", True
    if isinstance(source, str) and _URL.match(source):
        try:
            import fsspec
        except ImportError:
            raise BaleInputError(f"reading {source} needs fsspec: pip install fsspec") from None
        try:
            return fsspec.open(source, "rb").open(), source, True
        except FileNotFoundError:
            raise BaleInputError(f"no such file: {source}") from None
        except (OSError, ValueError, ImportError) as exc:
            raise BaleInputError(f"cannot open {source}: {exc}") from None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise BaleInputError(f"no such file: {path}")
        return open(path, "rb"), path, True
    if hasattr(source, "read") and hasattr(source, "seek"):
        return source, str(getattr(source, "path", None) or getattr(source, "name", None) or "<file object>"), False
    raise BaleInputError(f"cannot read a .bale file from an object of type {type(source).__name__}")
