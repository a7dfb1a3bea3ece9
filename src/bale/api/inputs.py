"""Inputs: any table, dataset or file read into bale's tables, and the bound of each column.

A path (Parquet, NumPy, HDF5, CSV, zarr, ROOT), a pandas, polars or pyarrow table, a dict of
arrays, a NumPy structured or 2-D array or a :class:`~bale.table.Table` all become a
:class:`~bale.table.Table` or :class:`~bale.table.Dataset` here (:class:`_Source` reads ROOT
trees in steps of whole events).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import bale.frames as frames
from bale.bounds import Bound, parse_bound, parse_bound_options, resolve_bounds
from bale.errors import BaleInputError
from bale.io import detect_format, read_table
from bale.stages import stage
from bale.table import Dataset, Table, check_column_names

if TYPE_CHECKING:  # the config (pydantic), ROOT reading (uproot) and training are imported where used
    from bale.config import BaleConfig

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
    from bale.config import BaleConfig, load_config
    from bale.training.families import family_of

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
            from bale.io.root_events import iter_dataset

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
        from bale.io.root_events import iter_dataset

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
        from bale.io.root_events import empty_dataset

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


def _dtypes(dataset: Dataset) -> dict[str, np.dtype]:
    return {c: v.dtype for t in dataset.tables.values() for c, v in t.columns.items()}
