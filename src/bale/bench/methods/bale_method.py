"""bale itself, twice: the model trained on the table and embedded in the file, and an external model.

``bale``           :func:`bale.api.compress` without a model: the compress time includes training, the
                   bytes include the embedded model (``ratio_without_model`` leaves it out).
``bale-external``  the model is trained first (not timed as compression; reported as ``train_s``) and
                   saved; the file records only its hash. The bytes leave the model out
                   (``ratio_with_model`` counts it, as if shipped with this one file).

Both run single-threaded (``workers=1``, torch threads from the config, 1 by default).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bale.api import compress, decompress, info, save_model, train
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method
from bale.reports import TableInfo, table_info
from bale.table import Table

__all__ = ["methods"]

_RUNS = {"n": 0}


def _errors(bounds: Bounds) -> dict[str, str]:
    return {name: bound.to_json() for name, bound in bounds.items()}


def _path(ctx: Context, stem: str) -> Path:
    _RUNS["n"] += 1
    return ctx.tmp / f"{stem}-{_RUNS['n']}.bale"


def _warm_up(columns: Columns, bounds: Bounds, ctx: Context) -> None:
    """Load the compiled kernels and torch before the clock starts (once per process)."""
    import bale.training  # noqa: F401  (torch)

    names = list(columns)[:8]  # a corner of the table: enough to load the kernels, quick on wide tables
    head = {k: columns[k][:256] for k in names}
    cfg = ctx.config.model_copy(deep=True)
    cfg.model.learned = False
    path = _path(ctx, "warm")
    compress(head, path, errors=_errors({k: bounds[k] for k in names}), config=cfg, workers=1)
    decompress(path, workers=1)
    path.unlink()


def _ratios(columns: Columns, path: Path, model_bytes: int | None = None) -> dict[str, Any]:
    raw = sum(a.nbytes for a in columns.values())
    report = table_info(info(path))
    total = report["file_bytes"]
    out: dict[str, Any] = {"predictors": _predictors(report)}
    if model_bytes is None:
        model_bytes = report["bytes"]["model"]
        out.update(model_bytes=model_bytes, ratio_without_model=raw / max(total - model_bytes, 1))
    else:
        out.update(model_bytes=model_bytes, ratio_with_model=raw / (total + model_bytes))
    return out


def _predictors(report: TableInfo) -> dict[str, int]:
    counts: dict[str, int] = {}
    for column in report["per_column"].values():
        counts[column["predictor"]] = counts.get(column["predictor"], 0) + 1
    return counts


def _prepare_embedded(columns: Columns, bounds: Bounds, ctx: Context) -> None:
    _warm_up(columns, bounds, ctx)


def _compress_embedded(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    path = _path(ctx, "bale")
    report = table_info(compress(Table(dict(columns)), path, errors=_errors(bounds), config=ctx.config, workers=1))
    return Encoded(path.stat().st_size, path, {**_ratios(columns, path), "train_s": report["seconds"]["train"]})


def _prepare_external(columns: Columns, bounds: Bounds, ctx: Context) -> dict[str, Any]:
    _warm_up(columns, bounds, ctx)
    started = time.perf_counter()
    model = train(Table(dict(columns)), errors=_errors(bounds), config=ctx.config)
    seconds = time.perf_counter() - started
    path = _path(ctx, "model").with_suffix(".safetensors")
    save_model(model, path)
    return {"model": path, "train_s": seconds}


def _compress_external(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    path = _path(ctx, "bale-external")
    compress(Table(dict(columns)), path, model=state["model"], errors=_errors(bounds), config=ctx.config, workers=1)
    model_bytes = state["model"].stat().st_size
    return Encoded(path.stat().st_size, path, {**_ratios(columns, path, model_bytes), "train_s": state["train_s"]})


def _decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
    model = state["model"] if isinstance(state, dict) else None
    data = decompress(encoded.payload, model=model, workers=1)
    columns = getattr(data, "columns", None)
    if columns is None:  # a Dataset: bench works on flat tables
        raise TypeError("bale gave back a dataset of several tables for a flat table")
    return {k: np.asarray(v) for k, v in columns.items()}


def methods() -> list[Method]:
    return [
        Method(
            name="bale",
            family="bale",
            description="bale, model trained on the table and embedded (training in the compress time)",
            compress=_compress_embedded,
            decompress=_decompress,
            requires=("torch",),  # training
            prepare=_prepare_embedded,
        ),
        Method(
            name="bale-external",
            family="bale",
            description="bale with an external model trained beforehand (model bytes not in the file)",
            compress=_compress_external,
            decompress=_decompress,
            requires=("torch",),  # training
            prepare=_prepare_external,
        ),
    ]
