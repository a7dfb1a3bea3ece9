"""Whole ROOT files: every tree (TTree, TNtuple, RNTuple) and the objects beside them, in one ``.bale`` file.

A file of one tree and nothing else is coded as that tree's dataset, as it always was. Any
other file becomes a ``.bale`` file of *members* (header ``"kind": "members"``): each tree
is a complete ``.bale`` file of its own (its header, model and chunks) stored as one
section, and the objects uproot can write (histograms, ``TObjString`` …) a small ROOT file
in one more. Every member is read in place, through a window of the outer file, so
decompression streams tree by tree exactly as for a single tree.
"""

from __future__ import annotations

import fnmatch
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import uproot

from bale.api.decoding import _decode_steps, _empty_dataset
from bale.api.inputs import PathLike
from bale.api.inspect import _info_reader, _verify_reader
from bale.api.training import _open_model
from bale.container import MEMBER_SECTION, OBJECTS_MEMBER, TREE_MEMBER, BaleReader, BaleWriter, members_header
from bale.errors import BaleError, BaleFormatError, BaleInputError
from bale.fsutil import atomic_target
from bale.io import detect_format
from bale.io.root_events import tree_paths
from bale.io.root_objects import pack_objects, unpack_objects
from bale.io.root_write import write_tree
from bale.reports import ROOT_FILE_KIND, CompressReport, RootFileInfo, RootFileVerify, TableInfo, TableVerify
from bale.stages import stage
from bale.table import Dataset, Forest

__all__ = ["compress_root_file", "decompress_root_file", "root_file_info", "verify_root_file", "whole_file_trees"]

log = logging.getLogger(__name__)

OBJECTS = "@objects"  # the member holding the file's other objects


def _top_level(f: Any, tree: str) -> list[str]:
    t = f[tree]
    return list(t.keys()) if "RNTuple" in type(t).__name__ else [b.name for b in t.branches]


def whole_file_trees(path: Path, patterns: Iterable[str] | None) -> list[str] | None:
    """The trees to code as members, or None when the file is one tree and nothing else.

    With ``patterns``, a tree none of whose branches match is left out; a pattern that
    matches no branch of any tree is an error.
    """
    if not path.is_file():
        raise BaleInputError(f"no such file: {path}")
    try:
        with uproot.open(path) as f:
            trees = tree_paths(f)
            classes = f.classnames(recursive=True, cycle=False)
            others = [k for k, v in classes.items() if k not in trees and v not in ("TDirectory", "TDirectoryFile")]
            if len(trees) <= 1 and not others:
                return None
            if not trees:
                held = ", ".join(f"{k} ({classes[k]})" for k in others)
                raise BaleInputError(f"no TTree or RNTuple in {path} (it holds {held})")
            chosen = list(trees)
            if patterns:
                patterns = list(patterns)
                names = {t: _top_level(f, t) for t in trees}
                for pattern in patterns:
                    if not any(fnmatch.fnmatchcase(n, pattern) for ns in names.values() for n in ns):
                        raise BaleInputError(f"no branch of any tree matches {pattern!r}")
                chosen = [t for t in trees if any(fnmatch.fnmatchcase(n, p) for n in names[t] for p in patterns)]
    except BaleError:
        raise
    except Exception as exc:
        raise BaleInputError(f"cannot read {path} as ROOT: {exc}") from exc
    return chosen


def compress_root_file(
    path: Path, output: Path, trees: list[str], compress_tree: Callable[[str, Path], CompressReport]
) -> RootFileInfo:
    """Code each tree with ``compress_tree(name, member_path)`` and gather the members and objects in ``output``."""
    with uproot.open(path) as f:
        packed = pack_objects(f)
    directory = output.parent if str(output.parent) else Path(".")
    if not directory.is_dir():
        raise BaleInputError(f"output directory does not exist: {directory}")
    members: list[tuple[str, Path]] = []
    left_out = dict(packed.left_out)
    raw = 0
    with tempfile.TemporaryDirectory(dir=directory, prefix=".bale-members-") as tmp:
        for i, name in enumerate(trees):
            member = Path(tmp) / f"{i}.bale"
            stage("tree %s (%d of %d)", name, i + 1, len(trees))
            try:
                report = compress_tree(name, member)
            except BaleInputError as exc:  # one tree that cannot be coded does not stop the others
                log.warning("tree %s is not kept: %s", name, exc)
                left_out[name] = f"tree: {exc}"
                continue
            raw += int(report["raw_bytes"])
            members.append((name, member))
        if not members:
            reasons = "; ".join(f"{k}: {v}" for k, v in left_out.items())
            raise BaleInputError(f"no tree of {path} can be coded: {reasons}")
        kinds = [(name, TREE_MEMBER) for name, _ in members]
        kinds += [(OBJECTS, OBJECTS_MEMBER)] if packed.data is not None else []
        source = {"format": "root", "objects": packed.copied, "left_out": left_out, "changed": packed.changed}
        header = members_header(kinds, source=source)
        with BaleWriter(output, header, None) as writer:
            for i, (_, member) in enumerate(members):
                writer.write_chunk_from_file(0, MEMBER_SECTION, member, table=i, step=i)
            if packed.data is not None:
                writer.write_chunk(0, {MEMBER_SECTION: packed.data}, table=len(members), step=len(members))
            writer.close({"raw_bytes": raw})
    with BaleReader(output) as reader:
        return root_file_info(reader, output)


