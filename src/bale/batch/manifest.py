"""The manifest of a batch run: ``out_dir/bale-manifest.json`` records each finished output, to skip it next time."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from bale._version import __version__
from bale.errors import BaleInputError
from bale.fsutil import atomic_target

log = logging.getLogger(__name__)

#: The manifest's file name inside the output folder.
MANIFEST_NAME = "bale-manifest.json"
MANIFEST_FORMAT = "bale-manifest"
MANIFEST_VERSION = 1
#: Seconds between two writes of the manifest while results arrive (always written at the end).
MANIFEST_INTERVAL = 1.0
_HASH_BLOCK = 1 << 20


def _sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of ``path``, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        raise BaleInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise BaleInputError(f"not a file: {path}") from None
    return digest.hexdigest(), size


class _Manifest:
    """``out_dir/bale-manifest.json``: resolved input path -> the record of its finished output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._written = 0.0
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a bale manifest")
            files = data.get("files")
            if not isinstance(files, dict):
                raise ValueError("no 'files' mapping")
        except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            log.warning("ignoring unreadable manifest %s (%s): every file will be compressed again", path, exc)
            return
        if data.get("version") != MANIFEST_VERSION:
            raise BaleInputError(
                f"{path} has manifest version {data.get('version')!r}; this bale ({__version__}) "
                f"reads version {MANIFEST_VERSION}"
            )
        self.files = {k: v for k, v in files.items() if isinstance(v, dict)}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.files.get(key)

    def record(self, key: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            self._dirty |= self.files.pop(key, None) is not None
        elif self.files.get(key) != entry:
            self.files[key] = entry
            self._dirty = True

    def save(self, *, force: bool = False) -> None:
        """Write atomically if anything changed (at most every :data:`MANIFEST_INTERVAL` s unless forced)."""
        if not self._dirty or (not force and time.monotonic() - self._written < MANIFEST_INTERVAL):
            return
        body = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        with atomic_target(self.path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        self._dirty = False
        self._written = time.monotonic()
