"""Classical-compressor baselines for a columnar table under a per-column error bound.

The table is a ``dict[str, np.ndarray]`` of 1-D columns.  Float columns may be compressed lossily at a
pointwise relative error ``rel`` (``|x' - x| <= rel * |x|``; ``x == 0`` must come back exactly 0, NaN must
stay NaN, +-inf must stay the same inf); integer and bool columns must come back exactly.

Every method really serialises the whole table into one self-describing blob (a small JSON header with the
column names, dtypes and row count, then a list of length-prefixed streams) and ``bytes`` is ``len(blob)``:
headers, length prefixes, codec frame headers and all side streams (sign bits, zero/non-finite masks,
exception lists) are counted.  The blob is then decoded back into arrays using only the blob, and every value
is checked.

Methods
-------
``zstd-19``                 raw column bytes, zstandard level 19 (lossless).
``blosc2-shuffle-zstd``     blosc2, typesize = itemsize, clevel 9, ZSTD, byte SHUFFLE (lossless).
``blosc2-bitshuffle-zstd``  same with BITSHUFFLE (lossless).
``bitround-<backend>``      numcodecs.BitRound on each float column with the fewest keepbits that meets the
                            bound on every value of that column, then one of the three backends above.
                            ``compress_s`` includes the keepbits search (done once, shared by the three
                            backends; also reported alone as ``keepbits_search_s``).
``sz3-log``                 (if ``pysz`` imports) SZ3 with absolute bound ``log1p(rel) * (1 - 1e-6)`` on
                            ``log|x|`` of the finite non-zero values, default SZ3 algorithm.
``sz3-log-nopred``          the same with SZ3's NOPRED algorithm (no prediction; on rows of an unordered
                            table this is SZ3's smallest setting, so it is the fair best case for SZ3).
``zfp``                     (if ``zfpy`` imports) zfp fixed-accuracy mode, tolerance ``log1p(rel) * 0.999``
                            on ``log|x|``.

For the log-domain methods each float column is stored as: a bit mask of "special" rows (zero, NaN, +-inf;
packbits + zstd-19), those special values verbatim (zstd-19), the signs of the regular values (packbits +
zstd-19), the SZ3/zfp stream of ``log|x|`` (computed in float64, handed to the codec in the column's dtype),
and an exception list (row indices, delta-coded, and raw values, zstd-19) holding every value whose
reconstruction ``sign * exp(L')`` cast back to the column dtype misses the bound (the compressor decodes its
own output to find them, inside the compress timing).  Their integer/bool columns use zstd-19.  For every
other method, integer/bool columns use that method's own lossless backend.

Timing: ``time.perf_counter`` around the whole table, one run.  For fairness everything is single-threaded:
blosc2 is set to 1 thread (``blosc2.set_nthreads(1)`` plus ``nthreads=1`` in the cparams), zstandard's
compressor runs with its default ``threads=0`` (single-threaded), SZ3's OpenMP is left off, and zfpy is
serial.  Verification is not timed.

CLI::

    python benchmarks/classical.py FILE.parquet [--rows N] [--rel 1e-3] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import time
from collections.abc import Callable

import blosc2
import numpy as np
import zstandard
from numcodecs import BitRound

try:  # optional: SZ3 bindings
    from pysz import sz as _sz
    from pysz import szAlgorithm as _szAlgorithm
    from pysz import szConfig as _szConfig
    from pysz import szErrorBoundMode as _szErrorBoundMode

    _HAVE_SZ3 = True
except Exception:
    _HAVE_SZ3 = False

try:  # optional: zfp bindings
    import zfpy as _zfpy

    _HAVE_ZFP = True
except Exception:
    _HAVE_ZFP = False

_MAGIC = b"BLCB1"
_ZSTD_LEVEL = 19
_BLOSC_CLEVEL = 9

Table = dict[str, np.ndarray]


# ----------------------------------------------------------------------------------------------------------
# container: header + length-prefixed streams, all counted in the size
# ----------------------------------------------------------------------------------------------------------


def _pack(columns: Table, streams: list[bytes]) -> bytes:
    n = len(next(iter(columns.values()))) if columns else 0
    header = json.dumps(
        {"n": n, "cols": [[k, v.dtype.str] for k, v in columns.items()]}, separators=(",", ":")
    ).encode()
    parts = [_MAGIC, struct.pack("<II", len(header), len(streams)), header]
    for s in streams:
        if len(s) >= 2**32:
            raise ValueError("stream too large for this container")
        parts.append(struct.pack("<I", len(s)))
        parts.append(s)
    return b"".join(parts)


def _unpack(blob: bytes) -> tuple[int, list[tuple[str, np.dtype]], list[memoryview]]:
    mv = memoryview(blob)
    if bytes(mv[: len(_MAGIC)]) != _MAGIC:
        raise ValueError("bad magic")
    pos = len(_MAGIC)
    hlen, nstreams = struct.unpack_from("<II", mv, pos)
    pos += 8
    header = json.loads(bytes(mv[pos : pos + hlen]))
    pos += hlen
    streams = []
    for _ in range(nstreams):
        (slen,) = struct.unpack_from("<I", mv, pos)
        pos += 4
        streams.append(mv[pos : pos + slen])
        pos += slen
    if pos != len(blob):
        raise ValueError("trailing bytes in blob")
    cols = [(name, np.dtype(dt)) for name, dt in header["cols"]]
    return header["n"], cols, streams


# ----------------------------------------------------------------------------------------------------------
# lossless backends: (encode(array) -> bytes, decode(bytes) -> bytes)
# ----------------------------------------------------------------------------------------------------------


class _Zstd:
    name = "zstd-19"

    def __init__(self) -> None:
        # threads=0 (default): single-threaded compression
        self._c = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        self._d = zstandard.ZstdDecompressor()

    def encode(self, a: np.ndarray) -> bytes:
        return self._c.compress(np.ascontiguousarray(a).tobytes())

    def decode(self, b: memoryview | bytes) -> bytes:
        return self._d.decompress(b)


class _Blosc2:
    def __init__(self, filt: blosc2.Filter, name: str) -> None:
        self._filter = filt
        self.name = name

    def encode(self, a: np.ndarray) -> bytes:
        a = np.ascontiguousarray(a)
        if a.nbytes == 0:
            return b""
        return blosc2.compress2(
            a,
            typesize=a.dtype.itemsize,
            clevel=_BLOSC_CLEVEL,
            codec=blosc2.Codec.ZSTD,
            filters=[self._filter],
            filters_meta=[0],
            nthreads=1,
        )

    def decode(self, b: memoryview | bytes) -> bytes:
        if len(b) == 0:
            return b""
        return blosc2.decompress2(bytes(b), nthreads=1)


def _backends() -> list:
    return [
        _Zstd(),
        _Blosc2(blosc2.Filter.SHUFFLE, "blosc2-shuffle-zstd"),
        _Blosc2(blosc2.Filter.BITSHUFFLE, "blosc2-bitshuffle-zstd"),
    ]


# ----------------------------------------------------------------------------------------------------------
# verification
# ----------------------------------------------------------------------------------------------------------


def _float_errors(x: np.ndarray, y: np.ndarray, rel: float) -> tuple[float, bool]:
    """Max pointwise relative error over finite non-zero x, and whether every value meets the bound."""
    if x.shape != y.shape:
        return math.inf, False
    xd = x.astype(np.float64)
    yd = y.astype(np.float64)
    xnan = np.isnan(xd)
    ok = bool(np.array_equal(xnan, np.isnan(yd)))
    special = ~np.isfinite(xd) & ~xnan  # +-inf must be identical
    ok &= bool(np.array_equal(xd[special], yd[special]))
    zero = xd == 0
    ok &= bool(np.all(yd[zero] == 0))
    reg = np.isfinite(xd) & ~zero
    if reg.any():
        err = np.abs(yd[reg] - xd[reg]) / np.abs(xd[reg])
        if np.isnan(err).any():
            return math.inf, False
        max_err = float(err.max())
        ok &= bool(np.all(np.abs(yd[reg] - xd[reg]) <= rel * np.abs(xd[reg])))
    else:
        max_err = 0.0
    return max_err, ok


def _violations(x: np.ndarray, y: np.ndarray, rel: float) -> np.ndarray:
    """Boolean mask of rows of x (float) whose reconstruction y misses the bound."""
    xd = x.astype(np.float64)
    yd = y.astype(np.float64)
    with np.errstate(invalid="ignore"):
        reg = np.isfinite(xd) & (xd != 0)
        bad = np.zeros(x.shape, dtype=bool)
        bad[reg] = ~(np.abs(yd[reg] - xd[reg]) <= rel * np.abs(xd[reg]))
        bad[np.isnan(xd)] = ~np.isnan(yd[np.isnan(xd)])
        nr = ~reg & ~np.isnan(xd)
        bad[nr] = ~(yd[nr] == xd[nr])
    return bad


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


# ----------------------------------------------------------------------------------------------------------
# methods: each takes the table, returns (blob, extra_info); decoders take the blob and return a table
# ----------------------------------------------------------------------------------------------------------


def _lossless_encode(columns: Table, be) -> bytes:
    return _pack(columns, [be.encode(a) for a in columns.values()])


def _lossless_decode(blob: bytes, be) -> Table:
    n, cols, streams = _unpack(blob)
    out = {}
    for (name, dt), s in zip(cols, streams, strict=True):
        out[name] = np.frombuffer(be.decode(s), dtype=dt, count=n) if n else np.empty(0, dt)
    return out


def _min_keepbits(a: np.ndarray, rel: float) -> int:
    """Fewest BitRound keepbits meeting the bound on every value of a (searched from 0 up)."""
    maxbits = {2: 10, 4: 23, 8: 52}[a.dtype.itemsize]
    for k in range(maxbits + 1):
        r = BitRound(k).decode(BitRound(k).encode(a))
        if not _violations(a, r, rel).any():
            return k
    return maxbits  # identity transform: always exact


def _bitround_encode(columns: Table, be, keepbits: dict[str, int]) -> bytes:
    streams = []
    for name, a in columns.items():
        if name in keepbits:
            a = BitRound(keepbits[name]).decode(BitRound(keepbits[name]).encode(a))
        streams.append(be.encode(a))
    return _pack(columns, streams)


def _sz3_codec(algo: int | None) -> tuple[Callable, Callable]:
    def enc(L: np.ndarray, tol: float) -> bytes:
        cfg = _szConfig(L.shape)
        cfg.errorBoundMode = _szErrorBoundMode.ABS
        cfg.absErrorBound = tol
        if algo is not None:
            cfg.cmprAlgo = algo
        comp, _ = _sz.compress(np.ascontiguousarray(L), cfg)
        return comp.tobytes()

    def dec(b: memoryview | bytes, dtype: np.dtype, m: int) -> np.ndarray:
        out, _ = _sz.decompress(np.frombuffer(b, dtype=np.uint8), dtype, (m,))
        return np.asarray(out).reshape(-1)

    return enc, dec


def _zfp_codec() -> tuple[Callable, Callable]:
    def enc(L: np.ndarray, tol: float) -> bytes:
        return _zfpy.compress_numpy(np.ascontiguousarray(L), tolerance=tol, write_header=True)

    def dec(b: memoryview | bytes, dtype: np.dtype, m: int) -> np.ndarray:
        return np.asarray(_zfpy.decompress_numpy(bytes(b))).reshape(-1).astype(dtype, copy=False)

    return enc, dec


def _log_reconstruct(Ld: np.ndarray, neg: np.ndarray, dtype: np.dtype) -> np.ndarray:
    v = np.exp(Ld.astype(np.float64))
    v[neg] = -v[neg]
    return v.astype(dtype)


def _log_encode(columns: Table, rel: float, tol: float, codec, info: dict) -> bytes:
    enc, dec = codec
    zs = _Zstd()
    streams: list[bytes] = []
    n_exc = 0
    for a in columns.values():
        if not _is_float(a):
            streams.append(zs.encode(a))
            continue
        special = ~np.isfinite(a) | (a == 0)
        reg_vals = a[~special]
        neg = reg_vals < 0
        L = np.log(np.abs(reg_vals.astype(np.float64)))
        cdt = a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        main = enc(L.astype(cdt), tol) if reg_vals.size else b""
        # decode our own output to find values that miss the bound (e.g. after the cast to float32)
        if reg_vals.size:
            y = _log_reconstruct(dec(main, cdt, reg_vals.size), neg, a.dtype)
            bad = _violations(reg_vals, y, rel)
        else:
            bad = np.zeros(0, dtype=bool)
        exc_idx = np.flatnonzero(bad).astype(np.uint64)
        n_exc += exc_idx.size
        deltas = np.diff(exc_idx, prepend=np.uint64(0)) if exc_idx.size else exc_idx
        streams += [
            zs.encode(np.packbits(special)),
            zs.encode(a[special]),
            zs.encode(np.packbits(neg)),
            main,
            zs.encode(deltas),
            zs.encode(reg_vals[bad]),
        ]
    info["exceptions"] = n_exc
    return _pack(columns, streams)


def _log_decode(blob: bytes, codec) -> Table:
    _, dec = codec
    zs = _Zstd()
    n, cols, streams = _unpack(blob)
    it = iter(streams)
    out = {}
    for name, dt in cols:
        if dt.kind != "f":
            out[name] = np.frombuffer(zs.decode(next(it)), dtype=dt, count=n) if n else np.empty(0, dt)
            continue
        s_special, s_vals, s_neg, s_main, s_excidx, s_excval = (next(it) for _ in range(6))
        special = np.unpackbits(np.frombuffer(zs.decode(s_special), np.uint8), count=n).astype(bool)
        m = n - int(special.sum())
        col = np.empty(n, dtype=dt)
        col[special] = np.frombuffer(zs.decode(s_vals), dtype=dt)
        if m:
            neg = np.unpackbits(np.frombuffer(zs.decode(s_neg), np.uint8), count=m).astype(bool)
            cdt = dt if dt in (np.float32, np.float64) else np.dtype(np.float64)
            y = _log_reconstruct(dec(s_main, cdt, m), neg, dt)
            idx = np.cumsum(np.frombuffer(zs.decode(s_excidx), np.uint64))
            y[idx.astype(np.intp)] = np.frombuffer(zs.decode(s_excval), dtype=dt)
            col[~special] = y
        out[name] = col
    return out


# ----------------------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------------------


def _check(columns: Table, decoded: Table, rel: float) -> tuple[float, bool]:
    max_err, ok = 0.0, list(decoded) == list(columns)
    for name, a in columns.items():
        b = decoded.get(name)
        if b is None or b.dtype != a.dtype:
            ok = False
            continue
        if _is_float(a):
            e, o = _float_errors(a, b, rel)
            max_err = max(max_err, e)
            ok &= o
        else:
            ok &= bool(np.array_equal(a, b))
    return max_err, ok


def _run(
    columns: Table, rel: float, encode: Callable[[], bytes], decode: Callable[[bytes], Table], extra_s=0.0
) -> dict:
    t0 = time.perf_counter()
    blob = encode()
    t1 = time.perf_counter()
    decoded = decode(blob)
    t2 = time.perf_counter()
    max_err, ok = _check(columns, decoded, rel)
    return {
        "bytes": len(blob),
        "compress_s": t1 - t0 + extra_s,
        "decompress_s": t2 - t1,
        "max_rel_err": max_err,
        "ok": ok,
    }


def _failed(err: Exception) -> dict:
    return {
        "bytes": None,
        "compress_s": None,
        "decompress_s": None,
        "max_rel_err": None,
        "ok": False,
        "error": f"{type(err).__name__}: {err}",
    }


def classical_sizes(columns: dict[str, np.ndarray], rel: float = 1e-3) -> dict[str, dict]:
    """Compress the whole table with each classical method; sizes, timings and verified errors per method."""
    columns = {k: np.ascontiguousarray(np.asarray(v).reshape(-1)) for k, v in columns.items()}
    lens = {len(v) for v in columns.values()}
    if len(lens) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lens)}")
    for k, v in columns.items():
        if v.dtype.kind not in "fiub":
            raise TypeError(f"column {k!r} has non-numeric dtype {v.dtype}")
        if v.dtype.byteorder == ">":
            columns[k] = v.astype(v.dtype.newbyteorder("="))
    floats = {k: v for k, v in columns.items() if _is_float(v)}

    prev_threads = blosc2.set_nthreads(1)  # single-threaded for a fair comparison
    results: dict[str, dict] = {}
    try:
        # 1-2: lossless
        for be in _backends():
            try:
                results[be.name] = _run(
                    columns,
                    rel,
                    lambda be=be: _lossless_encode(columns, be),
                    lambda b, be=be: _lossless_decode(b, be),
                )
            except Exception as err:
                results[be.name] = _failed(err)

        # 3: BitRound with the fewest keepbits per column, searched once (timed, added to each backend)
        t0 = time.perf_counter()
        try:
            keepbits = {k: _min_keepbits(v, rel) for k, v in floats.items()}
            search_err = None
        except Exception as err:
            keepbits, search_err = {}, err
        search_s = time.perf_counter() - t0
        for be in _backends():
            name = f"bitround-{be.name}"
            try:
                if search_err is not None:
                    raise search_err
                r = _run(
                    columns,
                    rel,
                    lambda be=be: _bitround_encode(columns, be, keepbits),
                    lambda b, be=be: _lossless_decode(b, be),
                    extra_s=search_s,
                )
                r["keepbits"] = keepbits
                r["keepbits_search_s"] = search_s
                results[name] = r
            except Exception as err:
                results[name] = _failed(err)

        # 4-5: log-domain SZ3 / zfp with side streams and exceptions
        log_methods = []
        if _HAVE_SZ3:
            tol_sz = math.log1p(rel) * (1 - 1e-6)
            log_methods.append(("sz3-log", _sz3_codec(None), tol_sz))
            log_methods.append(("sz3-log-nopred", _sz3_codec(_szAlgorithm.NOPRED), tol_sz))
        if _HAVE_ZFP:
            log_methods.append(("zfp", _zfp_codec(), math.log1p(rel) * 0.999))
        for name, codec, tol in log_methods:
            info: dict = {}
            try:
                r = _run(
                    columns,
                    rel,
                    lambda codec=codec, tol=tol, info=info: _log_encode(columns, rel, tol, codec, info),
                    lambda b, codec=codec: _log_decode(b, codec),
                )
                r.update(info)
                results[name] = r
            except Exception as err:
                results[name] = _failed(err)
    finally:
        blosc2.set_nthreads(prev_threads)
    return results


def skipped_methods() -> dict[str, str]:
    """Optional methods that are not run in this environment, with the reason."""
    out = {}
    if not _HAVE_SZ3:
        out["sz3-log"] = "pysz not importable"
    if not _HAVE_ZFP:
        out["zfp"] = "zfpy not importable"
    return out


# ----------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------


def read_parquet_numeric(path: str, rows: int | None = None) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if rows is not None:
        table = table.slice(0, rows)
    out: Table = {}
    for field in table.schema:
        t = field.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            continue
        col = table.column(field.name)
        if col.null_count and not pa.types.is_floating(t):
            print(f"skipping {field.name}: integer/bool column with nulls", file=sys.stderr)
            continue
        out[field.name] = np.ascontiguousarray(col.to_numpy())
    return out


def _fmt_table(res: dict[str, dict], raw: int) -> str:
    def key(item):
        b = item[1]["bytes"]
        return -(raw / b) if b else math.inf

    lines = [
        (
            f"{'method':<32} {'bytes':>11} {'ratio':>7} {'comp MB/s':>10} {'decomp MB/s':>12} "
            f"{'max rel err':>12} {'ok':>5}"
        )
    ]
    for name, r in sorted(res.items(), key=key):
        if r["bytes"] is None:
            lines.append(
                f"{name:<32} {'-':>11} {'-':>7} {'-':>10} {'-':>12} {'-':>12} {'False':>5}  "
                f"{r.get('error', '')}"
            )
            continue
        cs = raw / 1e6 / r["compress_s"] if r["compress_s"] else math.inf
        ds = raw / 1e6 / r["decompress_s"] if r["decompress_s"] else math.inf
        note = f"  exceptions={r['exceptions']}" if "exceptions" in r else ""
        lines.append(
            f"{name:<32} {r['bytes']:>11,} {raw / r['bytes']:>7.3f} {cs:>10.1f} {ds:>12.1f} "
            f"{r['max_rel_err']:>12.3e} {r['ok']!s:>5}{note}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("file", help="Parquet file; all integer, float and bool columns are used")
    ap.add_argument("--rows", type=int, default=None, help="use only the first N rows")
    ap.add_argument("--rel", type=float, default=1e-3, help="pointwise relative error bound for floats")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    columns = read_parquet_numeric(args.file, args.rows)
    if not columns:
        ap.error("no numeric columns")
    raw = sum(v.nbytes for v in columns.values())
    res = classical_sizes(columns, args.rel)
    skipped = skipped_methods()
    n = len(next(iter(columns.values())))
    if args.json:
        print(
            json.dumps(
                {
                    "file": args.file,
                    "rows": n,
                    "rel": args.rel,
                    "raw_bytes": raw,
                    "columns": {k: str(v.dtype) for k, v in columns.items()},
                    "methods": res,
                    "skipped": skipped,
                },
                indent=2,
            )
        )
        return
    nf = sum(_is_float(v) for v in columns.values())
    print(
        f"{args.file}: {n:,} rows, {len(columns)} columns ({nf} float), raw {raw:,} bytes, rel={args.rel:g}"
    )
    print(_fmt_table(res, raw))
    br = next((r for k, r in res.items() if k.startswith("bitround") and "keepbits" in r), None)
    if br:
        print(
            f"bitround keepbits: {br['keepbits']}  (search {br['keepbits_search_s']:.3f} s, in compress time)"
        )
    for k, why in skipped.items():
        print(f"skipped {k}: {why}")


if __name__ == "__main__":
    main()