def _members(reader: BaleReader) -> list[tuple[str, str, int]]:
    """(name, kind, chunk index) of each member; one chunk each."""
    if len(reader.chunks) != len(reader.tables) or any(c.table != i for i, c in enumerate(reader.chunks)):
        raise BaleFormatError(f"{reader.path}: members and chunks do not match one to one")
    return [(t["name"], t["kind"], i) for i, t in enumerate(reader.tables)]


def _objects_of(reader: BaleReader) -> dict[str, str]:
    objects = (reader.header.get("source") or {}).get("objects") or {}
    if not isinstance(objects, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in objects.items()):
        raise BaleFormatError(f"{reader.path}: bad list of objects in the header")
    return objects


def _left_out(reader: BaleReader, key: str = "left_out") -> dict[str, str]:
    """What the header says was not kept (``left_out``) or not kept whole (``changed``), and why."""
    left = (reader.header.get("source") or {}).get(key) or {}
    return {str(k): str(v) for k, v in left.items()} if isinstance(left, dict) else {}


def decompress_root_file(
    reader: BaleReader, output: PathLike | None, model: Any, format: str | None, progress: bool, workers: int
) -> Forest:
    """Every tree and object of a whole-file ``.bale``; written to ``output`` (ROOT only) when given."""
    fmt = format or (detect_format(output) if output is not None else None)
    if output is not None and fmt != "root":
        raise BaleInputError(f"{reader.path} holds a whole ROOT file: write it as ROOT (.root), not {fmt}")
    objects = _objects_of(reader)
    forest = Forest({}, objects, _left_out(reader))

    def trees(out: Any) -> None:
        for name, kind, index in _members(reader):
            if kind == OBJECTS_MEMBER:
                if out is not None:
                    unpack_objects(bytes(reader.chunk(index)[MEMBER_SECTION]), out, objects)
                continue
            with reader.member(index) as inner:
                coders = _open_model(inner, model)
                pieces = _decode_steps(inner, coders, progress, workers)
                first = next(pieces, None) or _empty_dataset(inner)
                if out is None:
                    forest.trees[name] = Dataset.concat([first, *pieces])
                else:
                    write_tree(out, first, pieces)
                    forest.trees[name] = first.slice(0, 0)

    if output is None:
        trees(None)
        return forest
    with atomic_target(Path(output)) as tmp, uproot.recreate(tmp) as out:
        trees(out)
    if forest.left_out:
        log.warning("not in the file (left out at compress time): %s", ", ".join(forest.left_out))
    log.info("wrote %s (ROOT, %d trees, %d objects)", output, len(forest.trees), len(objects))
    return forest


def root_file_info(reader: BaleReader, path: PathLike) -> RootFileInfo:
    """info() of a whole-file ``.bale``: each tree's own breakdown, the objects, what was left out."""
    trees: dict[str, TableInfo] = {}
    objects_bytes = 0
    for name, kind, index in _members(reader):
        if kind == OBJECTS_MEMBER:
            objects_bytes = reader.chunks[index].length
            continue
        with reader.member(index) as inner:
            trees[name] = _info_reader(inner, path, None)
    raw = int(reader.footer.get("raw_bytes", 0))
    return {
        "file": str(path),
        "format_version": reader.version,
        "created_by": reader.header.get("created_by"),
        "kind": ROOT_FILE_KIND,
        "trees": trees,
        "objects": _objects_of(reader),
        "left_out": _left_out(reader),
        "changed": _left_out(reader, "changed"),
        "raw_bytes": raw,
        "file_bytes": reader.size,
        "bytes": {"objects": objects_bytes, "header": reader.header_bytes, "index": reader.footer_bytes},
        "ratio": round(raw / reader.size, 4) if reader.size else None,
    }


def verify_root_file(reader: BaleReader, path: PathLike, started: float) -> RootFileVerify:
    """verify() of a whole-file ``.bale``: every member's checksum, every tree decoded, the objects read back."""
    trees: dict[str, TableVerify] = {}
    for name, kind, index in _members(reader):
        reader.check_streaming(index)
        if kind == OBJECTS_MEMBER:
            with tempfile.TemporaryFile() as scratch, uproot.recreate(scratch) as out:
                unpack_objects(bytes(reader.chunk(index)[MEMBER_SECTION]), out, _objects_of(reader))
            continue
        with reader.member(index) as inner:
            trees[name] = _verify_reader(inner, path, None, time.perf_counter())
    return {
        "file": str(path),
        "ok": True,
        "format_version": reader.version,
        "kind": ROOT_FILE_KIND,
        "trees": trees,
        "objects": len(_objects_of(reader)),
        "seconds": round(time.perf_counter() - started, 3),
    }
