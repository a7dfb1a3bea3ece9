"""The objects of a ROOT file that are not trees: histograms, ``TObjString``, ``TNamed`` …

Those uproot can write are copied into a small ROOT file held in memory (zstd-compressed
inside the ``.bale`` file) and from there into the decompressed file, under the same path
and name; the others are named, each with the reason, in one warning and in ``bale info``.
"""

from __future__ import annotations

import io
import logging
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import uproot
import zstandard
from uproot.writing.identify import to_writable

from bale.errors import BaleFormatError

__all__ = ["PackedObjects", "pack_objects", "unpack_objects"]

log = logging.getLogger(__name__)

_NOT_OBJECTS = {"TDirectory", "TDirectoryFile", "TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple"}
_MAX_UNPACKED = 1 << 30
_UUID = uuid.UUID(int=0)  # of the file and its directories, which only bale reads
_DATIME = (1 << 22) | (1 << 17)  # ROOT's TDatime of 1995-01-01 00:00:00, its earliest
_KEY_DATIME, _KEY_LENGTH = 10, 14  # offsets in a key: fNbytes i4, fVersion i2, fObjlen i4, fDatime u4, fKeylen i2


class _Keep(io.BytesIO):
    """A buffer uproot may close without losing what it wrote."""

    def close(self) -> None:
        pass


@dataclass
class PackedObjects:
    data: bytes | None  # zstd frame of a ROOT file holding the copies; None when nothing was copied
    copied: dict[str, str] = field(default_factory=dict)  # path -> class
    left_out: dict[str, str] = field(default_factory=dict)  # path -> why
    changed: dict[str, str] = field(default_factory=dict)  # path -> what of it was not copied


def pack_objects(f: Any) -> PackedObjects:
    """Every object of the open uproot file ``f`` that is not a tree or directory, copied where uproot can."""
    packed = PackedObjects(None)
    wanted: dict[str, Any] = {}
    for path, classname in f.classnames(recursive=True, cycle=False).items():
        if classname in _NOT_OBJECTS:
            continue
        try:
            obj = f[path]
            try:
                wanted[path] = _writable(obj, classname, path)
            except Exception:
                dropped = _drop_unwritable_functions(obj)  # a stats box uproot cannot write
                if not dropped:
                    raise
                wanted[path] = _writable(obj, classname, path)
                packed.changed[path] = f"copied without its attached {', '.join(dropped)} (uproot cannot write it)"
            packed.copied[path] = classname
        except Exception as exc:
            packed.left_out[path] = f"{classname}: uproot cannot write it ({type(exc).__name__})"
    if wanted:
        buffer = _Keep()
        with uproot.recreate(buffer, uuid_function=_fixed_uuid) as out:
            for path, obj in wanted.items():
                out[path] = obj
        raw = bytearray(buffer.getvalue())
        _fix_clock(raw)  # the same objects give the same bytes on every run
        packed.data = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(bytes(raw))
    for path, what in packed.changed.items():
        log.warning("object %s: %s", path, what)
    if packed.left_out:
        log.warning(
            "%d object(s) of the file are not kept: %s",
            len(packed.left_out), "; ".join(f"{k} ({v})" for k, v in packed.left_out.items()),
        )  # fmt: skip
    return packed


def _fixed_uuid() -> uuid.UUID:
    return _UUID


