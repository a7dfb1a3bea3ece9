"""JSON read from files, with its size, depth and number of containers checked before parsing.

Every JSON document bale reads from a file (a ``.bale`` header and index, a model's
safetensors header and metadata, a conv model's configuration) goes through :func:`loads`.
Python's parser builds a list or dict of some 60 bytes for every ``[]`` or ``{}`` of the
text and recurses on nesting, so a few megabytes of ``[],[],…`` become gigabytes and a
thousand ``[`` a ``RecursionError``. Before parsing, the text's length is checked against
``max_bytes``, and a scan (outside strings, in C and NumPy) counts the containers and
measures the nesting: more than ``max_containers`` or deeper than :data:`MAX_DEPTH` is a
:class:`~bale.errors.BaleFormatError`, one line.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from bale.errors import BaleFormatError

__all__ = ["MAX_CONTAINERS", "MAX_DEPTH", "MAX_HEADER", "json_shape", "loads", "safetensors_metadata"]

MAX_DEPTH = 64  # bale's own documents nest at most 6 deep
MAX_CONTAINERS = 1 << 22  # lists and objects of one document: 4 M (about 250 MB parsed)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_BLOCK = 1 << 20
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def json_shape(text: bytes) -> tuple[int, int]:
    """``(containers, depth)`` of JSON text: ``[``/``{`` outside strings, and their deepest nesting."""
    bare = np.frombuffer(_STRING.sub(b'""', text), np.uint8)
    steps = _STEP[bare]
    containers = int(np.count_nonzero(steps == 1))
    depth = deepest = 0
    for start in range(0, len(steps), _BLOCK):  # int32 running sums over blocks: memory of one block
        running = np.cumsum(steps[start : start + _BLOCK], dtype=np.int32) + depth
        if len(running):
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
    return containers, deepest


def loads(
    text: bytes | str, what: str, *, max_bytes: int, max_containers: int = MAX_CONTAINERS, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse ``text`` after checking its size, containers and depth; any failure is one-line ``BaleFormatError``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(data) > max_bytes:
        raise BaleFormatError(f"{what} of {len(data)} bytes is more than the {max_bytes} allowed")
    containers, depth = json_shape(data)
    if depth > max_depth:
        raise BaleFormatError(f"{what} nests {depth} deep, more than the {max_depth} allowed")
    if containers > max_containers:
        raise BaleFormatError(f"{what} holds {containers} lists and objects, more than the {max_containers} allowed")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BaleFormatError(f"{what} is not valid JSON: {str(exc)[:200]}") from None


MAX_HEADER = 64 * 2**20  # the JSON header of a model file (safetensors itself allows 100 MB)
_MAX_HEADER_CONTAINERS = 1 << 20


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` strings of safetensors bytes, the header's length prefix checked before it is read."""
    if len(data) < 8:
        raise BaleFormatError("not a valid bale model: too short")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise BaleFormatError(
            "not a valid bale model: no safetensors header (models are safetensors; pickles and torch.save "
            "files are never loaded)"
        )
    if n > MAX_HEADER:
        raise BaleFormatError(f"not a valid bale model: a header of {n} bytes, more than the {MAX_HEADER} allowed")
    header = loads(
        bytes(data[8 : 8 + n]), "model header", max_bytes=MAX_HEADER, max_containers=_MAX_HEADER_CONTAINERS
    )
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        if meta is None and isinstance(header, dict):
            return {}
        raise BaleFormatError("not a valid bale model: bad safetensors metadata")
    return {str(k): v for k, v in meta.items()}
