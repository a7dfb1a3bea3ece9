"""One model per table of a dataset (main table and collections), in one file.

A dataset's model is a :class:`DatasetModel`: the :class:`CompressionModel` of each table,
stored as one safetensors file whose tensor names carry the table's position
(``1/head.w1``) and whose metadata key ``bale_dataset_model`` lists the tables' model
metadata in order. A dataset of one table uses the plain single-table model file, so a
model trained on a flat table is the same file it always was.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from bale.errors import BaleFormatError
from bale.models.plan import METADATA_KEY, CompressionModel, load_safetensors, model_errors, save_safetensors

__all__ = ["DATASET_METADATA_KEY", "DatasetModel", "model_from_bytes"]

DATASET_METADATA_KEY = "bale_dataset_model"
_VERSION = 1


@dataclass
class DatasetModel:
    tables: dict[str, CompressionModel]  # table name -> its model, the main table ("") first
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, model: CompressionModel | DatasetModel) -> DatasetModel:
        return model if isinstance(model, DatasetModel) else cls({"": model})

    def simplest(self) -> CompressionModel | DatasetModel:
        """A one-table model as the plain :class:`CompressionModel` it is stored as."""
        if list(self.tables) == [""] and not self.info:
            return self.tables[""]
        return self

    def to_bytes(self, *, with_info: bool = True) -> bytes:
        simplest = self.simplest()
        if isinstance(simplest, CompressionModel):
            return simplest.to_bytes(with_info=with_info)
        tensors = {}
        entries = []
        for i, (name, model) in enumerate(self.tables.items()):
            tensors.update({f"{i}/{k}": v for k, v in model.tensors().items()})
            entries.append({"name": name, "model": model.metadata(with_info=with_info)})
        meta = {"version": _VERSION, "tables": entries, "info": self.info if with_info else {}}
        return save_safetensors(tensors, {DATASET_METADATA_KEY: meta})

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


def model_from_bytes(data: bytes) -> CompressionModel | DatasetModel:
    """A model file's model: one table's, or a dataset's; a damaged or forged one is a :class:`BaleFormatError`."""
    metadata, tensors = load_safetensors(data)
    with model_errors():
        return _from_parts(metadata, tensors)


def _from_parts(metadata: dict[str, Any], tensors: dict[str, Any]) -> CompressionModel | DatasetModel:
    if METADATA_KEY in metadata:
        return CompressionModel.from_parts(metadata[METADATA_KEY], tensors)
    meta = metadata.get(DATASET_METADATA_KEY)
    if meta is None:
        raise BaleFormatError("not a bale model: safetensors file without bale metadata")
    if not isinstance(meta, dict) or meta.get("version") != _VERSION or not isinstance(meta.get("tables"), list):
        raise BaleFormatError("unsupported dataset model")
    tables: dict[str, CompressionModel] = {}
    by_table: dict[str, dict[str, Any]] = {}  # one pass over the tensors: K tables and K tensors are not K^2 steps
    for key, value in tensors.items():
        prefix, _, rest = key.partition("/")
        by_table.setdefault(prefix, {})[rest] = value
    for i, entry in enumerate(meta["tables"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or entry["name"] in tables:
            raise BaleFormatError("bad table entry in a dataset model")
        tables[entry["name"]] = CompressionModel.from_parts(entry.get("model"), by_table.get(str(i), {}))
    if "" not in tables:
        raise BaleFormatError("a dataset model needs a model for the main table")
    return DatasetModel(tables, dict(meta.get("info") or {}))