def _fix_clock(raw: bytearray) -> None:
    """Set every creation and modification time uproot wrote (``datetime.now()``) to ``_DATIME``.

    uproot has no option for the clock, so the times are set where ROOT's layout puts them:
    the ``fDatime`` of every key (the file's, each object's and directory's, the streamers',
    the free segments', each list of keys'), of each key's copy in its directory's list, and
    each directory's ``fDatimeC`` and ``fDatimeM``. ``tests/test_root_files.py`` packs the same
    objects at two different clocks and compares the bytes.
    """
    with uproot.open(io.BytesIO(bytes(raw))) as f:
        seek_free = int(f.file.fSeekFree)
        keys = [int(f.file.fBEGIN), int(f.file.fSeekInfo), seek_free]
        directories = [int(f.file.fBEGIN) + int(f.file.fNbytesName)]  # the top one follows the file's name
        for path in f.keys(recursive=True, cycle=True):
            key = f.key(path)
            keys.append(int(key.fSeekKey))
            if key.fClassName in ("TDirectory", "TDirectoryFile"):
                directories.append(int(key.fSeekKey) + int(key.fKeylen))
    for record in directories:
        (version,) = struct.unpack_from(">h", raw, record)
        struct.pack_into(">II", raw, record + 2, _DATIME, _DATIME)
        big = version > 1000  # 64-bit seeks
        (seek_keys,) = struct.unpack_from(">q" if big else ">i", raw, record + (34 if big else 26))
        keys.append(seek_keys)
        (key_length,) = struct.unpack_from(">h", raw, seek_keys + _KEY_LENGTH)
        (count,) = struct.unpack_from(">i", raw, seek_keys + key_length)
        entry = seek_keys + key_length + 4
        for _ in range(count):  # the list holds a copy of each key's header
            keys.append(entry)
            entry += struct.unpack_from(">h", raw, entry + _KEY_LENGTH)[0]
    for key_start in keys:
        struct.pack_into(">I", raw, key_start + _KEY_DATIME, _DATIME)
    _clear_free_segments(raw, seek_free)


def _clear_free_segments(raw: bytearray, seek_free: int) -> None:
    """Zero the space uproot freed (old copies of the streamers or of a list of keys, with their times)."""
    (size,) = struct.unpack_from(">i", raw, seek_free)
    (key_length,) = struct.unpack_from(">h", raw, seek_free + _KEY_LENGTH)
    entry, stop = seek_free + key_length, seek_free + size
    while entry < stop:  # TFree entries: version i2, first and last byte (i8 past version 1000, else i4)
        (version,) = struct.unpack_from(">h", raw, entry)
        big = version > 1000
        first, last = struct.unpack_from(">qq" if big else ">ii", raw, entry + 2)
        entry += 2 + (16 if big else 8)
        if first < len(raw) and (last < seek_free or first >= seek_free + size):  # never the list itself
            raw[first : min(last + 1, len(raw))] = bytes(min(last + 1, len(raw)) - first)


def _writable(obj: Any, classname: str, path: str) -> Any:
    """The object as uproot writes it, serialized once here so that a failure comes before the copy."""
    writable = to_writable(str(obj) if classname == "TObjString" else obj)  # uproot writes a str as one
    writable.serialize(name=path.rsplit("/", 1)[-1])
    return writable


def _drop_unwritable_functions(obj: Any) -> list[str]:
    """Remove from a histogram's ``fFunctions`` what uproot cannot serialize; the classes removed."""
    try:
        functions = obj.member("fFunctions")
        data, options = list(functions._data), list(functions._options)
    except Exception:
        return []
    keep, dropped = [], []
    for i, item in enumerate(data):
        try:
            item.serialize(name=None)
            keep.append(i)
        except Exception:
            dropped.append(type(item).__name__.removeprefix("Model_").split("_v")[0])
    if dropped:
        functions._data = [data[i] for i in keep]
        functions._options = [options[i] for i in keep]
        functions._members["fSize"] = len(keep)
    return dropped


def unpack_objects(data: bytes, out: Any, names: Mapping[str, str]) -> None:
    """Copy the objects ``names`` (path -> class) from a packed blob into the open writable uproot file ``out``."""
    try:
        declared = zstandard.get_frame_parameters(data).content_size
        if declared > _MAX_UNPACKED:
            raise BaleFormatError(f"the packed objects declare {declared} bytes")
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=_MAX_UNPACKED)
        with uproot.open(io.BytesIO(raw)) as f:
            for name, classname in names.items():
                obj = f[name]
                out[name] = str(obj) if classname == "TObjString" else to_writable(obj)
    except BaleFormatError:
        raise
    except Exception as exc:  # a damaged or forged blob: whatever uproot raised
        raise BaleFormatError(f"the file's other objects cannot be read back: {type(exc).__name__}: {exc}") from None
