"""Models: training one on a source (:func:`train`), saving and loading it, and the model a file needs."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bale.api.quantities import declared_quantities, file_quantity_bounds, per_table, tighten_column_bounds
from bale.bounds import Bound, parse_bound
from bale.container import BaleReader
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.fsutil import atomic_target
from bale.models import ColumnPlan, CompressionModel
from bale.models.bundle import DatasetModel, model_from_bytes
from bale.models.plan import KIND_EXACT, KIND_GRID
from bale.models.quantities import QuantitySpec
from bale.stages import stage
from bale.table import Dataset, Table

if TYPE_CHECKING:  # reading inputs (bale.api.inputs) is imported only to train: decoding needs none of it
    from bale.api.inputs import PathLike
    from bale.config import BaleConfig

log = logging.getLogger(__name__)


def train(
    data: Any,
    *,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    keep_rest: bool = False,
    preset: str | None = None,
    train_fraction: float | None = None,
    progress: bool = False,
    quantities: Iterable[str | QuantitySpec] | None = None,
) -> CompressionModel | DatasetModel:
    """Fit a compression model to ``data``: predictors per column and the network, per table.

    A flat table gives a :class:`CompressionModel`; a dataset with collections (a ROOT
    tree with jagged branches) a :class:`DatasetModel` with one model per table. ``data``
    may be a list of files: the sample (``train.max_rows`` rows in all) is drawn from all
    of them, an equal share of the rows still to draw each, at most ``train_fraction`` of each
    file (:func:`bale.training.sampling.sample_files`, the sampler of :func:`bale.batch.sample_rows`).
    ``quantities``: bounds on quantities of several columns, ``"mass(energy,px,py,pz):rel=1e-3"``
    (docs/codec.md).
    """
    from bale.api.inputs import _config, _Source
    from bale.training.sampling import draw_events

    cfg = _config(config)
    if isinstance(data, (list, tuple)) and all(isinstance(d, (str, os.PathLike)) for d in data):
        sample, exact = _sample_files([Path(d) for d in data], cfg, columns, tree, keep_rest, train_fraction)
        return _train(sample, cfg, error, errors, exact, preset, progress, announce=True, quantities=quantities)
    source = _Source(data, columns, tree, keep_rest, cfg.compress.chunk_rows)
    stage("drawing a training sample (at most %d rows)", cfg.train.max_rows)
    sample = source.sample(cfg.train.max_rows)
    if train_fraction is not None:
        sample = draw_events(sample, train_fraction, np.random.default_rng(cfg.train.seed))
    return _train(sample, cfg, error, errors, source.exact, preset, progress, announce=True, quantities=quantities)


def _sample_files(
    paths: list[Path],
    cfg: BaleConfig,
    columns: Iterable[str] | None,
    tree: str | None,
    keep_rest: bool,
    train_fraction: float | None,
) -> tuple[Dataset, list[str]]:
    """A training sample across files (:func:`~bale.training.sampling.sample_files`) and its lossless columns."""
    from bale.api.inputs import _Source
    from bale.training.sampling import sample_files

    if not paths:
        raise BaleInputError("no input files to train on")
    exact: list[str] = []

    def read(path: Path, rows: int) -> Dataset:
        nonlocal exact
        source = _Source(path, columns, tree, keep_rest, cfg.compress.chunk_rows)
        exact = source.exact
        return source.sample(rows)

    sample = sample_files(paths, read, max_rows=cfg.train.max_rows, train_fraction=train_fraction, seed=cfg.train.seed)
    return sample, exact


def _train(
    dataset: Dataset,
    cfg: BaleConfig,
    error: str | None,
    errors: Iterable[str] | Mapping[str, str] | None,
    exact: Iterable[str],
    preset: str | None,
    progress: bool,
    on_epoch: Callable[[int, float], None] | None = None,
    announce: bool = False,
    quantities: Iterable[str | QuantitySpec] | None = None,
) -> CompressionModel | DatasetModel:
    from bale.api.inputs import _announce_preset, _dtypes, _resolve_bounds
    from bale.chunks import choose_contexts
    from bale.training import fit_model  # torch is imported only when training
    from bale.training.sampling import sample_row_blocks

    if cfg.model.learned:
        try:
            import torch  # noqa: F401  (the network is trained with torch: fail before the relation search)
        except ImportError:
            raise BaleInputError(
                "training the network needs torch, which is not installed: pip install 'bale[train]' "
                "(or set model.learned = false to train without the network)"
            ) from None

    if not any(t.columns for t in dataset.tables.values()):
        raise BaleInputError("the table has no columns")
    if dataset.num_events == 0:
        raise BaleInputError("cannot train on an empty table")
    bounds = _resolve_bounds(_dtypes(dataset), cfg, error, errors, exact, preset)
    specs = declared_quantities(cfg, quantities, _dtypes(dataset))
    bounds = tighten_column_bounds(bounds, specs)
    specs_of = per_table(specs, {name: t.columns for name, t in dataset.tables.items()})
    if announce and preset is not None:  # compress() says it once itself
        _announce_preset(preset, bounds)
    models: dict[str, CompressionModel] = {}
    for name, table in dataset.tables.items():
        own = {c: bounds[c] for c in table.columns}
        if table.num_rows == 0:
            models[name] = _trivial_model(table, own)
        else:
            stage("choosing a predictor per column of %s (%d rows)", f"collection {name}" if name else "the table",
                  len(table))  # fmt: skip
            models[name] = fit_model(
                table, own, cfg, progress=progress, checkpoint=_checkpoint(cfg, name), on_epoch=on_epoch,
                quantities=specs_of[name],
            )  # fmt: skip
            if cfg.model.contexts:
                rows = sample_row_blocks(table.num_rows, cfg.train.max_rows, cfg.train.seed)  # fit_model's rows
                choose_contexts(models[name], {c: v[rows] for c, v in table.columns.items()})
        models[name].info["schema"] = [{"name": n, "dtype": str(v.dtype)} for n, v in table.columns.items()]
    return DatasetModel(models, {"counters": dict(dataset.counters)} if dataset.counters else {}).simplest()


def _checkpoint(cfg: BaleConfig, table: str) -> Path | None:
    """The checkpoint file of ``table``'s network, when checkpoints are kept."""
    if cfg.train.checkpoint_dir is None:
        return None
    folder = Path(cfg.train.checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in table) or "main"
    return folder / f"{safe}.checkpoint.safetensors"


