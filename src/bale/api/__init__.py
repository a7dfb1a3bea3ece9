"""The Python API: :func:`train`, :func:`compress`, :func:`decompress`, :func:`info`.

Each accepts a path or a table in memory (pandas or pyarrow table, dict of arrays,
NumPy structured or 2-D array, :class:`~bale.table.Table`) and mirrors the CLI command of
the same name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import bale.frames as frames
from bale._version import __version__
from bale.api.quantities import (
    declared_quantities,
    file_quantity_bounds,
    header_quantities,
    per_table,
    tighten_column_bounds,
    with_quantity_bounds,
)
from bale.bounds import Bound, parse_bound, parse_bound_options, resolve_bounds
from bale.chunks import DEFAULT_WORKERS, LATENT_SECTION, closure, decode_chunk, encode_chunk, map_chunks
from bale.config import BaleConfig, load_config
from bale.container import MEMBERS_KIND, BaleReader, BaleWriter, ChunkInfo, Source
from bale.errors import BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.fsutil import atomic_target, refuse_same_file
from bale.grid.api import decompress_grid, grid_info
from bale.io import detect_format, read_table, write_table
from bale.io.root_events import empty_dataset, iter_dataset
from bale.io.root_write import write_dataset as write_root_dataset
from bale.models import ColumnPlan, CompressionModel
from bale.models.bundle import DatasetModel, model_from_bytes
from bale.models.quantities import QuantitySpec
from bale.stages import stage
from bale.table import Dataset, Forest, Table, check_column_names
from bale.training.families import family_of

__all__ = [
    "as_dataset",
    "as_table",
    "compress",
    "decompress",
    "info",
    "load_model",
    "save_model",
    "train",
    "training_sample",
    "verify",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def as_table(data: Any, *, columns: Iterable[str] | None = None, tree: str | None = None) -> Table:
    """Turn a path or an in-memory table of any supported kind into a :class:`Table`."""
    if isinstance(data, (str, os.PathLike)):
        table = read_table(data, columns=list(columns) if columns else None, tree=tree)
        check_column_names(table.names)
        return table
    if isinstance(data, Table):
        table = data
    elif frames.is_polars(data):  # through Arrow, without pandas
        table = frames.from_polars(data)
    elif frames.is_arrow(data):
        table = frames.from_arrow(data)
    elif frames.is_pandas(data):  # the default index only; dtypes and names checked (bale.frames)
        table = frames.from_pandas(data)
    elif isinstance(data, np.ndarray) and data.dtype.names:
        table = Table({name: np.ascontiguousarray(data[name]) for name in data.dtype.names})
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        table = Table({f"col{i}": np.ascontiguousarray(data[:, i]) for i in range(data.shape[1])})
    elif isinstance(data, Mapping):
        table = frames.from_mapping(data)
    else:
        raise BaleInputError(f"cannot compress an object of type {type(data).__name__}")
    if columns:
        wanted = list(columns)
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise BaleInputError(f"unknown column(s) {missing}; columns are {table.names}")
        table = Table({c: table.columns[c] for c in wanted}, table.source)
    check_column_names(table.names)  # names every writer holds exactly (docs/reliability.md)
    return table


def _resolve_bounds(
    dtypes: Mapping[str, Any],
    config: BaleConfig,
    error: str | None,
    errors: Iterable[str] | Mapping[str, str] | None,
    exact: Iterable[str] = (),
    preset: str | None = None,
) -> dict[str, Bound]:
    """Bounds per column: the preset, then the config, then ``error``/``errors``; ``exact`` columns are exact."""
    default = parse_bound(error or config.compress.error)
    per_column: dict[str, Bound] = {}
    if preset is not None:
        from bale.presets import preset_bounds

        per_column.update({k: parse_bound(v) for k, v in preset_bounds(preset, list(dtypes)).items()})
    per_column.update({k: parse_bound(v) for k, v in config.compress.errors.items()})
    if isinstance(errors, Mapping):
        per_column.update({k: parse_bound(v) for k, v in errors.items()})
    elif errors is not None:
        cli_default, cli_columns = parse_bound_options(errors)
        if cli_default is not None:
            default = cli_default
        per_column.update(cli_columns)
    per_column.update(dict.fromkeys(exact, Bound("exact")))
    return resolve_bounds(dict(dtypes), default, per_column)


def _announce_preset(preset: str, bounds: Mapping[str, Bound]) -> None:
    """Say which bound the preset gave each column, and where ``-e`` or the config overrode it."""
    from bale.presets import describe_preset, preset_bounds

    final = {c: b.to_json() for c, b in bounds.items()}
    for line in describe_preset(preset, final, final):
        stage("%s", line)
    said = preset_bounds(preset, list(final))
    changed = [f"{c} {final[c]}" for c, spec in said.items() if parse_bound(spec) != bounds[c]]
    if changed:
        stage("preset %s overridden (by -e, the config, or an integer column): %s", preset, ", ".join(changed))


def _bounds(
    table: Table, config: BaleConfig, error: str | None, errors: Iterable[str] | Mapping[str, str] | None
) -> dict[str, Bound]:
    return _resolve_bounds({k: v.dtype for k, v in table.columns.items()}, config, error, errors)


def _config(config: BaleConfig | PathLike | None) -> BaleConfig:
    cfg = config if isinstance(config, BaleConfig) else load_config(config)
    if cfg.model.learned:
        family_of(cfg.model)  # an unknown family, or one without its latent, before any data is read
    return cfg


class _Source:
    """A dataset to compress, whole in memory or read from a ROOT file in steps of whole events."""

    def __init__(
        self, data: Any, columns: Iterable[str] | None, tree: str | None, keep_rest: bool, step_rows: int
    ) -> None:
        self.step_rows = step_rows
        self._path: Path | None = None
        self._dataset: Dataset | None = None
        self._options = {"patterns": list(columns) if columns else None, "tree": tree, "keep_rest": keep_rest}
        if isinstance(data, (str, os.PathLike)) and detect_format(data) == "root":
            self._path = Path(data)
            if not self._path.is_file():
                raise BaleInputError(f"no such file: {self._path}")
            self.layout, _ = iter_dataset(self._path, **self._options, max_events=0)  # type: ignore[arg-type]
            self.exact = list(self.layout.kept)  # what keep_rest adds is coded losslessly
            if self.layout.skipped:  # every one named, with its reason, in one warning (and in bale info)
                log.warning(
                    "tree %s: leaving out %d branch(es) bale cannot code: %s",
                    self.layout.tree, len(self.layout.skipped),
                    "; ".join(f"{k} ({v})" for k, v in self.layout.skipped.items()),
                )  # fmt: skip
        else:
            if keep_rest:
                raise BaleInputError("--keep-rest applies to ROOT files only")
            self._dataset = (
                data if isinstance(data, Dataset) else Dataset.single(as_table(data, columns=columns, tree=tree))
            )
            if isinstance(data, Dataset):  # the same name rule as every other entry point
                check_column_names([c for t in data.tables.values() for c in t.columns])
            self.exact = []

    def pieces(self, max_rows: int | None = None) -> Iterator[Dataset]:
        rows = max_rows or self.step_rows
        if self._dataset is not None:
            if self._dataset.num_events == 0:
                yield self._dataset
            else:
                yield from self._dataset.steps(rows)
            return
        assert self._path is not None
        _, pieces = iter_dataset(self._path, step_rows=rows, layout=self.layout)
        yield from pieces

    def sample(self, max_rows: int) -> Dataset:
        """The first events, until every table has ``max_rows`` rows or the data ends (for training)."""
        if self._dataset is not None:
            return self._dataset
        taken: list[Dataset] = []
        for piece in self.pieces(max_rows):
            taken.append(piece)
            if all(sum(p.tables[t].num_rows for p in taken) >= max_rows for t in piece.tables):
                break
        return Dataset.concat(taken) if taken else self.empty()

    def empty(self) -> Dataset:
        if self._dataset is not None:
            return self._dataset.slice(0, 0)
        return empty_dataset(self.layout)


def training_sample(
    data: Any,
    *,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
) -> Dataset:
    """The rows ``train`` would learn from: the first events of a ROOT file, the whole of anything else."""
    cfg = _config(config)
    return _Source(data, columns, tree, False, cfg.compress.chunk_rows).sample(cfg.train.max_rows)


def as_dataset(
    data: Any, *, columns: Iterable[str] | None = None, tree: str | None = None, keep_rest: bool = False
) -> Dataset:
    """A path or in-memory table as a :class:`Dataset` (a ROOT tree with jagged branches has collections)."""
    source = _Source(data, columns, tree, keep_rest, 1 << 22)
    return Dataset.concat(source.pieces()) if source._path is not None else source.sample(0)


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
    of them, an equal share each, at most ``train_fraction`` of each file. ``quantities``:
    bounds on quantities of several columns, ``"mass(energy,px,py,pz):rel=1e-3"`` (docs/codec.md).
    """
    cfg = _config(config)
    if isinstance(data, (list, tuple)) and all(isinstance(d, (str, os.PathLike)) for d in data):
        sample, exact = _sample_files([Path(d) for d in data], cfg, columns, tree, keep_rest, train_fraction)
        return _train(sample, cfg, error, errors, exact, preset, progress, announce=True, quantities=quantities)
    source = _Source(data, columns, tree, keep_rest, cfg.compress.chunk_rows)
    stage("drawing a training sample (at most %d rows)", cfg.train.max_rows)
    sample = source.sample(cfg.train.max_rows)
    if train_fraction is not None:
        sample = _fraction(sample, train_fraction, np.random.default_rng(cfg.train.seed))
    return _train(sample, cfg, error, errors, source.exact, preset, progress, announce=True, quantities=quantities)


