"""What an evaluation reads: the two sides, their bounds, the training record and the ``[evaluate]`` config.

Kept apart from the numbers so that the metrics work on tables in memory and only this
module knows about files: a ``.bale`` file is recognised by its magic bytes (whatever its
name) and decompressed in memory, anything else is read as a table file.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bale.api import as_dataset, as_table, decompress, info
from bale.bounds import Bound, parse_bound
from bale.config import read_toml
from bale.container import MAGIC, BaleReader
from bale.errors import BaleConfigError, BaleInputError
from bale.evaluate.results import TrainingRecord
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel, model_from_bytes
from bale.table import Dataset, Fields, Forest, Table

__all__ = [
    "EvaluateOptions",
    "as_evaluation_dataset",
    "file_bounds",
    "is_bale_file",
    "is_root",
    "jsonable",
    "load_side",
    "read_options",
    "training_records",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

NO_MODEL = "No model was given, so there is no training history to show (pass the model file with --model)."
EMBEDDED_WITHOUT_RECORD = (
    "The file's embedded model carries no training record: bale leaves the record out of .bale files "
    "to save bytes. Train with `bale train DATA -o model.safetensors`, compress with `--model`, and pass "
    "the same model file to `bale evaluate --model` to see the loss curves."
)


def is_bale_file(path: PathLike) -> bool:
    """True for a ``.bale`` container, recognised by its first bytes rather than its name."""
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def is_root(path: PathLike) -> bool:
    """True for a ROOT file (by its extension, as bale's readers decide)."""
    return Path(path).suffix.lower() == ".root"


def as_evaluation_dataset(data: Any) -> Dataset:
    """Anything bale reads (a path, a Table, a Dataset, pandas, pyarrow, a dict of arrays) as a Dataset."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return as_dataset(data)
    return Dataset.single(as_table(data))


def load_side(path: PathLike, columns: Sequence[str] | None, tree: str | None) -> Dataset:
    """A table file (or a ROOT tree with collections) as a Dataset; ``columns`` are names, or globs for ROOT."""
    p = Path(path)
    if not p.is_file():
        raise BaleInputError(f"no such file: {p}")
    return as_dataset(p, columns=list(columns) if columns else None, tree=tree)


def file_bounds(path: PathLike) -> dict[str, Bound]:
    """The bound each column of a ``.bale`` file was compressed with, from its header."""
    summary = info(path)
    if "trees" in summary:
        raise BaleInputError(
            f"{path} holds a whole ROOT file ({', '.join(summary['trees'])}): evaluate one tree at a time "
            "(bale compress FILE.root --tree NAME)"
        )
    if "grids" in summary:
        raise BaleInputError(f"{path} holds fields: bale evaluate --grid judges them")
    return {name: parse_bound(column["bound"]) for name, column in summary["per_column"].items()}


def file_quantities(path: PathLike) -> list[str]:
    """The quantities a ``.bale`` file's header declares, as ``FUNCTION(COLUMNS):BOUND``."""
    summary = info(path)
    if "trees" in summary or "grids" in summary:
        return []
    return [f"{label}:{q['bound']}" for label, q in (summary.get("quantities") or {}).items()]


def decompress_bale(path: PathLike, model: PathLike | None) -> Dataset:
    """A ``.bale`` file decoded in memory, as a Dataset."""
    decoded = decompress(path, model=model)
    if isinstance(decoded, Forest):
        raise BaleInputError(
            f"{path} holds a whole ROOT file ({', '.join(decoded.trees)}): evaluate one tree at a time "
            "(bale compress FILE.root --tree NAME)"
        )
    if isinstance(decoded, Fields):
        raise BaleInputError(f"{path} holds N-D fields, not a table or events: they are evaluated as fields")
    return decoded if isinstance(decoded, Dataset) else Dataset.single(decoded)


def embedded_model(path: PathLike) -> CompressionModel | DatasetModel | None:
    """The model stored inside a ``.bale`` file, if any."""
    with BaleReader(path) as reader:
        data = reader.model()
    return model_from_bytes(data) if data is not None else None


def training_records(model: CompressionModel | DatasetModel | None) -> tuple[dict[str, TrainingRecord], str | None]:
    """Per table, the network's training record (loss per epoch, best epoch); or why there is none.

    bale's trainer stores ``info["training"]`` (``history``: ``epoch``, ``train``, ``val``,
    ``lr`` per epoch; ``best_epoch``; ``epochs``; ``seconds``) in a model file; a model
    embedded in a ``.bale`` file has it stripped.
    """
    if model is None:
        return {}, NO_MODEL
    tables = DatasetModel.of(model).tables
    records: dict[str, TrainingRecord] = {}
    untrained: list[str] = []
    for name, table_model in tables.items():
        training = table_model.info.get("training") if isinstance(table_model.info, dict) else None
        if isinstance(training, dict) and training.get("history"):
            records[name] = {
                "history": list(training["history"]),
                "best_epoch": training.get("best_epoch"),
                "loss": training.get("loss"),
                "epochs": training.get("epochs"),
                "seconds": training.get("seconds"),
                "network_kept": table_model.network is not None,
            }
        elif table_model.info:
            untrained.append(name or "table")
    if records:
        return records, None
    if untrained:
        return {}, (
            f"No network was trained for {', '.join(untrained)}: relations and classical coding only "
            "(too few rows, or model.learned = false), so there are no loss curves."
        )
    return {}, EMBEDDED_WITHOUT_RECORD


class EvaluateOptions:
    """The ``[evaluate]`` section of a TOML file: four-vectors by name, sample size, seed.

    ``four_vectors`` maps an object name to its columns, by role (``{pt = "jpt", eta = "jeta",
    phi = "jphi", mass = "jm"}`` or ``{E = …, px = …, py = …, pz = …}``) or as four columns in
    ``pt, eta, phi, mass`` order. Objects named ``…1`` and ``…2`` form a pair.
    """

    def __init__(
        self,
        four_vectors: Mapping[str, Any] | None = None,
        max_rows: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.four_vectors = dict(four_vectors or {})
        self.max_rows = max_rows
        self.seed = seed


def read_options(path: PathLike | None) -> EvaluateOptions:
    """Read the ``[evaluate]`` section of a TOML file (other sections are ignored); defaults without a file."""
    if path is None:
        return EvaluateOptions()
    p = Path(path)
    section = read_toml(p).get("evaluate", {})
    if not isinstance(section, dict):
        raise BaleConfigError(f"{p}: [evaluate] must be a table")
    unknown = sorted(set(section) - {"four_vectors", "max_rows", "seed"})
    if unknown:
        raise BaleConfigError(f"{p}: unknown key(s) in [evaluate]: {unknown}; known: four_vectors, max_rows, seed")
    vectors = section.get("four_vectors", {})
    if not isinstance(vectors, dict):
        raise BaleConfigError(f"{p}: evaluate.four_vectors must be a table of name = {{role = column, ...}}")
    for key in ("max_rows", "seed"):
        if key in section and (not isinstance(section[key], int) or section[key] < (1 if key == "max_rows" else 0)):
            raise BaleConfigError(f"{p}: evaluate.{key} must be a {'positive' if key == 'max_rows' else ''} integer")
    return EvaluateOptions(vectors, section.get("max_rows"), section.get("seed"))


def parse_four_vector_options(values: Sequence[str]) -> dict[str, dict[str, str] | list[str]]:
    """CLI ``--four-vector NAME:ROLE=COL,ROLE=COL,…`` (or ``NAME:COL,COL,COL,COL`` in pt, eta, phi, mass order)."""
    result: dict[str, dict[str, str] | list[str]] = {}
    for value in values:
        name, sep, spec = value.partition(":")
        if not sep or not name or not spec:
            raise BaleConfigError(f"bad --four-vector {value!r}: expected NAME:pt=COL,eta=COL,phi=COL,mass=COL")
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if all("=" in p for p in parts):
            result[name] = {p.partition("=")[0]: p.partition("=")[2] for p in parts}
        elif not any("=" in p for p in parts):
            result[name] = parts
        else:
            raise BaleConfigError(f"bad --four-vector {value!r}: mix of ROLE=COL and plain columns")
    return result


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy types made plain and every NaN or ±inf written as ``null``, so the JSON is strict."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (Bound, Path)):
        return str(obj)
    if isinstance(obj, Table):
        return {"columns": list(obj.columns)}
    return json.loads(json.dumps(obj, default=str))