def save_model(model: CompressionModel | DatasetModel, path: PathLike) -> str:
    """Write ``model`` atomically; returns its SHA-256."""
    data = model.to_bytes()
    with atomic_target(Path(path)) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # on disk before it is renamed into place
    return model.sha256


def load_model(path: PathLike) -> CompressionModel | DatasetModel:
    p = Path(path)
    if not p.is_file():
        raise BaleInputError(f"no such model file: {p}")
    try:
        return model_from_bytes(p.read_bytes())
    except BaleFormatError as exc:
        raise BaleFormatError(f"{p}: {exc}") from None


def _with_bounds(model: CompressionModel, bounds: Mapping[str, Bound]) -> CompressionModel:
    """The model coding with ``bounds``; a bound may change its value, not its mode."""
    plans = []
    for plan in model.columns:
        bound = bounds[plan.name]
        if (bound.mode == "exact") != (plan.bound.mode == "exact") or (
            bound.mode != "exact" and bound.mode != plan.bound.mode and plan.predictor["kind"] != KIND_GRID
        ):
            raise BaleInputError(
                f"column {plan.name!r}: the model was trained for {plan.bound}, not {bound}; "
                "train a model with this bound"
            )
        plans.append(replace(plan, bound=bound))
    return CompressionModel(plans, model.network, model.info, model.quantities)


def _check_schema(dataset: Dataset, model: DatasetModel) -> None:
    if list(dataset.tables) != list(model.tables):
        raise BaleInputError(
            f"the model was trained on other tables: {sorted(model.tables)}, the data has {sorted(dataset.tables)}"
        )
    for name, table in dataset.tables.items():
        have = {n: str(v.dtype) for n, v in table.columns.items()}
        want = {c.name: c.dtype for c in model.tables[name].columns}
        if have != want:
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            changed = sorted(n for n in set(have) & set(want) if have[n] != want[n])
            where = f" (collection {name!r})" if name else ""
            raise BaleInputError(
                f"the model was trained on another schema{where}: missing {missing}, unexpected {extra}, "
                f"other dtype {changed}"
            )


def _trivial_model(table: Table, bounds: Mapping[str, Bound]) -> CompressionModel:
    """A model for a table too small to train on: classical coding of every column."""
    plans = [
        ColumnPlan(n, str(v.dtype), bounds[n], {"kind": KIND_EXACT if bounds[n].mode == "exact" else KIND_GRID})
        for n, v in table.columns.items()
    ]
    plans.sort(key=lambda p: p.predictor["kind"] != KIND_EXACT)
    return CompressionModel(plans)


def _open_model(reader: BaleReader, model: CompressionModel | DatasetModel | PathLike | None) -> list[CompressionModel]:
    """The model of each table of the file, coding with the file's bounds."""
    meta = reader.header.get("model", {})
    embedded = reader.model()
    if embedded is not None:
        found = model_from_bytes(embedded)
    else:
        if model is None:
            raise BaleModelMismatchError(
                f"{reader.path} was compressed with an external model "
                f"(sha256 {str(meta.get('sha256'))[:16]}…): pass it with --model"
            )
        found = model if isinstance(model, (CompressionModel, DatasetModel)) else load_model(model)
    if embedded is not None:
        if hashlib.sha256(embedded).hexdigest() != meta.get("sha256"):
            raise BaleFormatError(f"{reader.path}: the embedded model does not match its SHA-256 (file corrupt)")
    elif found.sha256 != meta.get("sha256"):
        raise BaleModelMismatchError(
            f"{reader.path} was compressed with model {str(meta.get('sha256'))[:16]}…, not with {found.sha256[:16]}…"
        )
    models = DatasetModel.of(found)
    if [t["name"] for t in reader.tables] != list(models.tables):
        raise BaleFormatError(f"{reader.path}: the tables of the file and of its model differ")
    for t in reader.tables:
        if {c["name"]: c["dtype"] for c in t["schema"]} != {c.name: c.dtype for c in models.tables[t["name"]].columns}:
            raise BaleFormatError(f"{reader.path}: the columns of the file and of its model differ")
    try:
        return [
            file_quantity_bounds(
                t, _with_bounds(models.tables[t["name"]], {c["name"]: parse_bound(c["bound"]) for c in t["schema"]})
            )
            for t in reader.tables
        ]
    except (KeyError, TypeError, ValueError, BaleInputError, BaleFormatError) as exc:
        raise BaleFormatError(f"{reader.path}: header does not fit its model: {exc}") from None
