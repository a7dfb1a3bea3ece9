"""Fuzz the structure, not only the bytes: well-formed, CRC-valid but hostile ``.bale`` files (issue 16).

Where ``fuzz_container.py`` flips bytes and edits JSON trees at random, this generator builds
files that are *valid* as containers (every length, offset and CRC right) and hostile in what
they declare:

* ``deep_json``: header or index nested 65 to 5,000 deep;
* ``huge_json``: header or index of up to 16 MiB of ``[],`` in a zstd frame of kilobytes;
* ``rows``: chunks declaring up to 2^27 rows (the index's counts kept consistent);
* ``many_chunks``: one chunk repeated up to 5,000 times, each declaring up to 2^27 rows (a valid
  file of real chunks repeated stops at 2^17 rows: its decode time is throughput, not hostility);
* ``many_tables``: up to 20,000 empty collections, each with an empty chunk;
* ``offsets``: chunks overlapping, pointing back, into the header or the index, or at themselves;
* ``grid_shape``: a grid's shape forged (up to 2^27 per axis, 32 axes) or its block shape;
* ``model_shapes``: the embedded model's metadata with absurd sizes (widths, latent sizes,
  exponents, heads, column counts), the safetensors header length forged;
* ``source``: the header's ``source`` record forged (structured and object dtypes, voids,
  narrower members, storage filters, row groups, paths, names), then decompressed to files;
* ``codec_chunk``: a numcodecs chunk (a ``.bale`` file) with its array description forged.

Each input goes through ``bale.info``, ``bale.api.verify``, ``bale.decompress`` in memory and
to a file of one of the formats (Parquet, ``.npz``, ``.npy``, HDF5, CSV, ROOT; the format a
forged ``source`` names, or a random one), or through ``BaleCodec.decode``. Outcomes: success,
or one of bale's own errors (``BaleFormatError``, ``BaleInputError``, ``BaleModelMismatchError``).
Findings: any other exception (a *traceback*), an input over ``--seconds`` (5, plus one per MB of
file and one per 10 MB of values decoded: a large valid file is decoded three times and
written), a peak of resident memory (over what the process held before the input) over 4x the
file size plus 512 MB plus 4x the values decoded, and a *silent decode* (a file written from a forged
record that reads back with other names or values than the decode in memory).

    python benchmarks/fuzz_structure.py --inputs 100000 --seed 1 --jobs 2 --json fuzz-structure.json
    python benchmarks/fuzz_structure.py --seed 1 --replay 1234      # one input, with its traceback
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import random
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import fuzz_container as fz

FORMATS = {"parquet": ".parquet", "npz": ".npz", "npy": ".npy", "hdf5": ".h5", "csv": ".csv", "root": ".root"}
MUTATORS = {
    "deep_json": 8, "huge_json": 5, "rows": 14, "many_chunks": 6, "many_tables": 4, "offsets": 12,
    "grid_shape": 10, "model_shapes": 12, "source": 20, "codec_chunk": 9,
}  # fmt: skip
MiB = 2**20


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _frame(text: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(text)


def _nest(depth: int, rng: random.Random) -> bytes:
    opener, closer = (b"[", b"]") if rng.random() < 0.5 else (b'{"a":', b"}")
    return b'{"chunks":' + opener * depth + b"1" + closer * depth + b"}"


def _big_rows(rng: random.Random) -> int:
    return rng.choice([2**27, 2**26 + 1, 2**20, 10**7, 2**31, 2**40, rng.randrange(1, 2**27)])


def _forged_source(rng: random.Random, names: list[str]) -> tuple[str, dict[str, Any]]:
    a = names[0] if names else "x"
    b64 = base64.b64encode(b"\0" * 8).decode()
    pool: list[tuple[str, dict[str, Any]]] = [
        ("npy", {"format": "npy", "structured": [[a, "<f8"], ["", "|V268435456"]], "columns": [a]}),
        ("npy", {"format": "npy", "structured": [[n, "|O"] for n in names], "columns": names}),
        ("npy", {"format": "npy", "structured": [[n, "<f2"] for n in names], "columns": names}),
        ("npy", {"format": "npy", "members": [{"name": "", "dtype": "|i1", "shape": [len(names)], "columns": names}]}),
        ("npz", {"format": "npz", "members": [{"name": "e", "extra": {"descr": "|O", "shape": [1], "data": b64}}]}),
        ("npz", {"format": "npz", "members": [{"name": "v", "extra": {"descr": "|V999999", "shape": [], "data": ""}}]}),
        ("npz", {"format": "npz", "members": [{"name": a, "dtype": "|u1", "shape": [], "columns": [a]}]}),
        ("npz", {"format": "npz", "members": [{"name": a, "dtype": "<f8", "shape": [2**20], "columns": [a]}]}),
        ("npz", {"format": "npz", "compressed": "yes", "members": "all"}),
        ("hdf5", {"format": "hdf5", "members": [{"name": a, "dtype": "<f8", "shape": [], "columns": [a],
                                                 "storage": {"compression": rng.choice([32001, "szip", "bogus"])}}]}),
        ("hdf5", {"format": "hdf5", "members": [{"name": a, "dtype": "<f8", "shape": [], "columns": [a],
                                                 "storage": {"chunks": [rng.choice([0, 2**40, -1])]}}]}),
        ("hdf5", {"format": "hdf5", "groups": [a], "order": [a, "../up", "a//b"]}),
        ("hdf5", {"format": "hdf5", "attrs": {"/": {"k": {"array": {"descr": "|O", "shape": [], "data": ""}}}}}),
        ("hdf5", {"format": "hdf5", "attrs": {"nowhere": {"k": {"str": 5}}}}),
        ("parquet", {"format": "parquet", "row_group_size": rng.choice([1, 0, -5, "1", 2**70])}),
        ("parquet", {"format": "parquet", "metadata": {"k": [1]}, "field_metadata": {a: "x"}}),
        ("parquet", {"format": "parquet", "compression": rng.choice(["BROTLI", 5, "lzo", None])}),
        ("root", {"format": "root", "tree": rng.choice(["../x", "", "a/b", 5, "x" * 300]), "title": "t"}),
        ("root", {"format": "root", "kind": "rntuple", "synthetic_counters": [1, 2]}),
        ("csv", {"format": "csv", "anything": [[[]]]}),
    ]  # fmt: skip
    return pool[rng.randrange(len(pool))]


def _model_shapes(seed: fz.Seed, rng: random.Random) -> bytes | None:
    """The embedded model's metadata with one size made absurd (its SHA-256, length and CRC fixed by build)."""
    if seed.model is None:
        return None
    n = int.from_bytes(seed.model[:8], "little")
    if rng.random() < 0.2:  # the safetensors header length itself
        return rng.choice([2**40, 2**31, n + 1, 0]).to_bytes(8, "little") + seed.model[8:]
    header = json.loads(seed.model[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    key = next(iter(meta), None)
    if key is None:
        return None
    doc = json.loads(meta[key])
    paths = [p for p in fz._paths(doc) if isinstance(fz._get(doc, p), (int, list))]
    if not paths:
        return None
    path = paths[rng.randrange(len(paths))]
    value = rng.choice([2**31, 2**40, -1, 10**9, 65536, [2**20] * 3, [2**30, 2**30]])
    parent = fz._get(doc, path[:-1])
    parent[path[-1]] = value
    meta[key] = json.dumps(doc)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    return len(body).to_bytes(8, "little") + body + seed.model[8 + n :]


def make_hostile(seed: fz.Seed, rng: random.Random, kind: str) -> tuple[bytes, str | None]:
    """A hostile file of mutator ``kind`` built from ``seed``; and the format to decompress it to."""
    header, footer = _copy(seed.header), _copy(seed.footer)
    names = [c["name"] for t in header.get("tables", []) for c in t.get("schema", [])] or ["x"]
    fmt = rng.choice(sorted(FORMATS))
    if kind == "deep_json":
        text = _nest(rng.choice([65, 100, 999, 1000, 5000]), rng)
        if rng.random() < 0.5:
            return fz.build(seed, head_frame=_frame(text)), fmt
        return fz.build(seed, foot_frame=_frame(text)), fmt
    if kind == "huge_json":
        text = b'{"chunks":[' + b"[]," * rng.choice([10**5, 10**6, 5 * 10**6]) + b'[]],"tables":[]}'
        if rng.random() < 0.5:
            return fz.build(seed, head_frame=_frame(text)), fmt
        return fz.build(seed, foot_frame=_frame(text)), fmt
    if kind == "rows":
        header["chunk_rows"] = 2**27

        def rows(f: dict[str, Any]) -> dict[str, Any]:
            for c in f["chunks"]:
                if rng.random() < 0.7:
                    c["rows"] = _big_rows(rng)
            totals = [0] * max(1, len(f.get("table_rows", [0])))
            for c in f["chunks"]:
                totals[min(c.get("table", 0), len(totals) - 1)] += c["rows"]
            f["table_rows"], f["num_rows"] = totals, totals[0]
            return f

        return fz.build(seed, header=header, footer_edit=rows), fmt
    if kind == "many_chunks":
        count = rng.choice([100, 1000, 5000])
        chunks = seed.chunks[:1] * count
        real = seed.footer["chunks"][0]["rows"] if seed.footer["chunks"] else 1
        rows = rng.choice([2**27, 2**20, real])
        if rows == real:  # a valid file, then: hostile in its count of chunks, not in its size (2^17 rows at most)
            count = max(1, min(count, 2**17 // max(real, 1)))
        header["chunk_rows"] = 2**27
        if not seed.footer["chunks"]:
            return fz.build(seed, header=header), fmt
        footer["chunks"] = [dict(footer["chunks"][0], rows=rows, step=i, table=0) for i in range(count)]
        footer["table_rows"] = [rows * count] + [0] * (len(footer.get("table_rows", [0])) - 1)
        footer["num_rows"] = rows * count
        return fz.build(_with_footer(seed, footer), header=header, chunks=chunks), fmt
    if kind == "many_tables":
        count = rng.choice([1000, 20000])
        if header.get("kind") == "grid":
            return fz.build(seed), fmt
        header["tables"] = header.get("tables", [])[:1] + [
            {"name": f"t{i}", "counter": names[0], "schema": []} for i in range(count)
        ]
        footer["chunks"] = [c for c in footer["chunks"] if c.get("table", 0) == 0] + [
            {"table": i + 1, "step": 0, "rows": 0, "offset": 0, "sections": []} for i in range(count)
        ]
        footer["table_rows"] = [footer["num_rows"]] + [0] * count
        chunks = [seed.chunks[i] for i, c in enumerate(seed.footer["chunks"]) if c.get("table", 0) == 0]
        return fz.build(_with_footer(seed, footer), header=header, chunks=chunks + [[] for _ in range(count)]), fmt
    if kind == "offsets":
        data = fz.build(seed)
        offset = int.from_bytes(data[-24:-16], "little")

        def move(f: dict[str, Any]) -> dict[str, Any]:
            if f["chunks"]:
                c = f["chunks"][rng.randrange(len(f["chunks"]))]
                c["offset"] = rng.choice([0, 8, 20, c["offset"] - 1, c["offset"] + 1, offset, offset - 1, 2**63])
                if rng.random() < 0.3 and len(f["chunks"]) > 1:
                    f["chunks"][1]["offset"] = f["chunks"][0]["offset"]  # two chunks on the same bytes
            return f

        return fz.build(seed, footer_edit=move), fmt
    if kind == "grid_shape":
        grids = [t for t in header.get("tables", []) if t.get("kind") == "grid"]
        if not grids:
            header["kind"] = "grid"  # a table file claiming to be grids
            return fz.build(seed, header=header), fmt
        g = rng.choice(grids)
        g["grid"]["shape"] = rng.choice([[1, 32768, 32768], [2**27] * 3, [2] * 32, [0, 5], [1, 1, 2**27], [3, -1]])
        return fz.build(seed, header=header), fmt
    if kind == "model_shapes":
        model = _model_shapes(seed, rng)
        return (fz.build(seed, model=model) if model is not None else fz.build(seed)), fmt
    if kind == "source":
        fmt, source = _forged_source(rng, names)
        header["source"] = source
        return fz.build(seed, header=header), fmt
    raise ValueError(kind)


def _with_footer(seed: fz.Seed, footer: dict[str, Any]) -> fz.Seed:
    from dataclasses import replace

    return replace(seed, footer=footer)


# --- running an input ------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _setup(workdir: str) -> None:
    logging.disable(logging.CRITICAL)
    import bale.api  # noqa: F401

    folder = Path(tempfile.mkdtemp(dir=workdir))  # each worker process its own
    seed_files = fz.make_seeds(folder)
    _STATE["seeds"] = [fz.parse_seed(n, Path(p).read_bytes(), m) for n, p, m in seed_files]
    _STATE["dir"] = Path(tempfile.mkdtemp(dir=folder))
    _STATE["codec"] = _codec_seed(folder)


def _codec_seed(folder: Path) -> tuple[Any, bytes] | None:
    try:
        from bale.config import BaleConfig
        from bale.numcodecs_codec import BaleCodec
    except ImportError:
        return None
    import bale

    cfg = BaleConfig()
    cfg.model.learned = False
    rng = np.random.default_rng(3)
    model = bale.train({"x": rng.normal(size=300).astype(np.float32), "n": rng.integers(0, 9, 300)}, config=cfg)
    codec = BaleCodec.from_model(model)
    record = np.zeros(400, dtype=[("n", "<i8"), ("x", "<f4")])
    record["x"] = rng.normal(size=400)
    return codec, codec.encode(record)


def _codec_input(rng: random.Random) -> bytes:
    _, chunk = _STATE["codec"]
    seed = fz.parse_seed("codec", chunk, None)
    header = _copy(seed.header)
    d = header["source"]["numcodecs"]
    key = rng.choice(["shape", "dtype", "layout", "columns", "version", "order"])
    d[key] = rng.choice([
        [2**31, 2**31], [-1], [400, 2], "|V268435456", [["x", "<f4"], ["", "|V99999999"]], [["x", "<f4", [2**20]]],
        "|O", "<i1", "diagonal", ["y"], 2, None, [1] * 100 + [400],
    ])  # fmt: skip
    if rng.random() < 0.3:
        return fz.build(seed, header=header, footer_edit=lambda f: _bump_rows(f, rng))
    return fz.build(seed, header=header)


def _bump_rows(footer: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    rows = _big_rows(rng)
    footer["chunks"][0]["rows"] = footer["num_rows"] = rows
    footer["table_rows"] = [rows]
    return footer


def _compare(table: Any, path: Path, fmt: str) -> bool:
    """Whether the file written from ``table`` reads back with its names and values (the silent-decode check)."""
    from bale.io import read_table
    from bale.table import Table

    if not isinstance(table, Table) or not table.columns or fmt == "root":
        return True
    back = read_table(path)
    if back.names != table.names:
        return False
    for name, values in table.columns.items():
        other = back[name]
        if fmt == "csv":
            with np.errstate(invalid="ignore", over="ignore"):
                if not np.array_equal(other.astype(values.dtype), values, equal_nan=values.dtype.kind == "f"):
                    return False
        elif other.dtype != values.dtype or other.tobytes() != values.tobytes():
            return False
    return True


def target(kind: str, data: bytes, fmt: str | None, model: str | None) -> tuple[str, int]:
    """Run bale on one input; returns the outcome and the bytes of values decoded, raises on a traceback."""
    import bale
    from bale.api import verify
    from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError

    folder: Path = _STATE["dir"]
    for old in folder.iterdir():
        old.unlink() if old.is_file() else __import__("shutil").rmtree(old)
    try:
        if kind == "codec_chunk":
            return "ok", _STATE["codec"][0].decode(data).nbytes
        path = folder / "in.bale"
        path.write_bytes(data)
        bale.info(path)
        verify(path, model=model)
        table = bale.decompress(path, model=model, workers=1)
        decoded = _nbytes(table)
        if fmt is not None:
            out = folder / f"out{FORMATS[fmt]}"
            bale.decompress(path, out, model=model, workers=1)
            if not _compare(table, out, fmt):
                return "silent", decoded
    except BaleFormatError:
        return "format_error", 0
    except BaleInputError:
        return "input_error", 0
    except BaleModelMismatchError:
        return "model_mismatch", 0
    return "ok", decoded


def _nbytes(result: Any) -> int:
    """Bytes of values in what ``bale.decompress`` returned (a table, dataset, forest or grids)."""
    if isinstance(result, np.ndarray):
        return int(result.nbytes)
    if isinstance(result, dict):
        return sum(_nbytes(v) for v in result.values())
    for attr in ("columns", "tables", "trees"):
        inner = getattr(result, attr, None)
        if isinstance(inner, dict):
            return sum(_nbytes(v) for v in inner.values())
    return 0


class _PeakMemory:
    """Peak memory of a block of code: the process's peak resident size, reset before (Linux), over
    what it held before; else traced Python and NumPy allocations (tracemalloc, ~8x slower)."""

    def __init__(self) -> None:
        self.peak = 0

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise OSError(key)

    def __enter__(self) -> _PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident size
            self._base = self._status("VmRSS:")
            self._rss = True
        except OSError:
            self._rss = False
            tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rss:
            self.peak = max(0, self._status("VmHWM:") - self._base)
        else:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


def one(seed_value: int, index: int, seconds: float) -> tuple[str, str, float, int, int]:
    """Input ``index``: (mutator, outcome, seconds, peak traced bytes, file bytes); a traceback raises."""
    rng = random.Random(seed_value * 1_000_000_007 + index)
    kinds = [k for k in MUTATORS if k != "codec_chunk" or _STATE["codec"] is not None]
    kind = rng.choices(kinds, [MUTATORS[k] for k in kinds])[0]
    if kind == "codec_chunk":
        data, fmt, model = _codec_input(rng), None, None
    else:
        seed = _STATE["seeds"][rng.randrange(len(_STATE["seeds"]))]
        data, fmt = make_hostile(seed, rng, kind)
        model = seed.model_path
    started = time.perf_counter()
    with _PeakMemory() as memory:
        outcome, decoded = target(kind, data, fmt, model)
    peak = memory.peak
    took = time.perf_counter() - started
    # A *valid* file holding many MB of values (many_chunks repeats real chunks) takes what decoding
    # them three times and writing them takes: 1 s per MB of file and per 10 MB of values, and memory
    # for the decoded table held while the file is written (4x the values, writers' copies included).
    if took > seconds + len(data) / MiB + decoded / (10 * MiB):
        outcome = "slow"
    elif peak > 4 * len(data) + 512 * MiB + 4 * decoded:
        outcome = "memory"
    return kind, outcome, took, peak, len(data)


def run_block(args: tuple[int, int, int, float, str]) -> dict[str, Any]:
    seed_value, start, stop, seconds, workdir = args
    if not _STATE:
        _setup(workdir)
    counts: Counter[str] = Counter()
    findings: list[dict[str, Any]] = []
    slowest, peak_max = 0.0, 0
    for index in range(start, stop):
        try:
            kind, outcome, took, peak, _ = one(seed_value, index, seconds)
        except Exception as exc:  # a traceback: the finding
            kind, outcome, took, peak = "?", "traceback", 0.0, 0
            findings.append({"input": index, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        counts[f"{kind}/{outcome}"] += 1
        slowest, peak_max = max(slowest, took), max(peak_max, peak)
        if outcome in ("slow", "memory", "silent"):
            findings.append({"input": index, "kind": kind, "outcome": outcome, "seconds": took, "peak": peak})
    return {"counts": dict(counts), "findings": findings, "slowest": slowest, "peak": peak_max}


def campaign(
    inputs: int, seed_value: int, jobs: int, seconds: float, block: int = 500, log_path: str | None = None
) -> dict[str, Any]:
    """Run ``inputs`` hostile inputs; a summary of outcomes and findings.

    With ``log_path``, each finished block is appended to it as one JSON line, and blocks already
    there are not run again: an interrupted campaign goes on where it stopped (same seed).
    """
    started = time.perf_counter()
    done: dict[int, dict[str, Any]] = {}
    if log_path and Path(log_path).exists():
        for line in Path(log_path).read_text().splitlines():
            record = json.loads(line)
            if record.get("seed") == seed_value and record.get("block") == block:
                done[record["start"]] = record
    with tempfile.TemporaryDirectory(prefix="bale-fuzz-structure-") as workdir:
        todo = [(seed_value, s, min(s + block, inputs), seconds, workdir) for s in range(0, inputs, block)]
        todo = [b for b in todo if b[1] not in done]
        with contextlib.ExitStack() as stack:  # one job: in this process, as --replay runs
            mapped = stack.enter_context(ProcessPoolExecutor(jobs)).map if jobs > 1 else map
            for args, result in zip(todo, mapped(run_block, todo), strict=True):
                record = {"seed": seed_value, "block": block, "start": args[1], "stop": args[2], **result}
                done[args[1]] = record
                if log_path:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
    results = [r for start, r in sorted(done.items()) if start < inputs]
    counts: Counter[str] = Counter()
    findings: list[dict[str, Any]] = []
    for r in results:
        counts.update(r["counts"])
        findings += r["findings"]
    outcomes: Counter[str] = Counter()
    for key, n in counts.items():
        outcomes[key.split("/")[1]] += n
    return {
        "inputs": sum(min(r["stop"], inputs) - r["start"] for r in results) if log_path else inputs,
        "seed": seed_value,
        "outcomes": dict(sorted(outcomes.items())),
        "per_mutator": dict(sorted(counts.items())),
        "findings": findings,
        "slowest_seconds": round(max((r["slowest"] for r in results), default=0.0), 3),
        "peak_bytes": max((r["peak"] for r in results), default=0),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="an input over this is a finding")
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--log", help="append each finished block here (JSON lines); a rerun skips them")
    parser.add_argument("--replay", type=int, help="run one input, with its traceback")
    args = parser.parse_args(argv)
    if args.replay is not None:
        with tempfile.TemporaryDirectory() as workdir:
            _setup(workdir)
            try:
                print(one(args.seed, args.replay, args.seconds))
            except Exception:
                traceback.print_exc()
                return 1
        return 0
    summary = campaign(args.inputs, args.seed, args.jobs, args.seconds, args.block, args.log)
    text = json.dumps(summary, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("per_mutator", "findings")}, indent=1))
    print(f"findings: {len(summary['findings'])}")
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
