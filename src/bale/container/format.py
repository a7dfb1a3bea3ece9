"""Reading and writing ``.bale`` files.

Layout (all integers little-endian)::

    MAGIC (8 bytes) | u16 version | u16 flags | u32 header length | u32 header CRC-32
    header: UTF-8 JSON in a zstd frame (tables and their schemas, bounds, model reference, source metadata)
    model: safetensors bytes in a zstd frame, when embedded (length, CRC-32, SHA-256 in the header)
    chunk 0 | chunk 1 | ...      each chunk: its sections' bytes, back to back
    footer: UTF-8 JSON index in a zstd frame (per chunk: table, step, rows, offset, [name, length, CRC-32]
            per section)
    u64 footer offset | u32 footer length | u32 footer CRC-32 | END_MAGIC (8 bytes)

A file holds one or more tables (a dataset: a main table and collections of objects per
event, see :class:`bale.table.Dataset`); each chunk belongs to one table, and the chunks
of one *step* cover the same events in every table. Version 1 files hold one table.

Chunks are written as they come and indexed at the end, so compression streams with
memory bounded by one chunk; every size read from the file is checked against the
file's length before anything is allocated, and every block has a checksum.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from bale.codec import LATENT_SECTION
from bale.container.header import (
    DECODED_FLOOR,
    MAX_CHUNK_ROWS,
    MAX_RATIO,
    decoded_bytes,
    decoded_limit,
    grid_tables,
    holds_fields,
    tables,
)
from bale.errors import BaleFormatError, BaleInputError
from bale.fsutil import finish_output, temp_beside
from bale.safejson import loads as safe_loads

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

MAGIC = b"\x89BALE\r\n\x1a"
END_MAGIC = b"BALE-END"
FORMAT_VERSION = 2  # 2: rANS token streams (bale.codec.rans); 1: constriction ANS, still read
log = logging.getLogger(__name__)
_PREAMBLE = struct.Struct("<8sHHII")
_TRAILER = struct.Struct("<QII8s")
_MAX_JSON = 64 * 2**20
_JSON_FLOOR = 2**20  # JSON text any file may hold; past it, at most _JSON_PER_BYTE bytes per byte of the file
_JSON_PER_BYTE = 64
_MAX_MODEL = 2**30
MEMBERS_KIND = "members"  # a file of member files: a ROOT file's trees and other objects
MEMBER_SECTION = "member"
MEMBER_KINDS = ("tree", "objects")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")  # file://, https://, s3://, root:// ...
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
_FLAGS = 1  # bit 0: header, footer and embedded model are zstd frames


def _crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _json_bytes(obj: Any) -> bytes:
    """Compact JSON, zstd-compressed: wide tables repeat names in the header, index and model."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(text)


