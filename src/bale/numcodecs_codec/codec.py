"""The numcodecs codec :class:`BaleCodec`: an array chunk in, the bytes of a ``.bale`` file out.

What it does with a chunk (layout, bounds, dtypes) is told in :mod:`bale.numcodecs_codec`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numcodecs.abc
import numcodecs.compat
import numcodecs.registry
import numpy as np

from bale.api import compress
from bale.bounds import parse_bound, parse_bound_options
from bale.errors import BaleFormatError, BaleInputError
from bale.models.bundle import DatasetModel, model_from_bytes
from bale.models.plan import CompressionModel
from bale.numcodecs_chunk import SOURCE_KEY, SOURCE_VERSION, array_dtype_error, decode_bytes, from_table
from bale.table import Table

__all__ = ["CODEC_ID", "ZARR_CODEC_NAME", "BaleCodec"]


CODEC_ID = "bale"
ZARR_CODEC_NAME = f"numcodecs.{CODEC_ID}"


def _single_model(data: bytes) -> CompressionModel:
    model = model_from_bytes(data)
    if isinstance(model, DatasetModel):
        raise BaleInputError(
            "BaleCodec needs the model of a single table; this is a dataset model with "
            f"collections {sorted(n for n in model.tables if n)}"
        )
    return model


def _default_columns(model: CompressionModel) -> list[str]:
    """The model's columns in the order of the table it was trained on (else in coding order)."""
    schema = model.info.get("schema")
    if isinstance(schema, list):
        names = [entry.get("name") for entry in schema if isinstance(entry, dict)]
        if sorted(map(str, names)) == sorted(model.names):
            return [str(n) for n in names]
    return list(model.names)


