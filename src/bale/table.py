"""The in-memory table that flows between readers, the codec and writers.

A :class:`Table` is an ordered mapping of column name to a one-dimensional NumPy
array, all of the same length, plus ``source`` metadata that a writer needs to
give back the input's structure (for example the ROOT tree name, the HDF5
dataset paths, or the shape of a 2-D ``.npy`` array).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.errors import BaleInputError

__all__ = ["Table"]


@dataclass
class Table:
    """Columns of equal length, in order, and the metadata to write them back."""

    columns: dict[str, np.ndarray]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = set()
        for name, values in self.columns.items():
            if not isinstance(name, str) or not name:
                raise BaleInputError(f"column names must be non-empty strings, got {name!r}")
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise BaleInputError(f"column {name!r} is not one-dimensional (shape {arr.shape})")
            if arr.dtype.kind not in "biuf":
                raise BaleInputError(
                    f"column {name!r} has dtype {arr.dtype}, bale compresses numeric and bool columns only"
                )
            self.columns[name] = arr
            lengths.add(len(arr))
        if len(lengths) > 1:
            raise BaleInputError(f"columns have different lengths: {sorted(lengths)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: dict[str, Any] | None = None) -> Table:
        return cls({str(k): np.asarray(v) for k, v in data.items()}, dict(source or {}))

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def nbytes(self) -> int:
        """Raw size in bytes: what the ratio is measured against."""
        return int(sum(v.nbytes for v in self.columns.values()))

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def slice(self, start: int, stop: int) -> Table:
        return Table({k: v[start:stop] for k, v in self.columns.items()}, dict(self.source))
