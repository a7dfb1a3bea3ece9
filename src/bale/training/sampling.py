"""Training samples: which rows a model learns from.

Two samplers, for two different questions:

- :func:`sample_files` draws one training sample across several input files (``bale train``
  on many files, :func:`bale.batch.sample_rows`): each file gives an equal share of the rows
  still to draw, at most ``train_fraction`` of its own events.
- :func:`sample_row_blocks` picks, inside the one table a model is fitted to, the rows the
  predictor choice and the network look at: contiguous blocks, so that delta coding is costed
  on neighbouring rows.

:func:`draw_events` is the step both of them share with ``train(..., train_fraction=...)`` on
one input: a random part of a dataset's events, kept in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bale.errors import BaleInputError
from bale.table import Dataset, Table

__all__ = ["BLOCK_ROWS", "draw_events", "sample_files", "sample_row_blocks"]

log = logging.getLogger(__name__)

#: Rows are sampled inside a table in contiguous blocks of this many rows.
BLOCK_ROWS = 1024


def sample_row_blocks(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted row indices of a table of ``n`` rows: all, or random contiguous blocks adding up to ``max_rows``."""
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // BLOCK_ROWS)
    chosen = np.sort(rng.choice(n_blocks, size=max(1, max_rows // BLOCK_ROWS), replace=False))
    rows = (chosen[:, None] * BLOCK_ROWS + np.arange(BLOCK_ROWS)[None, :]).ravel()
    return rows[rows < n]


def check_fraction(fraction: float | None) -> None:
    if fraction is not None and not 0 < fraction <= 1:
        raise BaleInputError(f"train_fraction must be in (0, 1], not {fraction}")


def draw_events(
    dataset: Dataset, fraction: float | None, rng: np.random.Generator, limit: int | None = None
) -> Dataset:
    """A random ``fraction`` of the events (at least one, at most ``limit``), kept in order.

    A dataset with collections gives a random run of consecutive events (whole events keep the
    structure simple); a flat one random rows, drawn without replacement.
    """
    check_fraction(fraction)
    n = dataset.num_events
    take = min(n, max(1, round((fraction or 1.0) * n)), limit if limit is not None else n)
    if take >= n:
        return dataset
    if dataset.counters:
        start = int(rng.integers(0, n - take + 1))
        return dataset.slice(start, start + take)
    rows = np.sort(rng.choice(n, take, replace=False))
    return Dataset.single(Table({k: v[rows] for k, v in dataset.main.columns.items()}, dict(dataset.main.source)))


def sample_files(
    paths: Sequence[Path],
    read: Callable[[Path, int], Dataset],
    *,
    max_rows: int,
    train_fraction: float | None = None,
    seed: int = 0,
) -> Dataset:
    """A training sample of at most ``max_rows`` events drawn across ``paths``, reproducibly.

    ``read(path, rows)`` gives the events of one file to draw from (at least ``rows`` rows of
    each table when the file has them). Files are read one at a time, in the order given.
    Each file gives an equal share of the rows still to draw (a small file leaves the rest of
    its share to the files after it), or ``train_fraction`` of its events if that is less
    (:func:`draw_events`, with one generator seeded by ``seed`` for all files). All files must
    have the same tables and columns with the same dtypes.
    """
    if not paths:
        raise BaleInputError("no input files to sample")
    if max_rows < 1:
        raise BaleInputError(f"max_rows must be at least 1, not {max_rows}")
    check_fraction(train_fraction)
    rng = np.random.default_rng(seed)
    parts: list[Dataset] = []
    remaining = max_rows
    for i, path in enumerate(paths):
        share = remaining // (len(paths) - i)
        piece = read(path, share)
        if parts:
            _check_like(path, piece, paths[0], parts[0])
        part = draw_events(piece, train_fraction, rng, limit=share)
        parts.append(part)
        remaining -= part.num_events
        log.debug("sampled %d of %d events from %s", part.num_events, piece.num_events, path)
    sample = Dataset.concat(parts)
    log.info("sampled %d rows from %d files", sample.num_events, len(paths))
    return sample


def _check_like(path: Path, piece: Dataset, first_path: Path, first: Dataset) -> None:
    """``piece`` (of ``path``) has the tables, columns and dtypes of ``first`` (of ``first_path``)."""
    if list(piece.tables) != list(first.tables):
        raise BaleInputError(
            f"{path} has other columns or tables than {first_path}: collections {list(piece.counters)} "
            f"vs {list(first.counters)}; train on like files only"
        )
    for name, table in first.tables.items():
        want = {n: v.dtype for n, v in table.columns.items()}
        have = {n: v.dtype for n, v in piece.tables[name].columns.items()}
        if set(have) != set(want):
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            raise BaleInputError(
                f"{path} has other columns than {first_path}: missing {missing}, unexpected {extra}; "
                "choose common ones (columns=, --columns)"
            )
        changed = sorted(n for n in want if have[n] != want[n])
        if changed:
            detail = ", ".join(f"{n} ({have[n]} vs {want[n]})" for n in changed)
            raise BaleInputError(f"{path} has other dtypes than {first_path}: {detail}")
