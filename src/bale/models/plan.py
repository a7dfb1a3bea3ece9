"""The compression model: everything besides the data that decoding needs.

It fixes the coding order of the columns, each column's bound and predictor, and the
network's weights. It is serialized as a safetensors file (the network's integer weights as int16 and int64 tensors,
the rest as JSON in the safetensors metadata): no pickle, nothing executes on load.
The same bytes are embedded in a ``.bale`` file or kept apart as a model file; their
SHA-256 identifies the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import safetensors.numpy

from bale.bounds import Bound, parse_bound
from bale.codec.context import MAX_BUCKETS, MAX_SOURCES
from bale.errors import BaleFormatError
from bale.models.predictor_kinds import (
    CODED,
    CONTEXT_USES,
    KIND_DELTA,
    KIND_EXACT,
    KIND_GRID,
    KIND_LEARNED,
    KIND_QUANTITY,
    KIND_RELATION,
    PREDICTOR_KINDS,
    ContextSource,
    PredictorKind,
    PredictorSpec,
)
from bale.models.quantities import QuantityPlan
from bale.models.registry import Network, network_from_config
from bale.models.relations import FORMULAS
from bale.safejson import MAX_HEADER, safetensors_metadata
from bale.safejson import loads as safe_loads

__all__ = [
    "KIND_DELTA",
    "KIND_EXACT",
    "KIND_GRID",
    "KIND_LEARNED",
    "KIND_QUANTITY",
    "KIND_RELATION",
    "METADATA_KEY",
    "MODEL_FORMAT_VERSION",
    "PREDICTOR_KINDS",
    "ColumnPlan",
    "CompressionModel",
    "ContextSource",
    "PredictorKind",
    "PredictorSpec",
    "load_safetensors",
    "save_safetensors",
]

MODEL_FORMAT_VERSION = 1
METADATA_KEY = "bale_model"


@dataclass
class ColumnPlan:
    """How one column is coded."""

    name: str
    dtype: str
    bound: Bound
    predictor: PredictorSpec  # {"kind": one of PREDICTOR_KINDS, ...}
    context: list[ContextSource] = field(default_factory=list)  # residuals' histograms chosen by these

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "dtype": self.dtype, "bound": self.bound.to_json(), "predictor": self.predictor}
        return {**out, "context": self.context} if self.context else out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnPlan:
        try:
            plan = cls(
                str(data["name"]),
                str(np.dtype(data["dtype"])),
                parse_bound(data["bound"]),
                cast(PredictorSpec, dict(data["predictor"])),
                [_context_source(c) for c in data.get("context", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError, SyntaxError) as exc:
            raise BaleFormatError(f"bad column plan: {exc}") from None
        if len(plan.context) > MAX_SOURCES:
            raise BaleFormatError(f"column {plan.name!r}: more than {MAX_SOURCES} context sources")
        dtype = np.dtype(plan.dtype)
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise BaleFormatError(f"column {plan.name!r}: dtype {dtype} cannot be coded")
        kind = plan.predictor.get("kind")
        if kind not in PREDICTOR_KINDS:
            raise BaleFormatError(f"column {plan.name!r}: unknown predictor {kind!r}")
        if kind == KIND_RELATION and plan.predictor.get("formula") not in FORMULAS:
            raise BaleFormatError(f"column {plan.name!r}: unknown relation {plan.predictor.get('formula')!r}")
        if kind == KIND_RELATION:
            inputs = plan.predictor.get("inputs")
            arity = FORMULAS[plan.predictor["formula"]][0]
            if not isinstance(inputs, list) or len(inputs) != arity or not all(isinstance(i, str) for i in inputs):
                raise BaleFormatError(f"column {plan.name!r}: bad inputs of its relation")
        index = plan.predictor.get("index")
        if kind == KIND_QUANTITY and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise BaleFormatError(f"column {plan.name!r}: bad quantity index {index!r}")
        head = plan.predictor.get("head")
        if kind == KIND_LEARNED and (not isinstance(head, int) or isinstance(head, bool) or head < 0):
            raise BaleFormatError(f"column {plan.name!r}: bad network head {head!r}")
        return plan


def _context_source(data: Any) -> ContextSource:
    source = ContextSource(column=data["column"], use=data["use"], buckets=data["buckets"])
    buckets = source["buckets"]
    if not isinstance(source["column"], str) or source["use"] not in CONTEXT_USES:
        raise ValueError(f"bad context source {data!r}")
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 2 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"bad context source {data!r}")
    return source


@dataclass
class CompressionModel:
    columns: list[ColumnPlan]  # in coding order
    network: Network | None = None
    info: dict[str, Any] = field(default_factory=dict)  # training history, estimates; not needed to decode
    quantities: list[QuantityPlan] = field(default_factory=list)  # bounds on quantities of several columns

    def quantity_of(self, plan: ColumnPlan) -> QuantityPlan:
        """The quantity whose derived column ``plan`` is (its predictor's kind is ``quantity``)."""
        return self.quantities[int(plan.predictor["index"])]

    def check_quantities(self) -> None:
        """What decoding relies on: a quantity's columns exist, its own comes last of them and points back; a
        relation (of a column or of a quantity's value) uses only columns decoded before (else BaleFormatError)."""
        coding = [c for c in self.columns if c.predictor["kind"] == KIND_EXACT]  # exact columns are decoded first
        coding += [c for c in self.columns if c.predictor["kind"] != KIND_EXACT]
        position = {c.name: i for i, c in enumerate(coding)}
        for i, q in enumerate(self.quantities):
            label = q.spec.label
            if any(c not in position for c in q.inputs):
                raise BaleFormatError(f"quantity {label}: names a column the model does not code")
            derived = self.columns[position[q.derived]]
            if derived.predictor != {"kind": KIND_QUANTITY, "index": i} or derived.bound.mode == "exact":
                raise BaleFormatError(f"quantity {label}: its column {q.derived!r} is not coded for it")
            if any(position[c] > position[q.derived] for c in q.inputs):
                raise BaleFormatError(f"quantity {label}: {q.derived!r} is not the last of its columns")
            inner = ColumnPlan.from_json({**derived.to_json(), "predictor": q.predictor})
            if any(position.get(c, len(position)) >= position[q.derived] for c in inner.predictor.get("inputs", [])):
                raise BaleFormatError(f"quantity {label}: predicted from a column not decoded before {q.derived!r}")
            if q.mode == "value" and inner.predictor["kind"] not in CODED[:3]:
                raise BaleFormatError(f"quantity {label}: predictor {inner.predictor['kind']!r} for its value")
            for other in self.quantities[:i]:  # a later one's all-raw rows must not break an earlier one
                first, then = sorted((other, q), key=lambda x: position[x.derived])
                shared = set(other.inputs) & set(q.inputs)
                if shared and not set(first.inputs) <= set(then.inputs):
                    raise BaleFormatError(f"quantities {other.spec.label} and {label} share {sorted(shared)}")
        for plan in self.columns:
            if plan.predictor["kind"] == KIND_RELATION and any(
                position.get(c, len(position)) >= position[plan.name] for c in plan.predictor["inputs"]
            ):
                raise BaleFormatError(f"column {plan.name!r}: predicted from a column not decoded before it")
            index = plan.predictor.get("index") if plan.predictor["kind"] == KIND_QUANTITY else None
            if index is not None and (index >= len(self.quantities) or self.quantities[index].derived != plan.name):
                raise BaleFormatError(f"column {plan.name!r} refers to a missing quantity")

    def check_contexts(self) -> None:
        """A column's context sources are decoded before it and give integers: an exact integer column,
        or a lossy column of its own section (not a quantity's); the column itself is such a lossy one,
        or an exact integer column in the context of exact ones."""
        coding = [c for c in self.columns if c.predictor["kind"] == KIND_EXACT]
        coding += [c for c in self.columns if c.predictor["kind"] != KIND_EXACT]
        position = {c.name: i for i, c in enumerate(coding)}
        for plan in coding:
            if not plan.context:
                continue
            exact = plan.predictor["kind"] == KIND_EXACT and np.dtype(plan.dtype).kind in "biu"
            if plan.predictor["kind"] not in CODED and not exact:
                raise BaleFormatError(f"column {plan.name!r}: a {plan.predictor['kind']} column has no context")
            for source in plan.context:
                other = next((c for c in coding if c.name == source["column"]), None)
                if other is None or position[other.name] >= position[plan.name]:
                    raise BaleFormatError(f"column {plan.name!r}: context {source['column']!r} is not decoded before")
                integer = other.predictor["kind"] == KIND_EXACT and np.dtype(other.dtype).kind in "biu"
                if not integer and (exact or other.predictor["kind"] not in CODED):
                    raise BaleFormatError(f"column {plan.name!r}: context {other.name!r} gives no integers")

    def context_sources(self) -> set[str]:
        """The columns some column's residuals are coded in the context of."""
        return {source["column"] for plan in self.columns for source in plan.context}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnPlan:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def metadata(self, *, with_info: bool = True) -> dict[str, Any]:
        """Everything but the weights, as JSON-ready data."""
        return {
            "version": MODEL_FORMAT_VERSION,
            "columns": [c.to_json() for c in self.columns],
            "network": self.network.get_config() if self.network is not None else None,
            "info": self.info if with_info else {},
            **({"quantities": [q.to_json() for q in self.quantities]} if self.quantities else {}),
        }

    def tensors(self) -> dict[str, np.ndarray]:
        return self.network.storage() if self.network is not None else {}

    def to_bytes(self, *, with_info: bool = True) -> bytes:
        """Serialize; ``with_info=False`` leaves out the training record (for embedding in a file)."""
        return save_safetensors(self.tensors(), {METADATA_KEY: self.metadata(with_info=with_info)})

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_parts(cls, meta: Any, tensors: dict[str, np.ndarray]) -> CompressionModel:
        if not isinstance(meta, dict) or meta.get("version") != MODEL_FORMAT_VERSION:
            version = meta.get("version") if isinstance(meta, dict) else None
            raise BaleFormatError(f"unsupported model format version {version!r}")
        columns = [ColumnPlan.from_json(c) for c in meta.get("columns", [])]
        network = None
        if meta.get("network") is not None:
            network = network_from_config(meta["network"], tensors)
        quantities = [QuantityPlan.from_json(q) for q in meta.get("quantities") or []]
        model = cls(columns=columns, network=network, info=dict(meta.get("info") or {}), quantities=quantities)
        model.check_quantities()
        model.check_contexts()
        if network is not None and not set(network.context) <= set(model.names):
            unknown = sorted(set(network.context) - set(model.names))[:3]
            raise BaleFormatError(f"the network reads columns the model does not code: {unknown}")
        return model

    @classmethod
    def from_bytes(cls, data: bytes) -> CompressionModel:
        metadata, tensors = load_safetensors(data)
        if METADATA_KEY not in metadata:
            raise BaleFormatError("not a bale model: safetensors file without bale metadata")
        with model_errors():
            return cls.from_parts(metadata[METADATA_KEY], tensors)


@contextmanager
def model_errors() -> Iterator[None]:
    """Any error building a model from a file's metadata and tensors is a :class:`BaleFormatError`."""
    try:
        yield
    except BaleFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, SyntaxError) as exc:
        raise BaleFormatError(f"bad model: {type(exc).__name__}: {exc}") from None


def save_safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, Any]) -> bytes:
    """Tensors (sorted by name) and JSON metadata values as safetensors bytes."""
    if not tensors:
        tensors = {"_empty": np.zeros(0, dtype=np.float16)}
    meta = {k: json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    return bytes(safetensors.numpy.save(dict(sorted(tensors.items())), metadata=meta))


def load_safetensors(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON metadata values and the tensors of safetensors bytes; any damage is a BaleFormatError."""
    header = safetensors_metadata(data)  # length, size, depth checked before anything is parsed
    metadata = {k: safe_loads(v, f"model metadata {k[:40]!r}", max_bytes=MAX_HEADER) for k, v in header.items()}
    try:
        tensors = safetensors.numpy.load(bytes(data))
    except Exception as exc:  # safetensors raises its own error types on bad input
        raise BaleFormatError(f"not a valid bale model: {str(exc)[:200]}") from None
    return metadata, {k: v for k, v in tensors.items() if k != "_empty"}