def _fraction(dataset: Dataset, fraction: float, rng: np.random.Generator, limit: int | None = None) -> Dataset:
    """A random ``fraction`` of the events (at most ``limit``), kept in order."""
    if not 0 < fraction <= 1:
        raise BaleInputError(f"train_fraction must be in (0, 1], not {fraction}")
    n = dataset.num_events
    take = min(n, max(1, round(fraction * n)), limit if limit is not None else n)
    if take >= n:
        return dataset
    if dataset.counters:  # whole events: a random run of consecutive events keeps the structure simple
        start = int(rng.integers(0, n - take + 1))
        return dataset.slice(start, start + take)
    rows = np.sort(rng.choice(n, take, replace=False))
    return Dataset.single(Table({k: v[rows] for k, v in dataset.main.columns.items()}, dict(dataset.main.source)))


def _sample_files(
    paths: list[Path],
    cfg: BaleConfig,
    columns: Iterable[str] | None,
    tree: str | None,
    keep_rest: bool,
    train_fraction: float | None,
) -> tuple[Dataset, list[str]]:
    """A training sample across files: an equal share of ``train.max_rows`` from each."""
    if not paths:
        raise BaleInputError("no input files to train on")
    share = max(1, cfg.train.max_rows // len(paths))
    rng = np.random.default_rng(cfg.train.seed)
    parts, exact = [], []
    for path in paths:
        source = _Source(path, columns, tree, keep_rest, cfg.compress.chunk_rows)
        piece = source.sample(share)
        parts.append(_fraction(piece, train_fraction or 1.0, rng, limit=share))
        exact = source.exact
    first = parts[0]
    for path, part in zip(paths, parts, strict=True):
        if _dtypes(part) != _dtypes(first) or list(part.tables) != list(first.tables):
            raise BaleInputError(f"{path} has other columns or tables than {paths[0]}: train on like files only")
    return Dataset.concat(parts), exact


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
    from bale.training import fit_model  # torch is imported only when training

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


def _dtypes(dataset: Dataset) -> dict[str, np.dtype]:
    return {c: v.dtype for t in dataset.tables.values() for c, v in t.columns.items()}


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
            bound.mode != "exact" and bound.mode != plan.bound.mode and plan.predictor["kind"] != "grid"
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


def compress(
    data: Any,
    output: PathLike,
    *,
    model: CompressionModel | DatasetModel | PathLike | None = None,
    error: str | None = None,
    errors: Iterable[str] | Mapping[str, str] | None = None,
    config: BaleConfig | PathLike | None = None,
    columns: Iterable[str] | None = None,
    tree: str | None = None,
    keep_rest: bool = False,
    preset: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
    on_epoch: Callable[[int, float], None] | None = None,
    quantities: Iterable[str | QuantitySpec] | None = None,
) -> dict[str, Any]:
    """Compress ``data`` into the ``.bale`` file ``output``; returns :func:`info` of the result.

    Without ``model`` a model is trained on the data and embedded in the file. With one,
    the file records the model's SHA-256 and decompression needs the same model. A ROOT
    file is read in steps of whole events, so memory does not grow with its size;
    ``columns`` then selects branches by name or glob, and ``keep_rest`` adds every other
    branch, coded losslessly. ``quantities``: bounds on quantities of several columns, held on
    every row like column bounds, ``["mass(energy,px,py,pz):rel=1e-3", "pt(px,py):rel=1e-3"]``
    (docs/codec.md).
    """
    refuse_same_file(data, output)  # the output is never the input (issue 16)
    cfg = _config(config)
    if tree is None and isinstance(data, (str, os.PathLike)) and detect_format(data) == "root":
        from bale.api.root_file import compress_root_file, whole_file_trees

        trees = whole_file_trees(Path(data), columns)
        if trees is not None:  # several trees, or objects beside the tree: a member per tree (docs/root.md)
            if model is not None:
                raise BaleInputError(
                    f"{data} holds {len(trees)} trees and a model covers one: choose a tree with --tree"
                )

            def one_tree(name: str, out: Path) -> dict[str, Any]:
                return compress(
                    data, out, error=error, errors=errors, config=cfg, columns=columns, tree=name,
                    keep_rest=keep_rest, preset=preset, progress=progress, workers=workers, on_epoch=on_epoch,
                    quantities=quantities,
                )  # fmt: skip

            return compress_root_file(Path(data), Path(output), trees, one_tree)
    if isinstance(data, (str, os.PathLike)):
        stage("reading %s", data)
    source = _Source(data, columns, tree, keep_rest, cfg.compress.chunk_rows)
    structure = source.empty()
    if not any(t.columns for t in structure.tables.values()):
        skipped = structure.source.get("skipped") or {}
        if skipped:
            reasons = "; ".join(f"{k} ({v})" for k, v in skipped.items())
            raise BaleInputError(f"no branch of tree {structure.source.get('tree')!r} can be coded: {reasons}")
        raise BaleInputError("the table has no columns")
    bounds = _resolve_bounds(_dtypes(structure), cfg, error, errors, source.exact, preset)
    specs = declared_quantities(cfg, quantities, _dtypes(structure))  # before any training: one-line errors
    bounds = tighten_column_bounds(bounds, specs)
    specs_of = per_table(specs, {name: t.columns for name, t in structure.tables.items()})
    if preset is not None:
        _announce_preset(preset, bounds)
    embedded = model is None
    started = time.perf_counter()
    if model is None:
        stage("drawing a training sample (at most %d rows)", cfg.train.max_rows)
        sample = source.sample(cfg.train.max_rows)
        if sample.num_events:
            model = _train(sample, cfg, error, errors, source.exact, preset, progress, on_epoch, quantities=specs)
        else:
            model = DatasetModel({n: _trivial_model(t, bounds) for n, t in structure.tables.items()}).simplest()
        del sample
    elif not isinstance(model, (CompressionModel, DatasetModel)):
        model = load_model(model)
    models = DatasetModel.of(model)
    _check_schema(structure, models)
    train_seconds = time.perf_counter() - started
    coders = [with_quantity_bounds(_with_bounds(m, bounds), specs_of[n]) for n, m in models.tables.items()]
    if embedded:  # the training record is not needed to decode: keep it out of the file
        model = DatasetModel(
            {n: CompressionModel(m.columns, m.network, quantities=m.quantities) for n, m in models.tables.items()}
        ).simplest()
    model_bytes = model.to_bytes()
    header = {
        "format": "bale",
        "created_by": f"bale {__version__}",
        "tables": [
            {
                "name": name,
                **({"counter": structure.counters[name]} if name else {}),
                "schema": [
                    {
                        "name": n,
                        "dtype": str(v.dtype),
                        "bound": bounds[n].to_json(),
                        "predictor": coder.column(n).predictor["kind"],
                    }
                    for n, v in table.columns.items()
                ],
                **({"quantities": header_quantities(coder)} if coder.quantities else {}),
            }
            for (name, table), coder in zip(structure.tables.items(), coders, strict=True)
        ],
        "model": {"embedded": embedded, "sha256": hashlib.sha256(model_bytes).hexdigest()},
        "chunk_rows": cfg.compress.chunk_rows,
        "source": _jsonable(structure.source),
    }
    started = time.perf_counter()
    raw_bytes = 0
    digests = {n: hashlib.sha256() for n, b in bounds.items() if b.mode == "exact"}  # checked by verify()
    stage("coding every column and writing %s", output)
    with BaleWriter(output, header, model_bytes if embedded else None) as writer:
        bar = tqdm(desc="compressing", unit="event", disable=not progress, leave=False)

        Work = tuple[int, int, int, dict[str, np.ndarray], np.ndarray | None]

        def work() -> Iterator[Work]:
            nonlocal raw_bytes
            for step, piece in enumerate(source.pieces()):
                raw_bytes += piece.nbytes
                _update_digests(digests, piece)
                for t, (name, table) in enumerate(piece.tables.items()):
                    counts = piece.main.columns[piece.counters[name]] if t else None  # for a pair mass
                    if table.num_rows or (t == 0 and step == 0):
                        yield step, t, piece.num_events if t == 0 else 0, table.columns, counts

        def encode(item: Work) -> tuple[int, int, int, int, dict[str, bytes]]:
            step, t, events, columns, counts = item
            rows = len(next(iter(columns.values()))) if columns else 0
            return step, t, events, rows, encode_chunk(columns, coders[t], counts)

        for step, t, events, rows, sections in map_chunks(encode, work(), workers):
            writer.write_chunk(rows, sections, table=t, step=step)
            bar.update(events)
        bar.close()
        writer.close({"raw_bytes": raw_bytes, "exact_sha256": {n: d.hexdigest() for n, d in digests.items()}})
    report = info(output)
    report["seconds"] = {"train": round(train_seconds, 3), "compress": round(time.perf_counter() - started, 3)}
    return report


def _trivial_model(table: Table, bounds: Mapping[str, Bound]) -> CompressionModel:
    """A model for a table too small to train on: classical coding of every column."""
    plans = [
        ColumnPlan(n, str(v.dtype), bounds[n], {"kind": "exact" if bounds[n].mode == "exact" else "grid"})
        for n, v in table.columns.items()
    ]
    plans.sort(key=lambda p: p.predictor["kind"] != "exact")
    return CompressionModel(plans)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


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


def decompress(
    path: Source,
    output: PathLike | None = None,
    *,
    model: CompressionModel | DatasetModel | PathLike | None = None,
    format: str | None = None,
    progress: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> Table | Dataset | Forest:
    """Decode a ``.bale`` file; writes ``output`` when given and returns the data.

    A file of one table gives a :class:`Table`; a file with collections (from a ROOT tree
    with jagged branches) a :class:`Dataset`, which only ROOT can hold as a file. Writing
    a dataset to ROOT streams it in steps of whole events. ``path`` may also be the file's
    bytes, a binary file object or an fsspec URL (:class:`bale.container.BaleReader`).
    """
    with BaleReader(path) as reader:
        if reader.header.get("kind") == "grid":  # grid files (docs/grids.md): name -> array
            reader.close()
            if not isinstance(path, (str, os.PathLike)):
                raise BaleInputError("grid files are decompressed from a path")
            return decompress_grid(path, output, model=model)  # type: ignore[arg-type,return-value]
        if reader.header.get("kind") == MEMBERS_KIND:  # a whole ROOT file: its trees and objects
            from bale.api.root_file import decompress_root_file

            return decompress_root_file(reader, output, model, format, progress, workers)
        return _decompress_reader(reader, output, model, format, progress, workers)


def _decompress_reader(
    reader: BaleReader,
    output: PathLike | None,
    model: CompressionModel | DatasetModel | PathLike | None,
    format: str | None,
    progress: bool,
    workers: int,
) -> Table | Dataset:
    """decompress() of one table or one tree's dataset."""
    path = reader.path
    coders = _open_model(reader, model)
    fmt = format or (detect_format(output) if output is not None else None)
    from_tree = isinstance((reader.header.get("source") or {}).get("branches"), list)
    if len(reader.tables) == 1 and not (from_tree and fmt == "root"):
        table = _decode_table(reader, coders[0], progress, workers)
        if output is not None:
            write_table(table, output, format=format)
        return table
    if output is not None and fmt != "root":
        raise BaleInputError(f"{path} holds jagged collections: write it as ROOT (.root), not {fmt}")
    pieces = _decode_steps(reader, coders, progress, workers)
    first = next(pieces, None) or _empty_dataset(reader)
    if output is None:
        return Dataset.concat([first, *pieces])
    with atomic_target(Path(output)) as tmp:
        write_root_dataset(first, pieces, tmp)
    log.info("wrote %s (ROOT, %d collections)", output, len(first.counters))
    return first.slice(0, 0)  # the structure; the events went to the file


def _empty_dataset(reader: BaleReader) -> Dataset:
    """The structure of a file with no events (a tree with no entries writes no chunk)."""
    tables = {
        t["name"]: Table({c["name"]: np.zeros(0, np.dtype(c["dtype"])) for c in t["schema"]}) for t in reader.tables
    }
    counters = {t["name"]: str(t.get("counter")) for t in reader.tables[1:]}
    try:
        return Dataset(tables, counters, dict(reader.header.get("source") or {}))
    except BaleInputError as exc:
        raise BaleFormatError(f"{reader.path}: the tables do not hold together: {exc}") from None


def _decode_table(reader: BaleReader, coder: CompressionModel, progress: bool, workers: int) -> Table:
    """A one-table file, decoded into preallocated columns as the chunks arrive."""
    schema = reader.tables[0]["schema"]
    columns = {c["name"]: np.empty(reader.num_rows, np.dtype(c["dtype"])) for c in schema}
    bar = tqdm(total=reader.num_rows, desc="decompressing", unit="row", disable=not progress, leave=False)

    def decode(item: tuple[ChunkInfo, dict[str, memoryview]]) -> tuple[int, dict[str, np.ndarray]]:
        return item[0].rows, decode_chunk(item[1], item[0].rows, coder, reader.version)

    start = 0
    for rows, decoded in map_chunks(decode, reader.iter_chunks(), workers):
        for name, out in columns.items():
            out[start : start + rows] = decoded[name]
        start += rows
        bar.update(rows)
    bar.close()
    return Table(columns, dict(reader.header.get("source") or {}))


def _decode_steps(
    reader: BaleReader, coders: list[CompressionModel], progress: bool, workers: int
) -> Iterator[Dataset]:
    """The events of a multi-table file, one step of whole events at a time."""
    names = [t["name"] for t in reader.tables]
    counters = {t["name"]: str(t.get("counter")) for t in reader.tables[1:]}
    source = dict(reader.header.get("source") or {})
    empty = [
        {c["name"]: np.zeros(0, np.dtype(c["dtype"])) for c in t["schema"]} for t in reader.tables
    ]
    bar = tqdm(total=reader.num_rows, desc="decompressing", unit="event", disable=not progress, leave=False)

    def decode(item: tuple[ChunkInfo, dict[str, memoryview]]) -> tuple[ChunkInfo, dict[str, np.ndarray]]:
        return item[0], decode_chunk(item[1], item[0].rows, coders[item[0].table], reader.version)

    def assemble(parts: dict[int, dict[str, np.ndarray]]) -> Dataset:
        tables = {names[t]: Table(dict(parts.get(t, empty[t]))) for t in range(len(names))}
        try:
            return Dataset(tables, counters, source)
        except BaleInputError as exc:
            raise BaleFormatError(f"{reader.path}: decoded step does not hold together: {exc}") from None

    current: dict[int, dict[str, np.ndarray]] = {}
    step = None
    for info, decoded in map_chunks(decode, reader.iter_chunks(), workers):
        if step is not None and info.step != step:
            piece = assemble(current)
            bar.update(piece.num_events)
            yield piece
            current = {}
        step = info.step
        if info.table in current:
            raise BaleFormatError(f"{reader.path}: step {step} holds table {names[info.table]!r} twice")
        current[info.table] = decoded
    if current:
        piece = assemble(current)
        bar.update(piece.num_events)
        yield piece
    bar.close()


def info(path: PathLike, *, model: PathLike | None = None) -> dict[str, Any]:
    """Byte breakdown and honest ratio of a ``.bale`` file.

    For a file compressed with an external ``model``, pass the model file to also get the
    ratio with the model's bytes counted (as if it were shipped with this one file).
    """
    with BaleReader(path) as reader:
        if reader.header.get("kind") == "grid":
            reader.close()
            return grid_info(path, model=model)
        if reader.header.get("kind") == MEMBERS_KIND:
            from bale.api.root_file import root_file_info

            return root_file_info(reader, path)
        return _info_reader(reader, path, model)


def _info_reader(reader: BaleReader, path: PathLike, model: PathLike | None) -> dict[str, Any]:
    """info() of one table or one tree's dataset."""
    header = reader.header
    schema = [c for t in reader.tables for c in t["schema"]]
    kinds = {c["name"]: c["predictor"] for c in schema}
    per_column: dict[str, int] = {c["name"]: 0 for c in schema}
    rows_of = {c["name"]: reader.table_rows[i] for i, t in enumerate(reader.tables) for c in t["schema"]}
    latent = 0
    for chunk in reader.chunks:
        for name, length, _ in chunk.sections:
            if name == LATENT_SECTION:
                latent += length
            elif name in per_column:
                per_column[name] += length
    groups = {"exact columns": 0, "predicted residuals": 0, "fallback columns": 0, "quantity columns": 0}
    for name, size in per_column.items():
        kind = kinds[name]
        group = (
            "exact columns"
            if kind == "exact"
            else ("predicted residuals" if kind in ("relation", "learned") else "fallback columns")
        )
        groups["quantity columns" if kind == "quantity" else group] += size
    if not groups["quantity columns"]:
        del groups["quantity columns"]
    embedded = bool(header["model"].get("embedded"))
    model_bytes = reader.model_bytes
    total = reader.size
    raw = int(reader.footer.get("raw_bytes", header.get("raw_bytes", 0)))  # version 1 kept it in the header
    breakdown = {
        "header": reader.header_bytes,
        "model": model_bytes,
        "latents": latent,
        **groups,
        "index": reader.footer_bytes,
    }
    result: dict[str, Any] = {
        "file": str(path),
        "format_version": reader.version,
        "created_by": header.get("created_by"),
        "rows": reader.num_rows,
        "columns": len(per_column),
        "chunks": len(reader.chunks),
        "raw_bytes": raw,
        "file_bytes": total,
        "bytes": breakdown,
        "model": {"embedded": embedded, "sha256": header["model"].get("sha256")},
        "ratio": round(raw / total, 4) if total else None,
        "per_column": {
            c["name"]: {
                "bound": c["bound"],
                "predictor": c["predictor"],
                "bytes": per_column[c["name"]],
                "bits_per_value": round(8 * per_column[c["name"]] / max(rows_of[c["name"]], 1), 3),
            }
            for c in schema
        },
    }
    declared = [q for t in reader.tables for q in t.get("quantities") or [] if isinstance(q, dict)]
    if declared:  # the section of a quantity's column codes it, and its patches (docs/codec.md)
        result["quantities"] = {
            str(q.get("quantity")): {
                "bound": q.get("bound"),
                "column": q.get("column"),
                "mode": q.get("mode"),
                "bytes": per_column.get(str(q.get("column")), 0),
            }
            for q in declared
        }
    try:
        depends = _dependencies(reader, model)
    except BaleFormatError as exc:  # info is a diagnosis: it shows the bytes of a file it cannot decode
        depends = None
        result["model"]["problem"] = str(exc)
    if depends is not None:  # what decoding one column alone decodes besides it (docs/analysis.md)
        for name, needs in depends.items():
            result["per_column"][name]["depends_on"] = needs
    if len(reader.tables) > 1:
        result["tables"] = {
            t["name"]: {"rows": reader.table_rows[i], "columns": len(t["schema"]), "counter": t.get("counter")}
            for i, t in enumerate(reader.tables)
        }
    if embedded:
        result["ratio_without_model"] = round(raw / (total - model_bytes), 4)
    elif model is not None:
        external = Path(model).read_bytes() if Path(model).is_file() else None
        if external is None:
            raise BaleInputError(f"no such model file: {model}")
        if hashlib.sha256(external).hexdigest() != header["model"].get("sha256"):
            raise BaleModelMismatchError(f"{path} was not compressed with the model {model}")
        result["ratio_with_model"] = round(raw / (total + len(external)), 4)
        result["model"]["bytes"] = len(external)
    return result


def _dependencies(reader: BaleReader, model: PathLike | None) -> dict[str, list[str]] | None:
    """Per column, the columns decoding it alone decodes too (its dependency closure), when the model is at hand."""
    if not reader.header["model"].get("embedded") and model is None:
        return None
    coders = _open_model(reader, model)
    out: dict[str, list[str]] = {}
    for coder in coders:
        for plan in coder.columns:
            out[plan.name] = [n for n in closure(coder, [plan.name]) if n != plan.name]
    return out


def _update_digests(digests: Mapping[str, Any], piece: Dataset) -> None:
    """Add the next rows of every exact column to its SHA-256 (little-endian bytes, chunking-independent)."""
    for table in piece.tables.values():
        for name, values in table.columns.items():
            if name in digests:
                digests[name].update(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).data)


def _verify_grids(path: PathLike, model: Any, started: float) -> dict[str, Any]:
    """verify() of a grid file: every checksum, every grid decoded in memory (docs/grids.md)."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise BaleInputError("a grid file is verified with the path of its conv model")
    grids = decompress_grid(path, None, model=model)
    with BaleReader(path) as reader:
        version, chunks = reader.version, len(reader.chunks)
    return {
        "file": str(path),
        "ok": True,
        "format_version": version,
        "kind": "grid",
        "grids": {name: list(a.shape) for name, a in grids.items()},
        "chunks": chunks,
        "exact_sha256_checked": False,
        "seconds": round(time.perf_counter() - started, 3),
    }


def verify(path: PathLike, *, model: CompressionModel | DatasetModel | PathLike | None = None) -> dict[str, Any]:
    """Check a ``.bale`` file without writing anything; returns a summary, raises on any damage.

    Checks every checksum (header, model, index and each section), decodes every chunk into
    memory one at a time (discarding the values), checks that each decoded column has its
    rows and dtype and that a dataset's steps hold together, and compares the SHA-256 of
    every exact column with the one stored at compress time (files written before bale kept
    it have none). The error bounds of lossy columns cannot be checked without the original.
    A damaged file raises :class:`BaleFormatError` naming the chunk (table, rows) and
    section; the wrong external model :class:`BaleModelMismatchError`.
    """
    started = time.perf_counter()
    with BaleReader(path) as reader:
        if reader.header.get("kind") == "grid":
            reader.close()
            return _verify_grids(path, model, started)
        if reader.header.get("kind") == MEMBERS_KIND:
            from bale.api.root_file import verify_root_file

            return verify_root_file(reader, path, started)
        return _verify_reader(reader, path, model, started)


def _verify_reader(
    reader: BaleReader, path: PathLike, model: CompressionModel | DatasetModel | PathLike | None, started: float
) -> dict[str, Any]:
    """verify() of one table or one tree's dataset."""
    coders = _open_model(reader, model)
    stored = reader.footer.get("exact_sha256")
    exact = {c["name"] for t in reader.tables for c in t["schema"] if c["bound"] == "exact"}
    if stored is not None and (
        not isinstance(stored, dict)
        or set(stored) != exact
        or not all(isinstance(v, str) for v in stored.values())
    ):
        raise BaleFormatError(f"{reader.path}: bad exact_sha256 in the index")
    digests = {n: hashlib.sha256() for n in exact}
    dtypes = [{c["name"]: np.dtype(c["dtype"]) for c in t["schema"]} for t in reader.tables]
    if len(reader.tables) > 1:
        for piece in _decode_steps(reader, coders, False, 1):
            _update_digests(digests, piece)
    else:
        for i, (chunk, sections) in enumerate(reader.iter_chunks()):
            decoded = decode_chunk(sections, chunk.rows, coders[0], reader.version)
            for name, dtype in dtypes[0].items():
                values = decoded.get(name)
                if values is None or len(values) != chunk.rows or values.dtype != dtype:
                    raise BaleFormatError(f"{reader.path}: chunk {i}: column {name!r} did not decode whole")
            _update_digests(digests, Dataset.single(Table(decoded)))
    if stored is not None:
        bad = sorted(n for n, d in digests.items() if d.hexdigest() != stored[n])
        if bad:
            raise BaleFormatError(f"{reader.path}: exact column(s) {bad} decode to other values than were stored")
    return {
        "file": str(path),
        "ok": True,
        "format_version": reader.version,
        "rows": reader.num_rows,
        "tables": len(reader.tables),
        "columns": sum(len(t["schema"]) for t in reader.tables),
        "chunks": len(reader.chunks),
        "exact_sha256_checked": stored is not None,
        "seconds": round(time.perf_counter() - started, 3),
    }
