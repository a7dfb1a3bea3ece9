"""Fuzz the ``.bale`` reader: mutated, truncated and forged files must end in a ``BaleFormatError``.

Every input is a seed file (the frozen files of ``tests/data/frozen`` and a few small files
written at start: many chunks, special values, a dataset) changed by one of these mutators:

* ``raw``: bit flips, random bytes, inserted, deleted, duplicated or zeroed ranges, truncation,
  "interesting" integers (0, -1, 2^31, 2^63 ...) written over the file; checksums left as they are.
* ``struct``: the fixed fields of the preamble and the trailer (version, flags, lengths, CRCs,
  footer offset) set to interesting values, with or without the CRCs fixed.
* ``section``: the payload of chunk sections mutated byte-wise (or swapped, emptied, cut), the
  index and every CRC recomputed: the file is *forged*, so the checksums pass and the decoders
  (uint streams, rANS, exact and lossy columns, latents) see the damage.
* ``header``, ``footer``: the JSON header or index edited as a tree (values replaced by huge,
  negative, wrong-typed ones, keys deleted, list items duplicated or dropped), re-compressed,
  CRC fixed.
* ``model``: the embedded safetensors model edited (its bytes, its metadata JSON as a tree, or a
  tensor replaced by one of another dtype or shape), SHA-256, length and CRC in the header fixed.
* ``zstd``: the zstd frames of header, footer or model mutated byte-wise, CRC fixed.

Each input is written to a file and given to ``bale.info`` (header and index) and
``bale.api.verify`` (all checksums and a full decode into memory, chunk by chunk); a file
that passes is also decompressed in memory with ``bale.decompress``. The outcome must be a
success (a forged file can be valid) or a ``BaleFormatError`` (for the seed with an external
model, a forged digest of that model may also give ``BaleModelMismatchError``). Anything else is
a crash: another exception, a worker killed by a signal, a hang (``--timeout`` per input), or an
allocation past ``--memory-gb`` (each worker runs under ``RLIMIT_AS``). Inputs are numbered
and reproducible: input ``i`` of ``--seed s`` is the same on every machine, and ``--replay i``
reruns it with the traceback.

    python benchmarks/fuzz_container.py --inputs 1000000 --jobs 2 --json fuzz.json
    python benchmarks/fuzz_container.py --replay 12345
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

ROOT = Path(__file__).resolve().parents[1]
FROZEN = ROOT / "tests" / "data" / "frozen"
PREAMBLE = struct.Struct("<8sHHII")
TRAILER = struct.Struct("<QII8s")
MUTATORS = {"raw": 25, "struct": 6, "section": 27, "header": 12, "footer": 12, "model": 12, "zstd": 6}
INTERESTING = [0, 1, 2, 7, 8, 15, 16, 127, 128, 255, 256, 2**15, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1]
NASTY_JSON: list[Any] = [
    0, -1, 1, 2, 3, 2**31, 2**32 + 1, 2**63, 2**64 + 5, -(2**63), 10**30, 1.5, -0.0, float("nan"), float("inf"),
    "", "x", "rel=1e-3", "abs=1e-300", "abs=-1", "rel=0", "rel=nan", "exact", "float64", "float16", "int8",
    "uint64", "bool", "<U5", "O", "object", "V8", "S3", "i8", "M8[ns]", "complex128", "learned", "relation",
    "grid", "delta", "zstd", None, True, False, [], {}, [0], [[0, 0, 0]], {"a": 1}, ["x", 1, 2], "\u0000", "é",
]  # fmt: skip


# --- seeds -----------------------------------------------------------------------------------------


@dataclass
class Seed:
    """A valid ``.bale`` file taken apart: every piece that a mutator may change."""

    name: str
    data: bytes
    model_path: str | None  # the external model to decode with
    version: int = 2
    flags: int = 1
    header: dict[str, Any] = field(default_factory=dict)
    model: bytes | None = None  # the embedded safetensors bytes (decompressed)
    chunks: list[list[tuple[str, bytes]]] = field(default_factory=list)
    footer: dict[str, Any] = field(default_factory=dict)


def parse_seed(name: str, data: bytes, model_path: str | None) -> Seed:
    _, version, flags, head_len, _ = PREAMBLE.unpack_from(data, 0)
    unz = zstandard.ZstdDecompressor()
    header = json.loads(unz.decompress(data[PREAMBLE.size : PREAMBLE.size + head_len]))
    pos = PREAMBLE.size + head_len
    model = None
    if header.get("model", {}).get("embedded"):
        length = header["model"]["length"]
        model = unz.decompress(data[pos : pos + length])
    offset, length, _, _ = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    footer = json.loads(unz.decompress(data[offset : offset + length]))
    chunks = []
    for c in footer["chunks"]:
        at = c["offset"]
        parts = []
        for sname, slen, _ in c["sections"]:
            parts.append((sname, data[at : at + slen]))
            at += slen
        chunks.append(parts)
    return Seed(name, data, model_path, version, flags, header, model, chunks, footer)


def _zjson(obj: Any) -> bytes:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(text)


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def build(
    seed: Seed,
    *,
    header: dict[str, Any] | None = None,
    model: bytes | None = None,
    chunks: list[list[tuple[str, bytes]]] | None = None,
    footer_edit: Any = None,
    head_frame: bytes | None = None,
    model_frame: bytes | None = None,
    foot_frame: bytes | None = None,
) -> bytes:
    """Serialize a (changed) seed with a consistent index and every CRC right (a forged file)."""
    header = json.loads(json.dumps(seed.header)) if header is None else header
    model = seed.model if model is None else model
    chunks = seed.chunks if chunks is None else chunks
    if model is not None and model_frame is None:
        model_frame = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(model)
    if model_frame is not None and isinstance(header.get("model"), dict):
        header["model"].update({"length": len(model_frame), "crc32": _crc(model_frame)})
    head = _zjson(header) if head_frame is None else head_frame
    out = bytearray(PREAMBLE.pack(b"\x89BALE\r\n\x1a", seed.version, seed.flags, len(head), _crc(head)))
    out += head
    if model_frame is not None:
        out += model_frame
    footer = json.loads(json.dumps(seed.footer))
    entries = footer["chunks"]
    for entry, parts in zip(entries, chunks, strict=False):
        entry["offset"] = len(out)
        entry["sections"] = [[n, len(p), _crc(p)] for n, p in parts]
        for _, p in parts:
            out += p
    if footer_edit is not None:
        footer = footer_edit(footer)
    foot = _zjson(footer) if foot_frame is None else foot_frame
    offset = len(out)
    out += foot
    out += TRAILER.pack(offset, len(foot), _crc(foot), b"BALE-END")
    return bytes(out)


def make_seeds(workdir: Path) -> list[tuple[str, str, str | None]]:
    """(name, path, external model path) of every seed: the frozen files and small new ones."""
    import bale
    from bale.config import load_config

    seeds: list[tuple[str, str, str | None]] = []
    for path in sorted(FROZEN.glob("*.bale")):
        model = None
        if "external" in path.name:
            model = str(FROZEN / path.name.replace("external", "model").replace(".bale", ".safetensors"))
        seeds.append((path.stem, str(path), model))
    rng = np.random.default_rng(7)
    n = 300
    x = rng.normal(0, 10, n)
    x[::37] = np.nan
    x[5] = np.inf
    x[6] = -0.0
    columns = {
        "i32": rng.integers(-5, 5, n).astype(np.int32),
        "u8": rng.integers(0, 255, n).astype(np.uint8),
        "flag": rng.random(n) < 0.3,
        "x": x,
        "y": (x * 2 + rng.normal(0, 0.1, n)).astype(np.float32),
        "const": np.full(n, 3.25),
        "ramp": np.arange(n, dtype=np.float64) * 0.5,
        "big": rng.integers(0, 2**62, n, dtype=np.int64),
    }
    cfg = load_config(None, {"compress.chunk_rows": 64, "model.learned": False})
    path = workdir / "chunks.bale"
    bale.compress(columns, path, errors={"x": "abs=1e-2", "ramp": "rel=1e-4"}, config=cfg, workers=1)
    seeds.append(("small_chunks", str(path), None))
    path = workdir / "one_row.bale"
    bale.compress({k: v[:1] for k, v in columns.items()}, path, config=cfg, workers=1)
    seeds.append(("one_row", str(path), None))
    path = workdir / "empty.bale"
    bale.compress({k: v[:0] for k, v in columns.items()}, path, config=cfg, workers=1)
    seeds.append(("empty", str(path), None))
    return seeds


# --- mutators --------------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, ops: int | None = None) -> bytes:
    buf = bytearray(data)
    for _ in range(ops or rng.choice((1, 1, 1, 2, 3, 5, 8))):
        n = len(buf)
        op = rng.randrange(10)
        pos = rng.randrange(n) if n else 0
        if op == 0 and n:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8, 33))))
        elif op == 3 and n:
            del buf[pos : pos + rng.choice((1, 2, 4, 16, 100))]
        elif op == 4 and n:
            end = min(n, pos + rng.choice((1, 4, 16, 64, 512)))
            buf[rng.randrange(n) : rng.randrange(n)] = buf[pos:end]
        elif op == 5 and n:
            del buf[rng.randrange(n + 1) :]
        elif op == 6 and n:
            end = min(n, pos + rng.choice((1, 4, 16, 64)))
            buf[pos:end] = bytes(end - pos) if rng.random() < 0.5 else b"\xff" * (end - pos)
        elif op == 7 and n >= 8:
            width = rng.choice((1, 2, 4, 8))
            value = rng.choice(INTERESTING) + rng.choice((-1, 0, 0, 1))
            value %= 1 << (8 * width)
            pos = min(pos, n - width)
            buf[pos : pos + width] = value.to_bytes(width, "little")
        elif op == 8 and n:  # a varint-looking run of continuation bytes
            buf[pos:pos] = b"\x80" * rng.choice((1, 5, 9, 12)) + bytes([rng.randrange(128)])
        elif op == 9:
            buf += bytes(rng.randrange(256) for _ in range(rng.choice((1, 8, 100))))
    return bytes(buf)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _nasty(rng: random.Random) -> Any:
    """A fresh copy of a nasty JSON value (never shared: later mutations must not change the list)."""
    return json.loads(json.dumps(rng.choice(NASTY_JSON)))


def mutate_json(obj: Any, rng: random.Random) -> Any:
    """Change a JSON document in 1-3 places: values, deleted keys, list items duplicated or dropped."""
    obj = json.loads(json.dumps(obj))
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = _paths(obj)
        path = rng.choice(paths[1:] or paths)
        if not path:
            return _nasty(rng)
        parent, key = _get(obj, path[:-1]), path[-1]
        value = parent[key]
        op = rng.randrange(8)
        if op <= 2:
            parent[key] = _nasty(rng)
        elif op == 3 and isinstance(value, int) and not isinstance(value, bool):
            parent[key] = value + rng.choice((-1, 1, -value - 1, value, 2**32, 10**9))
        elif op == 3 and isinstance(value, str):
            parent[key] = value + rng.choice(("", "x", "[1]", "*", "\u00e9")) if rng.random() < 0.5 else value[:-1]
        elif op == 4:
            del parent[key]
        elif op == 5 and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(value)))
        elif op == 6:
            other = _get(obj, rng.choice(paths))
            parent[key] = json.loads(json.dumps(other))
        elif op == 7 and isinstance(value, list) and value:
            rng.shuffle(value)
        else:
            parent[key] = _nasty(rng)
    return obj


def mutate_model(model: bytes, rng: random.Random) -> bytes:
    import safetensors.numpy

    op = rng.randrange(4)
    if op == 0:
        return mutate_bytes(model, rng)
    tensors = safetensors.numpy.load(model)
    n = int.from_bytes(model[:8], "little")
    meta = json.loads(model[8 : 8 + n]).get("__metadata__") or {}
    if op == 1 or not tensors:
        key = rng.choice(sorted(meta))
        meta[key] = json.dumps(mutate_json(json.loads(meta[key]), rng))
    elif op == 2:
        name = rng.choice(sorted(tensors))
        t = tensors[name]
        choice = rng.randrange(6)
        if choice == 0:
            tensors[name] = t.astype(rng.choice((np.float64, np.int8, np.uint8, np.int32, np.float16, np.bool_)))
        elif choice == 1:
            tensors[name] = t.reshape(-1)[: max(0, t.size - 1)]
        elif choice == 2:
            tensors[name] = np.concatenate([t.reshape(-1), t.reshape(-1)])
        elif choice == 3:
            tensors[name] = np.full_like(t, np.iinfo(t.dtype).max if t.dtype.kind in "iu" else np.inf)
        elif choice == 4:
            del tensors[name]
        else:
            tensors[name + "x"] = t
    else:
        name = rng.choice(sorted(tensors))
        t = tensors[name].copy()
        if t.size and t.dtype.kind in "iu":
            flat = t.reshape(-1)
            flat[rng.randrange(t.size)] = rng.choice((0, -1, 1, np.iinfo(t.dtype).max, np.iinfo(t.dtype).min))
        tensors[name] = t
    return bytes(safetensors.numpy.save(tensors, metadata=meta))


def make_input(seed: Seed, rng: random.Random) -> tuple[str, bytes]:
    """One fuzz input from ``seed``: (mutator name, file bytes)."""
    kinds = [k for k in MUTATORS if k != "model" or seed.model is not None]
    kind = rng.choices(kinds, [MUTATORS[k] for k in kinds])[0]
    if kind == "raw":
        return kind, mutate_bytes(seed.data, rng)
    if kind == "struct":
        data = bytearray(seed.data)
        head = list(PREAMBLE.unpack_from(data, 0))
        tail = list(TRAILER.unpack_from(data, len(data) - TRAILER.size))
        if rng.random() < 0.5:
            i = rng.randrange(1, 5)
            head[i] = (rng.choice(INTERESTING) + rng.choice((-1, 0, 1, len(data)))) % (1 << (16 if i < 3 else 32))
            if i == 3 and rng.random() < 0.5:  # a length with its CRC over what it now covers
                start = PREAMBLE.size
                head[4] = _crc(bytes(data[start : start + head[3]]))
            data[: PREAMBLE.size] = PREAMBLE.pack(*head)
        else:
            i = rng.randrange(3)
            limit = 64 if i == 0 else 32
            tail[i] = (rng.choice([*INTERESTING, len(data), len(data) - TRAILER.size]) + rng.choice((-1, 0, 1))) % (
                1 << limit
            )
            if i < 2 and rng.random() < 0.5:
                off, length = tail[0], tail[1]
                tail[2] = _crc(bytes(data[off : off + length]))
            data[-TRAILER.size :] = TRAILER.pack(*tail)
        return kind, bytes(data)
    if kind == "section":
        chunks = [list(parts) for parts in seed.chunks]
        candidates = [(i, j) for i, parts in enumerate(chunks) for j in range(len(parts))]
        if not candidates:
            return kind, mutate_bytes(seed.data, rng)
        for _ in range(rng.choice((1, 1, 1, 2))):
            i, j = rng.choice(candidates)
            name, payload = chunks[i][j]
            op = rng.randrange(10)
            if op < 6:
                payload = mutate_bytes(payload, rng)
            elif op == 6:
                payload = b""
            elif op == 7:
                payload = payload[: rng.randrange(len(payload) + 1)]
            elif op == 8:
                payload = rng.choice(rng.choice(chunks))[1]  # another section's bytes
            else:
                name = rng.choice(rng.choice(chunks))[0]  # the section under another name
            chunks[i][j] = (name, payload)
        return kind, build(seed, chunks=chunks)
    if kind == "header":
        return kind, build(seed, header=mutate_json(seed.header, rng))
    if kind == "footer":
        return kind, build(seed, footer_edit=lambda footer: mutate_json(footer, rng))
    if kind == "model":
        assert seed.model is not None
        model = mutate_model(seed.model, rng)
        header = json.loads(json.dumps(seed.header))
        if rng.random() < 0.9:  # forge the digest too, so the model is read
            header["model"]["sha256"] = hashlib.sha256(model).hexdigest()
        return kind, build(seed, header=header, model=model)
    # zstd frames
    which = rng.randrange(3 if seed.model is not None else 2)
    if which == 0:
        return kind, build(seed, head_frame=mutate_bytes(_zjson(seed.header), rng))
    if which == 1:
        return kind, build(seed, foot_frame=mutate_bytes(_zjson(seed.footer), rng))
    assert seed.model is not None
    frame = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(seed.model)
    return kind, build(seed, model_frame=mutate_bytes(frame, rng))


# --- running ---------------------------------------------------------------------------------------


class Hang(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise Hang("input took longer than the time limit")


def target(path: str, model: str | None) -> str:
    """Run bale on one file: ``ok``, ``format_error``; anything else raises."""
    from bale.api import decompress, info, verify
    from bale.errors import BaleFormatError, BaleModelMismatchError

    try:
        info(path)
        verify(path, model=model)
        decompress(path, model=model, workers=1)  # what verify passed decodes the usual way too
    except BaleFormatError:
        return "format_error"
    except BaleModelMismatchError:
        if model is None:  # an embedded model that does not match is a damaged file: a format error
            raise
        return "model_mismatch"  # the header's digest of the external model was forged
    return "ok"


_STATE: dict[str, Any] = {}


def _init(seed_files: list[tuple[str, str, str | None]], memory_gb: float, timeout: float, shm: str) -> None:
    if memory_gb > 0:
        limit = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import logging

    logging.disable(logging.CRITICAL)
    _STATE["seeds"] = [parse_seed(n, Path(p).read_bytes(), m) for n, p, m in seed_files]
    _STATE["timeout"] = timeout
    _STATE["file"] = os.path.join(shm, f"bale-fuzz-{os.getpid()}.bale")
    _STATE["current"] = os.path.join(shm, f"bale-fuzz-{os.getpid()}.current")
    signal.signal(signal.SIGALRM, _alarm)
    import bale.api  # noqa: F401  (warm: numba's compiled coders load once)


def one(seed_value: int, index: int) -> tuple[str, str, str]:
    """Input ``index``: (seed name, mutator, outcome); a crash raises."""
    rng = random.Random(seed_value * 1_000_000_007 + index)
    seeds = _STATE["seeds"]
    seed = seeds[rng.randrange(len(seeds))]
    kind, data = make_input(seed, rng)
    with open(_STATE["file"], "wb") as f:
        f.write(data)
    signal.setitimer(signal.ITIMER_REAL, _STATE["timeout"])
    try:
        outcome = target(_STATE["file"], seed.model_path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return seed.name, kind, outcome


def run_block(seed_value: int, start: int, stop: int, crash_dir: str | None) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    crashes = []
    started = time.perf_counter()
    for index in range(start, stop):
        with open(_STATE["current"], "w") as f:
            f.write(str(index))
        try:
            _, kind, outcome = one(seed_value, index)
            counts[f"{kind}:{outcome}"] += 1
        except BaseException as exc:  # everything that is not a clean outcome is a finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            what = "hang" if isinstance(exc, Hang) else type(exc).__name__
            counts[f"crash:{what}"] += 1
            tb = traceback.format_exc(limit=12)
            crashes.append({"index": index, "error": f"{what}: {str(exc)[:300]}", "traceback": tb})
            if crash_dir:
                with contextlib.suppress(OSError):
                    Path(crash_dir, f"crash-{index}.bale").write_bytes(Path(_STATE["file"]).read_bytes())
    return {
        "counts": dict(counts),
        "crashes": crashes,
        "seconds": time.perf_counter() - started,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--start", type=int, default=0, help="First input number (to resume a campaign).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--block", type=int, default=2000, help="Inputs per task.")
    parser.add_argument("--timeout", type=float, default=20.0, help="Seconds one input may take.")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="Address-space limit of a worker (0: none).")
    parser.add_argument("--crash-dir", help="Save crashing inputs here.")
    parser.add_argument("--json", help="Write the campaign's numbers here.")
    parser.add_argument("--replay", type=int, help="Run input N in this process and show its outcome or traceback.")
    args = parser.parse_args(argv)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="bale-fuzz-") as work:
        seed_files = make_seeds(Path(work))
        if args.replay is not None:
            _init(seed_files, 0, args.timeout, work)
            rng = random.Random(args.seed * 1_000_000_007 + args.replay)
            seed = _STATE["seeds"][rng.randrange(len(_STATE["seeds"]))]
            kind, data = make_input(seed, rng)
            Path(_STATE["file"]).write_bytes(data)
            print(f"input {args.replay}: seed {seed.name}, mutator {kind}, {len(data)} bytes")
            print(target(_STATE["file"], seed.model_path))
            return 0
        return _campaign(args, seed_files, shm)


def _campaign(args: argparse.Namespace, seed_files: list[tuple[str, str, str | None]], shm: str) -> int:
    if args.crash_dir:
        Path(args.crash_dir).mkdir(parents=True, exist_ok=True)
    blocks = [
        (s, min(s + args.block, args.start + args.inputs))
        for s in range(args.start, args.start + args.inputs, args.block)
    ]
    totals: Counter[str] = Counter()
    crashes: list[dict[str, Any]] = []
    done = 0
    maxrss = 0.0
    started = time.time()
    last = started
    while blocks:
        with ProcessPoolExecutor(
            args.jobs, initializer=_init, initargs=(seed_files, args.memory_gb, args.timeout, shm)
        ) as pool:
            futures: dict[Future[dict[str, Any]], tuple[int, int]] = {}
            try:
                while blocks or futures:
                    while blocks and len(futures) < 2 * args.jobs:
                        b = blocks.pop(0)
                        futures[pool.submit(run_block, args.seed, *b, args.crash_dir)] = b
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        b = futures.pop(fut)
                        result = fut.result()
                        totals.update(result["counts"])
                        crashes += result["crashes"]
                        done += b[1] - b[0]
                        maxrss = max(maxrss, result["maxrss_mb"])
                    if time.time() - last > 30 or not (blocks or futures):
                        last = time.time()
                        rate = done / (last - started)
                        bad = sum(v for k, v in totals.items() if k.startswith("crash"))
                        print(
                            f"{done:>9} inputs  {last - started:7.0f} s  {rate:6.0f}/s  crashes {bad}",
                            flush=True,
                        )
            except BrokenProcessPool:  # a worker died (signal, abort): find its input, go on after it
                died = _dead_inputs(shm)
                for index in died:
                    totals["crash:worker died"] += 1
                    crashes.append({"index": index, "error": "worker process died", "traceback": ""})
                for b in futures.values():
                    lost = [i for i in died if b[0] <= i < b[1]]
                    start = lost[0] + 1 if lost else b[0]
                    if not lost:
                        blocks.insert(0, b)
                    else:
                        done += start - b[0]
                        if start < b[1]:
                            blocks.insert(0, (start, b[1]))
    wall = time.time() - started
    crash_count = sum(v for k, v in totals.items() if k.startswith("crash"))
    outcomes: Counter[str] = Counter()
    mutators: Counter[str] = Counter()
    for k, v in totals.items():
        kind, outcome = k.split(":", 1)
        if kind != "crash":
            outcomes[outcome] += v
            mutators[kind] += v
    summary = {
        "command": "python benchmarks/fuzz_container.py " + " ".join(sys.argv[1:] if argv_is_cli() else []),
        "inputs": done,
        "crashes": crash_count,
        "outcomes": dict(outcomes),
        "by_mutator": {k: v for k, v in sorted(totals.items())},
        "mutators": dict(mutators),
        "wall_seconds": round(wall, 1),
        "jobs": args.jobs,
        "seed": args.seed,
        "start": args.start,
        "seeds": [name for name, _, _ in seed_files],
        "worker_max_rss_mb": round(maxrss, 1),
        "memory_limit_gb": args.memory_gb,
        "timeout_s": args.timeout,
        "first_crashes": crashes[:50],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "first_crashes"}, indent=1))
    kinds = Counter(c["error"].split(":")[0] + " @ " + _where(c["traceback"]) for c in crashes)
    for kind, count in kinds.most_common():
        example = next(c for c in crashes if c["error"].split(":")[0] + " @ " + _where(c["traceback"]) == kind)
        print(f"--- {count} x {kind}, e.g. input {example['index']}: {example['error'][:200]}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 1 if crash_count else 0


def _where(tb: str) -> str:
    """The innermost file and line of a traceback."""
    lines = [line.strip() for line in tb.splitlines() if line.strip().startswith("File ")]
    return lines[-1] if lines else "?"


def argv_is_cli() -> bool:
    return Path(sys.argv[0]).name == Path(__file__).name


def _dead_inputs(shm: str) -> list[int]:
    """The inputs that the workers which died were running."""
    out = []
    for path in Path(shm).glob("bale-fuzz-*.current"):
        pid = int(path.stem.split("-")[-1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(ValueError, OSError):
                out.append(int(path.read_text()))
            path.unlink(missing_ok=True)
            Path(shm, f"bale-fuzz-{pid}.bale").unlink(missing_ok=True)
    return sorted(out)


if __name__ == "__main__":
    sys.exit(main())