def _unzstd(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a zstd frame whose declared size is checked against ``limit`` first."""
    try:
        declared = zstandard.get_frame_parameters(data).content_size
        if declared > limit:
            raise BaleFormatError(f"{what} declares {declared} bytes, more than the {limit} allowed")
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise BaleFormatError(f"{what} is not a valid zstd frame: {exc}") from None


@dataclass
class ChunkInfo:
    rows: int
    offset: int
    sections: list[tuple[str, int, int]]  # name, length, crc32
    table: int = 0  # index into the header's tables
    step: int = 0  # chunks of one step hold the same events of every table

    @property
    def length(self) -> int:
        return sum(length for _, length, _ in self.sections)


class BaleWriter:
    """Writes a ``.bale`` file atomically: to a temporary file, renamed into place on :meth:`close`."""

    def __init__(
        self, path: str | os.PathLike[str] | IO[bytes], header: Mapping[str, Any], model: bytes | None
    ) -> None:
        """Write to ``path`` atomically, or straight into a binary file object (``io.BytesIO``: a codec's chunk)."""
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

    def _start(self, header: Mapping[str, Any], model: bytes | None) -> None:
        header = dict(header)
        if model is not None:
            model = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(model)
            header["model"] = {
                **header.get("model", {}),
                "embedded": True,
                "length": len(model),
                "crc32": _crc(model),
                "encoding": "zstd",
            }
        head = _json_bytes(header)
        self._file.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, _FLAGS, len(head), _crc(head)))
        self._file.write(head)
        if model is not None:
            self._file.write(model)
        self.header_bytes = _PREAMBLE.size + len(head)
        self.chunks: list[ChunkInfo] = []
        self.num_tables = len(header.get("tables", [None]))
        self._tables = list(header.get("tables") or [])
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
        footer = {
            "num_rows": self.num_rows,
            "table_rows": self.table_rows,
            **(footer_extra or {}),
            "chunks": [
                {"table": c.table, "step": c.step, "rows": c.rows, "offset": c.offset, "sections": c.sections}
                for c in self.chunks
            ],
        }
        data = _json_bytes(footer)
        try:
            offset = self._file.tell()
            self._file.write(data)
            self._file.write(_TRAILER.pack(offset, len(data), _crc(data), END_MAGIC))
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
                    self.path, declared, size, MAX_RATIO, DECODED_FLOOR, -(-(declared - DECODED_FLOOR) // size),
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
        if self.size < _PREAMBLE.size + _TRAILER.size:
            raise BaleFormatError(f"{self.path}: too short to be a .bale file")
        magic, version, flags, head_len, head_crc = _PREAMBLE.unpack(self._read(0, _PREAMBLE.size))
        if magic != MAGIC:
            raise BaleFormatError(f"{self.path}: not a .bale file (bad magic bytes)")
        if version < 1:
            raise BaleFormatError(f"{self.path}: bad format version {version}")
        if version > FORMAT_VERSION:
            raise BaleFormatError(
                f"{self.path}: format version {version} is newer than this bale reads ({FORMAT_VERSION}); upgrade bale"
            )
        self.version = version
        if flags != _FLAGS:
            raise BaleFormatError(f"{self.path}: unknown flags {flags:#x}")
        self.header = self._json(_PREAMBLE.size, head_len, head_crc, "header")
        self.header_bytes = _PREAMBLE.size + head_len
        model = self.header.get("model")
        if not isinstance(model, dict) or not isinstance(model.get("embedded", False), bool):
            raise BaleFormatError(f"{self.path}: the header does not describe the model")
        length = model.get("length", 0) if model.get("embedded") else 0
        if not isinstance(length, int) or not 0 <= length <= self.size - self.header_bytes - _TRAILER.size:
            raise BaleFormatError(f"{self.path}: embedded model of {length!r} bytes does not fit in the file")
        self.model_bytes = length
        offset, length, crc, end = _TRAILER.unpack(self._read(self.size - _TRAILER.size, _TRAILER.size))
        if end != END_MAGIC:
            raise BaleFormatError(f"{self.path}: truncated or unfinished .bale file (no end marker)")
        if offset < self.header_bytes + self.model_bytes or offset + length != self.size - _TRAILER.size:
            raise BaleFormatError(f"{self.path}: the chunk index is not where the trailer says")
        self.footer_bytes = length + _TRAILER.size
        self.footer = self._json(offset, length, crc, "footer")
        try:
            if holds_fields(self.header):  # one table and one section ("grid") per grid: docs/grids.md
                self.tables = grid_tables(self.header)
                self._section_names = [{"grid"} for _ in self.tables]
            elif self.header.get("kind") == MEMBERS_KIND:  # a whole ROOT file: one member per tree (docs/root.md)
                self.tables = _member_tables(self.header)
                self._section_names = [{MEMBER_SECTION} for _ in self.tables]
            else:
                self.tables = tables(self.header)
                self._section_names = [{c["name"] for c in t["schema"]} | {LATENT_SECTION} for t in self.tables]
            chunk_rows = self.header.get("chunk_rows", MAX_CHUNK_ROWS)
            if not isinstance(chunk_rows, int) or not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
                raise BaleFormatError(f"{self.path}: bad chunk_rows {chunk_rows!r} in the header")
            self.chunk_rows = chunk_rows
            if not isinstance(self.header.get("source", {}), dict):
                raise BaleFormatError(f"{self.path}: bad source description in the header")
            self.chunks = [
                ChunkInfo(
                    int(c["rows"]),
                    int(c["offset"]),
                    [(str(n), int(ln), int(cr)) for n, ln, cr in c["sections"]],
                    int(c.get("table", 0)),
                    int(c.get("step", i)),
                )
                for i, c in enumerate(self.footer["chunks"])
            ]
            self.num_rows = int(self.footer["num_rows"])
            self.table_rows = [int(r) for r in self.footer.get("table_rows", [self.num_rows])]
            int(self.footer.get("raw_bytes", self.header.get("raw_bytes", 0)))
        except BaleFormatError as exc:
            if str(exc).startswith(str(self.path)):
                raise
            raise BaleFormatError(f"{self.path}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BaleFormatError(f"{self.path}: bad header or chunk index: {exc!r}") from None
        data_start = self.header_bytes + self.model_bytes
        if len(self.table_rows) != len(self.tables) or (self.table_rows and self.table_rows[0] != self.num_rows):
            raise BaleFormatError(f"{self.path}: row counts do not match the tables")
        steps = [c.step for c in self.chunks]
        if steps != sorted(steps):
            raise BaleFormatError(f"{self.path}: chunks are out of step order")
        end = data_start
        columns_of = [names - {LATENT_SECTION} for names in self._section_names]  # once per table, not per chunk
        for i, c in enumerate(self.chunks):
            length = c.length
            if c.rows < 0 or c.offset < data_start or c.offset + length > offset or length < 0:
                raise BaleFormatError(f"{self.path}: chunk {i} lies outside the data area")
            if not 0 <= c.table < len(self.tables):
                raise BaleFormatError(f"{self.path}: chunk {i} belongs to no table")
            if c.offset != end or any(length < 0 for _, length, _ in c.sections):
                raise BaleFormatError(f"{self.path}: chunk {i} does not follow the one before it")
            end = c.offset + length
            if c.rows > self.chunk_rows and (c.table == 0 or c.rows > MAX_CHUNK_ROWS):
                raise BaleFormatError(f"{self.path}: chunk {i} declares {c.rows} rows, more than a chunk holds")
            names = [name for name, _, _ in c.sections]
            columns, unique = columns_of[c.table], set(names)
            if len(unique) != len(names) or not columns <= unique <= columns | {LATENT_SECTION}:
                raise BaleFormatError(f"{self.path}: chunk {i} does not hold one section per column of its table")
            if any(length < 1 for _, length, _ in c.sections):  # every coding starts with at least a byte
                raise BaleFormatError(f"{self.path}: chunk {i} has an empty section")
        if end != offset:
            raise BaleFormatError(f"{self.path}: the chunks do not fill the data area")
        sums = [0] * len(self.tables)  # one pass: K tables and K chunks are not K^2 steps
        for c in self.chunks:
            sums[c.table] += c.rows
        for t, rows in enumerate(self.table_rows):
            if rows < 0 or sums[t] != rows:
                raise BaleFormatError(f"{self.path}: chunk rows do not add up to the row count of table {t}")
        declared, limit = decoded_bytes(self.tables, self.table_rows), decoded_limit(self.size)
        if declared > limit:
            raise BaleFormatError(
                f"{self.path}: declares {declared} bytes of values in a file of {self.size} bytes, more than the "
                f"{limit} allowed (a decompression bomb?); set BALE_MAX_RATIO above {MAX_RATIO} to read it anyway"
            )

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
        if length > _MAX_JSON:
            raise BaleFormatError(f"{self.path}: {what} of {length} bytes is implausibly large")
        data = self._read(offset, length)
        if _crc(data) != crc:
            raise BaleFormatError(f"{self.path}: {what} checksum mismatch (file corrupt)")
        limit = min(_MAX_JSON, _JSON_FLOOR + _JSON_PER_BYTE * self.size)  # what a file of this size can justify
        data = _unzstd(data, limit, f"{self.path}: {what}")
        obj = safe_loads(data, f"{self.path}: {what}", max_bytes=limit, max_containers=65536 + 2 * self.size)
        if not isinstance(obj, dict):
            raise BaleFormatError(f"{self.path}: {what} is not a JSON object")
        return obj

    def model(self) -> bytes | None:
        meta = self.header.get("model", {})
        if not meta.get("embedded"):
            return None
        data = self._read(self.header_bytes, self.model_bytes)
        if _crc(data) != meta.get("crc32"):
            raise BaleFormatError(f"{self.path}: embedded model checksum mismatch (file corrupt)")
        if meta.get("encoding") != "zstd":
            raise BaleFormatError(f"{self.path}: unknown model encoding {meta.get('encoding')!r}")
        limit = min(_MAX_MODEL, 16 * 2**20 + _JSON_PER_BYTE * self.size)  # what a file of this size can justify
        return _unzstd(data, limit, f"{self.path}: embedded model")

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


def _member_tables(header: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The members of a whole-file ``.bale``: each a ``.bale`` file of one tree, or the file's other objects."""
    tables = header.get("tables")
    if not isinstance(tables, list) or not tables:
        raise BaleFormatError("the header lists no members")
    seen: set[str] = set()
    for t in tables:
        if (
            not isinstance(t, dict)
            or t.get("kind") not in MEMBER_KINDS
            or t.get("schema") != []
            or not isinstance(t.get("name"), str)
            or not t["name"]
            or t["name"] in seen
        ):
            raise BaleFormatError(f"bad member in the header: {str(t)[:80]}")
        seen.add(t["name"])
    return [dict(t) for t in tables]