class BaleCodec(numcodecs.abc.Codec):  # type: ignore[misc]
    """Lossy, error-bounded numcodecs codec applying a trained bale model to array chunks.

    Parameters
    ----------
    model:
        The bytes of a single-table bale model (what :func:`bale.save_model` writes), base64
        encoded. :meth:`from_model` builds the codec from a model or a model file.
    columns:
        The model's columns in the order of the chunk's last axis (or, for one column, that
        column). Default: the order of the table the model was trained on.
    error, errors:
        Bounds as for :func:`bale.compress` (``"rel=1e-4"``; ``["mass:rel=1e-4", ...]``).
        Default: the bounds the model was trained with. A bound may change its value, not
        its mode, and integer columns are always exact.
    workers:
        Threads coding the ``.bale`` chunks within one array chunk.
    """

    codec_id = CODEC_ID

    def __init__(
        self,
        model: str,
        columns: Sequence[str] | None = None,
        error: str | None = None,
        errors: Sequence[str] | None = None,
        workers: int = 1,
    ) -> None:
        if not isinstance(model, str):
            raise BaleInputError("BaleCodec: model must be a base64 string; use BaleCodec.from_model")
        try:
            raw = base64.b64decode(model.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise BaleInputError("BaleCodec: model is not valid base64") from None
        self._model = _single_model(raw)
        self._sha256 = hashlib.sha256(raw).hexdigest()
        names = self._model.names
        if columns is None:
            chosen = _default_columns(self._model)
        else:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise BaleInputError("BaleCodec: columns must be a list of column names")
            chosen = list(columns)
            if sorted(chosen) != sorted(names) or len(set(chosen)) != len(chosen):
                raise BaleInputError(f"BaleCodec: columns must name each of the model's columns once: {names}")
        if error is not None:
            parse_bound(error)
        if errors is not None:
            if isinstance(errors, str):
                raise BaleInputError("BaleCodec: errors must be a list such as ['mass:rel=1e-4']")
            _, per_column = parse_bound_options(errors)
            unknown = sorted(set(per_column) - set(names))
            if unknown:
                raise BaleInputError(f"BaleCodec: bound for unknown column(s) {unknown}; columns are {names}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise BaleInputError(f"BaleCodec: workers must be a positive integer, got {workers!r}")
        self.model = model
        self.columns = chosen
        self.error = error
        self.errors = list(errors) if errors is not None else None
        self.workers = workers
        self._dtypes = {plan.name: np.dtype(plan.dtype) for plan in self._model.columns}

    @classmethod
    def from_model(
        cls,
        model: CompressionModel | str | os.PathLike[str],
        columns: Sequence[str] | None = None,
        *,
        error: str | None = None,
        errors: Sequence[str] | None = None,
        workers: int = 1,
    ) -> BaleCodec:
        """The codec of a trained model (a :class:`CompressionModel` or the path of a model file)."""
        if isinstance(model, DatasetModel):
            raise BaleInputError("BaleCodec needs the model of a single table, not a dataset model")
        if isinstance(model, CompressionModel):
            raw = model.to_bytes()
        elif isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise BaleInputError(f"no such model file: {path}")
            raw = path.read_bytes()
        else:
            raise BaleInputError(f"BaleCodec.from_model: expected a model or a path, got {type(model).__name__}")
        encoded = base64.b64encode(raw).decode("ascii")
        return cls(encoded, columns, error=error, errors=errors, workers=workers)

    # configuration -----------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """JSON-ready configuration; :func:`numcodecs.get_codec` makes an equal codec of it."""
        return {
            "id": self.codec_id,
            "model": self.model,
            "columns": list(self.columns),
            "error": self.error,
            "errors": list(self.errors) if self.errors is not None else None,
            "workers": self.workers,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaleCodec:
        config = dict(config)
        config.pop("id", None)
        return cls(**config)

    @property
    def compression_model(self) -> CompressionModel:
        """The model the codec codes with."""
        return self._model

    @property
    def model_sha256(self) -> str:
        """SHA-256 of the model's bytes (that of the model file it came from)."""
        return self._sha256

    def __repr__(self) -> str:
        bounds = "".join(f", {k}={v!r}" for k, v in (("error", self.error), ("errors", self.errors)) if v is not None)
        return (
            f"BaleCodec(model=<sha256 {self._sha256[:12]}…>, columns={self.columns!r}{bounds}, workers={self.workers})"
        )

    # layout ------------------------------------------------------------------------------

    def check_layout(self, shape: Sequence[int], dtype: np.dtype[Any]) -> str:
        """How an array of ``shape`` and ``dtype`` maps to the model's columns; raises if it cannot.

        Returns ``"structured"``, ``"flat"`` (one column) or ``"last_axis"``.
        """
        dtype = np.dtype(dtype)
        if dtype.names is not None:
            if sorted(dtype.names) != sorted(self.columns):
                raise BaleInputError(
                    f"BaleCodec: the structured dtype's fields {list(dtype.names)} are not the model's "
                    f"columns {self.columns}"
                )
            for name in self.columns:
                self._check_dtype(name, dtype[name])
            return "structured"
        for name in self.columns:
            self._check_dtype(name, dtype)
        if len(self.columns) == 1:
            return "flat"
        if len(shape) == 0 or shape[-1] != len(self.columns):
            raise BaleInputError(
                f"BaleCodec: an array of shape {tuple(shape)} does not fit a model of {len(self.columns)} columns "
                f"{self.columns}: its last axis must have length {len(self.columns)}"
            )
        return "last_axis"

    def _check_dtype(self, name: str, dtype: np.dtype[Any]) -> None:
        problem = array_dtype_error(name, np.dtype(dtype), self._model)
        if problem is not None:
            raise BaleInputError(f"BaleCodec: {problem}")

    def _to_table(self, arr: np.ndarray) -> Table:
        layout = self.check_layout(arr.shape, arr.dtype)
        if layout == "structured":
            flat = arr.reshape(-1)
            columns = {name: flat[name] for name in self.columns}
        elif layout == "flat":
            columns = {self.columns[0]: arr.reshape(-1)}
        else:
            rows = arr.reshape(-1, len(self.columns))
            columns = {name: rows[:, i] for i, name in enumerate(self.columns)}
        columns = {name: np.ascontiguousarray(values, dtype=self._dtypes[name]) for name, values in columns.items()}
        described = {
            "version": SOURCE_VERSION,
            "shape": [int(n) for n in arr.shape],
            "dtype": np.lib.format.dtype_to_descr(arr.dtype),
            "layout": layout,
            "columns": list(self.columns),
            "order": "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C",
        }
        return Table(columns, {SOURCE_KEY: described})

    # coding ------------------------------------------------------------------------------

    def _bounds(self) -> tuple[str | None, list[str]]:
        if self.error is None and self.errors is None:  # the model's own bounds
            return None, [f"{plan.name}:{plan.bound.to_json()}" for plan in self._model.columns]
        return self.error, list(self.errors or [])

    def encode(self, buf: Any) -> bytes:
        """The ``.bale`` file of the array chunk ``buf`` (lossy within the bounds), as bytes."""
        if isinstance(buf, (bytes, bytearray, memoryview)) and not isinstance(buf, np.ndarray):
            lossy = [p.name for p in self._model.columns if p.bound.mode != "exact"]
            if lossy:  # bytes are uint8 values: through a float bound they would come back changed
                raise BaleInputError(
                    f"BaleCodec: raw bytes cannot go through the lossy column(s) {lossy}; "
                    f"pass the array itself (np.frombuffer(buf, dtype=...))"
                )
        arr = np.asarray(numcodecs.compat.ensure_ndarray_like(buf))
        if arr.dtype == object:
            raise BaleInputError("BaleCodec: object arrays cannot be compressed")
        table = self._to_table(arr)
        error, errors = self._bounds()
        sink = io.BytesIO()  # in memory: no temporary file
        # compress() writes to a binary file object as well, though its signature names paths only
        compress(table, sink, model=self._model, error=error, errors=errors, workers=self.workers)  # type: ignore[arg-type]
        return sink.getvalue()

    def decode(self, buf: Any, out: Any = None) -> Any:
        """The array chunk of the ``.bale`` bytes ``buf``; copied into ``out`` when given."""
        data = numcodecs.compat.ensure_contiguous_ndarray(buf).view(np.uint8)
        decoded = from_table(decode_bytes(data.tobytes(), self._model, self._sha256, self.workers))
        if isinstance(out, np.ndarray) and out.shape == decoded.shape and out.dtype == decoded.dtype:
            np.copyto(out, decoded)  # element by element, whatever the memory orders
            return out
        size = np.asarray(out).nbytes if out is not None else decoded.nbytes
        if size != decoded.nbytes:
            raise BaleFormatError(f"BaleCodec: the chunk holds {decoded.nbytes} bytes, out has {size}")
        return numcodecs.compat.ndarray_copy(decoded, out)


numcodecs.registry.register_codec(BaleCodec)
