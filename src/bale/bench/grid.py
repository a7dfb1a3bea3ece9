"""``bale bench --grid``: bale's grid codec against SZ3, ZFP, fpzip and zstd on whole 3-D arrays.

Every method sees each grid as one (frames, H, W) array (leading axes merged, as bale does)
and the same absolute bound (``range=X`` resolved to ``abs = X·(max − min)`` of the grid).
SZ3 runs in ABS mode with each of its algorithms (its default interpolation + Lorenzo,
interpolation alone, Lorenzo + regression), ZFP in fixed-accuracy mode with tolerance
``abs``, fpzip at the fewest precision bits that meet the bound (bisection, then checked).
Non-finite values are replaced by 0 for the libraries that cannot take them. Every decoded
value is checked with :func:`bale.bounds.violations` (NaN, ±inf and ±0 bit-exact); for the
other methods, values that miss are stored in an exception list (index gaps and raw values,
zstd-19) whose bytes count, so every method meets the bound exactly like bale. bale's own
misses are not patched: any is reported as a violation (a bug).

bale's size is its whole ``.bale`` file (header, index and any model included), written and
read back through the file API. Timing is one ``perf_counter`` around compress and one around
decompress (bale's include writing and reading its file), single-threaded, in this process
(no fork isolation here); MB/s = raw bytes / 10⁶ / seconds. The conv
autoencoder's training time is reported apart and its model embedded (its bytes counted).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from bale.bench.methods.base import missing_modules
from bale.bench.results import FIELD, GRID_FORMAT, GridBenchResults, GridRow, GridSetting
from bale.bounds import Bound, violations
from bale.config import BaleConfig
from bale.errors import BaleInputError
from bale.grid.codec import as_3d, parse_grid_bound
from bale.grid.files import read_grids

__all__ = ["GRID_METHODS", "GridMethod", "grid_markdown", "run_grid_bench"]

log = logging.getLogger(__name__)

Payload = Any


@dataclass(frozen=True)
class GridMethod:
    name: str
    family: str
    description: str
    compress: Callable[[np.ndarray, Bound, BaleConfig, Any], tuple[bytes | int, Payload]]  # (bytes or size, payload)
    decompress: Callable[[Payload, np.ndarray], np.ndarray]  # payload, a template of shape and dtype
    requires: tuple[str, ...] = ()
    prepare: Callable[[np.ndarray, Bound, BaleConfig], Any] | None = None
    patched: bool = True  # misses go to an exception list (the other libraries), or count as violations (bale)


# -- bale ---------------------------------------------------------------------------------------------------


def _bale(predictor: str) -> tuple[Callable[..., tuple[int, Payload]], Callable[[Payload, np.ndarray], np.ndarray]]:
    """bale through its file: the size is the whole ``.bale`` file (header, model, index included)."""

    def compress(a: np.ndarray, bound: Bound, cfg: BaleConfig, state: Any) -> tuple[int, Payload]:
        from bale.grid.api import compress_grid

        tmp = tempfile.mkdtemp(prefix="bale-grid-bench-")
        path = Path(tmp) / "grid.bale"
        run_cfg = cfg.model_copy(deep=True)
        run_cfg.grid.predictor = predictor  # type: ignore[assignment]
        report = compress_grid({"data": a}, path, error=f"abs={bound.value!r}", model=state, config=run_cfg,
                               embed_model=True)  # fmt: skip
        return int(report["file_bytes"]), (path, report["grids"]["data"])

    def decompress(payload: Payload, template: np.ndarray) -> np.ndarray:
        from bale.grid.api import decompress_grid

        path, _ = payload
        try:
            return decompress_grid(path)["data"]
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)

    return compress, decompress


def _train_conv(a: np.ndarray, bound: Bound, cfg: BaleConfig) -> Any:
    from bale.training.conv import train_conv

    g = cfg.grid
    model, _ = train_conv(
        [a], tile=g.tile, latent_dim=g.latent_dim, channels=g.channels, latent_bits=g.latent_bits,
        epochs=g.epochs, max_tiles=g.max_tiles, seed=cfg.train.seed, threads=cfg.train.threads,
    )  # fmt: skip
    return model


# -- other libraries ----------------------------------------------------------------------------------------


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, 0).astype(a.dtype)


def _sz3(
    algorithm: str | None,
) -> tuple[Callable[..., tuple[bytes, Payload]], Callable[[Payload, np.ndarray], np.ndarray]]:
    def compress(a: np.ndarray, bound: Bound, cfg: BaleConfig, state: Any) -> tuple[bytes, Payload]:
        from pysz import sz, szAlgorithm, szConfig, szErrorBoundMode

        conf = szConfig(a.shape)
        conf.errorBoundMode = szErrorBoundMode.ABS
        conf.absErrorBound = bound.value
        if algorithm is not None:
            conf.cmprAlgo = getattr(szAlgorithm, algorithm)
        data, _ = sz.compress(np.ascontiguousarray(_finite(a)), conf)
        blob = bytes(np.asarray(data).tobytes())
        return blob, blob

    def decompress(payload: Payload, template: np.ndarray) -> np.ndarray:
        from pysz import sz

        out, _ = sz.decompress(np.frombuffer(payload, dtype=np.uint8), template.dtype, template.shape)
        return np.asarray(out).reshape(template.shape)

    return compress, decompress


def _zfp_compress(a: np.ndarray, bound: Bound, cfg: BaleConfig, state: Any) -> tuple[bytes, Payload]:
    import zfpy

    blob = bytes(zfpy.compress_numpy(np.ascontiguousarray(_finite(a)), tolerance=bound.value, write_header=True))
    return blob, blob


def _zfp_decompress(payload: Payload, template: np.ndarray) -> np.ndarray:
    import zfpy

    return np.asarray(zfpy.decompress_numpy(payload)).reshape(template.shape).astype(template.dtype, copy=False)


def _fpzip_roundtrip(a: np.ndarray, precision: int) -> tuple[bytes, np.ndarray]:
    import fpzip

    width = 8 * a.itemsize
    blob = bytes(fpzip.compress(np.array(a, copy=True), precision=0 if precision >= width else precision))
    return blob, np.asarray(fpzip.decompress(blob)).reshape(a.shape).astype(a.dtype, copy=False)


def _fpzip_compress(a: np.ndarray, bound: Bound, cfg: BaleConfig, state: Any) -> tuple[bytes, Payload]:
    f = _finite(a)
    width = 8 * a.itemsize
    candidates = list(range(2, 33)) if width == 32 else list(range(4, 65, 2))

    def ok(i: int) -> bool:
        return not violations(f, _fpzip_roundtrip(f, candidates[i])[1], bound).any()

    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    blob, _ = _fpzip_roundtrip(f, candidates[lo])
    return blob, blob


def _fpzip_decompress(payload: Payload, template: np.ndarray) -> np.ndarray:
    import fpzip

    return np.asarray(fpzip.decompress(payload)).reshape(template.shape).astype(template.dtype, copy=False)


def _zstd_compress(a: np.ndarray, bound: Bound, cfg: BaleConfig, state: Any) -> tuple[bytes, Payload]:
    blob = zstandard.ZstdCompressor(level=19).compress(np.ascontiguousarray(a).tobytes())
    return blob, blob


def _zstd_decompress(payload: Payload, template: np.ndarray) -> np.ndarray:
    data = zstandard.ZstdDecompressor().decompress(payload)
    return np.frombuffer(data, dtype=template.dtype).reshape(template.shape)


_bale_auto, _bale_auto_d = _bale("auto")
_bale_lor, _bale_lor_d = _bale("lorenzo")
_bale_int, _bale_int_d = _bale("interp")
_sz3_default, _sz3_default_d = _sz3(None)
_sz3_interp, _sz3_interp_d = _sz3("INTERP")
_sz3_lreg, _sz3_lreg_d = _sz3("LORENZO_REG")

GRID_METHODS: dict[str, GridMethod] = {
    m.name: m
    for m in [
        GridMethod("bale-grid", "bale", "bale grid codec, predictor per block (Lorenzo/interp)", _bale_auto,
                   _bale_auto_d, patched=False),
        GridMethod("bale-grid-lorenzo", "bale", "bale grid codec, lattice Lorenzo only", _bale_lor, _bale_lor_d,
                   patched=False),
        GridMethod("bale-grid-interp", "bale", "bale grid codec, closed-loop interpolation only", _bale_int,
                   _bale_int_d, patched=False),
        GridMethod("bale-grid-conv", "bale", "bale grid codec with a conv autoencoder trained on the grid, embedded",
                   _bale_auto, _bale_auto_d, requires=("torch",), prepare=_train_conv, patched=False),
        GridMethod("sz3", "sz3", "SZ3 ABS mode, default algorithm (interpolation + Lorenzo)", _sz3_default,
                   _sz3_default_d, requires=("pysz",)),
        GridMethod("sz3-interp", "sz3", "SZ3 ABS mode, interpolation", _sz3_interp, _sz3_interp_d,
                   requires=("pysz",)),
        GridMethod("sz3-lorenzo-reg", "sz3", "SZ3 ABS mode, Lorenzo + regression", _sz3_lreg, _sz3_lreg_d,
                   requires=("pysz",)),
        GridMethod("zfp", "zfp", "ZFP fixed-accuracy mode, tolerance abs", _zfp_compress, _zfp_decompress,
                   requires=("zfpy",)),
        GridMethod("fpzip", "fpzip", "fpzip at the fewest precision bits that meet the bound", _fpzip_compress,
                   _fpzip_decompress, requires=("fpzip",)),
        GridMethod("zstd-19", "lossless", "zstd level 19 on the raw bytes (lossless)", _zstd_compress,
                   _zstd_decompress),
    ]
}  # fmt: skip


def _exceptions(a: np.ndarray, y: np.ndarray, bound: Bound) -> tuple[int, int, np.ndarray]:
    """Count and bytes of an exception list patching ``y`` to meet ``bound``, and the patched values."""
    bad = violations(a.ravel(), y.ravel(), bound)
    index = np.flatnonzero(bad).astype(np.uint64)
    if not index.size:
        return 0, 0, y
    cctx = zstandard.ZstdCompressor(level=19)
    size = len(cctx.compress(np.diff(index, prepend=np.uint64(0)).tobytes())) + len(
        cctx.compress(a.ravel()[bad].tobytes())
    )
    patched = y.copy().ravel()
    patched[bad] = a.ravel()[bad]
    return int(index.size), size + 16, patched.reshape(y.shape)


def _run_one(method: GridMethod, a: np.ndarray, bound: Bound, cfg: BaleConfig) -> GridRow:
    row: GridRow = {"method": method.name, "family": method.family}
    missing = missing_modules(method.requires)
    if missing:
        row["skipped"] = missing
        return row
    try:
        state = None
        if method.prepare is not None:
            started = time.perf_counter()
            state = method.prepare(a, bound, cfg)
            row["prepare_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        blob, payload = method.compress(a, bound, cfg, state)
        t_c = time.perf_counter() - started
        started = time.perf_counter()
        y = method.decompress(payload, a)
        t_d = time.perf_counter() - started
    except Exception as exc:  # a library's failure is a result, not a crash of the bench
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return row
    size = blob if isinstance(blob, int) else len(blob)
    exceptions, extra = 0, 0
    if method.patched:
        exceptions, extra, y = _exceptions(a, y, bound)
    viol = int(violations(a.ravel(), y.ravel(), bound).sum())
    finite = np.isfinite(a)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(y.astype(np.float64) - a.astype(np.float64))[finite]
    total = size + extra
    row.update(
        {
            "bytes": total,
            "ratio": round(a.nbytes / total, 3) if total else None,
            "exceptions": exceptions,
            "violations": viol,
            "max_error_over_bound": round(float(err.max()) / bound.value, 5) if err.size else 0.0,
            "compress_mb_s": round(a.nbytes / 1e6 / max(t_c, 1e-9), 2),
            "decompress_mb_s": round(a.nbytes / 1e6 / max(t_d, 1e-9), 2),
        }
    )
    if method.family == "bale":
        row["predictors"] = payload[1].get("predictors")
    return row


def run_grid_bench(
    data: str | Path | np.ndarray | dict[str, np.ndarray],
    errors: Sequence[str],
    *,
    methods: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    config: BaleConfig | None = None,
) -> GridBenchResults:
    """Every grid method on every grid of ``data`` at every bound of ``errors`` (``range=``, ``abs=``)."""
    cfg = config or BaleConfig()
    if isinstance(data, np.ndarray):
        grids = {"data": data}
    elif isinstance(data, dict):
        grids = dict(data)
    else:
        grids, _ = read_grids(data, list(names) if names else None)
    chosen = list(methods) if methods else list(GRID_METHODS)
    unknown = [m for m in chosen if m not in GRID_METHODS]
    if unknown:
        raise BaleInputError(f"unknown grid bench method(s) {unknown}; methods are {', '.join(GRID_METHODS)}")
    specs = list(errors) or [cfg.grid.error]
    settings: list[GridSetting] = []
    for name, grid in grids.items():
        a = np.ascontiguousarray(grid).reshape(as_3d(grid.shape))
        for spec in specs:
            gb = parse_grid_bound(spec, a)
            if gb.bound.mode != "abs":
                raise BaleInputError("grid bench takes range=X or abs=X bounds (the libraries have no pointwise rel)")
            rows = []
            for m in chosen:
                log.info("grid bench: %s at %s: %s", name, gb.spec, m)
                rows.append(_run_one(GRID_METHODS[m], a, gb.bound, cfg))
            settings.append(
                {FIELD: name, "shape": list(grid.shape), "dtype": str(grid.dtype), "error": gb.spec,
                 "abs": gb.bound.value, "raw_bytes": int(a.nbytes), "methods": rows}
            )  # fmt: skip
    return {"format": GRID_FORMAT, "settings": settings}


def grid_markdown(results: GridBenchResults) -> str:
    """One table per grid and bound, and a summary of ratios (methods × bounds)."""
    lines: list[str] = []
    for s in results["settings"]:
        lines += [
            f"### {s[FIELD]} {'x'.join(map(str, s['shape']))} {s['dtype']}, {s['error']} (abs={s['abs']:.4g})",
            "",
            "| method | ratio | bytes | max err / bound | violations | exceptions | comp MB/s | decomp MB/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in s["methods"]:
            if "skipped" in r or "error" in r:
                lines.append(f"| {r['method']} | {'skipped' if 'skipped' in r else 'error'}: "
                             f"{r.get('skipped') or r.get('error')} |||||||")  # fmt: skip
                continue
            lines.append(
                f"| {r['method']} | {r['ratio']:.2f} | {r['bytes']:,} | {r['max_error_over_bound']:.4f} | "
                f"{r['violations']} | {r['exceptions']} | {r['compress_mb_s']:.1f} | {r['decompress_mb_s']:.1f} |"
            )
        lines.append("")
    grids = sorted({s[FIELD] for s in results["settings"]})
    for g in grids:
        rows = [s for s in results["settings"] if s[FIELD] == g]
        lines += [f"### ratio summary: {g}", "", "| method | " + " | ".join(s["error"] for s in rows) + " |",
                  "|---|" + "---|" * len(rows)]  # fmt: skip
        for m in [r["method"] for r in rows[0]["methods"]]:
            cells = []
            for s in rows:
                r = next(r for r in s["methods"] if r["method"] == m)
                cells.append(f"{r['ratio']:.2f}" if r.get("ratio") else "—")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
