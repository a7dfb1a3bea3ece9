"""Code one chunk of rows with a compression model: the heart of compress and decompress.

Columns are coded in the model's order. Exact columns go first and losslessly; then the
latents (if the model has a network); then each lossy column around its prediction, which
may use every column decoded before it. The encoder keeps the values exactly as the decoder
will produce them, so both sides predict from the same inputs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from bale.codec import LATENT_SECTION
from bale.codec.context import MIN_BUCKET_VALUES, ResidualContext, choose_sources, narrow
from bale.codec.exact import decode_exact, encode_exact
from bale.codec.lossy import FLIPPED, Prediction, decode_lossy, encode_lossy
from bale.codec.uint_stream import STREAM_VERSION, decode_ints, decode_uints, encode_uints, zigzag
from bale.codec.varint import ByteReader, block
from bale.errors import BaleFormatError
from bale.models.plan import KIND_GRID, ColumnPlan, CompressionModel, ContextSource
from bale.models.quantity_coding import coding_bound, decode_quantity, encode_quantity
from bale.models.relations import Relation, relation_prediction

__all__ = [
    "CONTEXT_VERSION",
    "DEFAULT_WORKERS",
    "LATENT_SECTION",
    "choose_contexts",
    "closure",
    "decode_chunk",
    "encode_chunk",
    "map_chunks",
]

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_WORKERS = 2
CONTEXT_VERSION = 3  # the container format version from which a column's residuals may have contexts

log = logging.getLogger(__name__)


class _Context:
    """Decoded columns so far, and the network features built from them."""

    def __init__(self, model: CompressionModel, n: int) -> None:
        self.model = model
        self.n = n
        self.decoded: dict[str, np.ndarray] = {}
        self.net = model.network
        self.latent = np.zeros((n, 0), np.int64)
        # column-major, so that adding a column writes contiguous memory and heads read it without a copy
        self.features = np.zeros((len(self.net.context) if self.net else 0, n), np.float64).T
        # features only of the columns some head looks at
        self.inputs = {self.net.context[i]: i for i in set().union(*self.net.available)} if self.net else {}
        # per row, the integers of the columns some column's residuals are coded in the context of
        self.sources = model.context_sources()
        self.integers: dict[str, np.ndarray] = {}

    def add(self, name: str, values: np.ndarray, row_symbols: np.ndarray | None = None) -> None:
        self.decoded[name] = values
        if self.net is not None and name in self.inputs:
            i = self.inputs[name]
            self.features[:, i] = self.net.feature(i, values)
        if row_symbols is not None:
            self.integers[name] = row_symbols
        elif name in self.sources and name not in self.integers:  # an exact column (not a quantity's rewrite)
            self.integers[name] = values.astype(np.int64)

    def row_symbols(self, plan: ColumnPlan) -> np.ndarray | None:
        """Where a lossy column that is a context source puts its symbols per row."""
        return np.empty(self.n, np.int64) if plan.name in self.sources else None

    def residual_context(self, plan: ColumnPlan) -> ResidualContext | None:
        if not plan.context:
            return None
        values = [self.integers[s["column"]] for s in plan.context]
        values = [np.abs(v) if s["use"] == "magnitude" else v for v, s in zip(values, plan.context, strict=True)]
        return ResidualContext(values, [s["buckets"] for s in plan.context])

    def prediction(self, plan: ColumnPlan) -> Prediction:
        spec = plan.predictor
        kind = spec["kind"]
        if kind == KIND_GRID:
            return Prediction()
        if kind == "delta":
            return Prediction(delta=True)
        if kind == "relation":
            relation = Relation(spec["formula"], tuple(spec["inputs"]))
            missing = [i for i in relation.inputs if i not in self.decoded]
            if missing:
                raise BaleFormatError(f"column {plan.name!r} depends on {missing}, not decoded before it")
            return relation_prediction(relation, self.decoded, plan.bound)
        if kind == "learned":
            net = self.net
            head = int(spec["head"])
            if net is None or not 0 <= head < len(net.targets) or net.targets[head] != plan.name:
                raise BaleFormatError(f"column {plan.name!r} refers to a missing network head")
            return Prediction(value=net.predict(head, self.features, self.latent))
        raise BaleFormatError(f"column {plan.name!r}: predictor {kind!r} cannot code a lossy column")


def closure(model: CompressionModel, names: Iterable[str]) -> list[str]:
    """The sections decoding ``names`` needs, in coding order: the columns and what they are predicted from.

    An exact, ``grid`` or ``delta`` column needs nothing else; a ``relation`` its inputs; a
    ``learned`` column the context columns its network head sees, and ``@latent`` when the
    network has latents; any column the sources of its residuals' context. Dependencies are
    followed to the end (an input may be predicted too).
    """
    plans = {plan.name: plan for plan in model.columns}
    net = model.network
    needed: set[str] = set()
    todo = list(names)
    # a quantity's derived column may replace its other columns' values on some rows: each needs it
    rewritten: dict[str, list[str]] = {}
    for quantity in model.quantities:
        for c in quantity.inputs:
            rewritten.setdefault(c, []).append(quantity.derived)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        plan = plans.get(name)
        if plan is None:
            raise KeyError(name)
        needed.add(name)
        todo += rewritten.get(name, [])
        todo += [source["column"] for source in plan.context]
        spec = plan.predictor
        if spec["kind"] == "quantity":
            quantity = model.quantity_of(plan)
            todo += [c for c in quantity.inputs if c != name]
            spec = quantity.predictor
        if spec["kind"] == "relation":
            todo += [str(i) for i in spec["inputs"]]
        elif spec["kind"] == "learned" and net is not None:
            head = int(spec["head"])
            if 0 <= head < len(net.available):
                todo += [net.context[i] for i in net.available[head] if net.context[i] != name]
            if net.latent_dim > 0:
                needed.add(LATENT_SECTION)
    order = ([LATENT_SECTION] if LATENT_SECTION in needed else []) + model.names
    return [n for n in order if n in needed]


def _uses_latent(model: CompressionModel) -> bool:
    return model.network is not None and model.network.latent_dim > 0


@functools.cache
def _blas() -> ThreadpoolController:
    # finding the loaded BLAS libraries reads the process's memory map: once, not per chunk
    return ThreadpoolController()


def _one_blas_thread(model: CompressionModel) -> contextlib.AbstractContextManager[object]:
    """The network's products are small: one BLAS thread on cache-sized blocks beats several."""
    if model.network is None:
        return contextlib.nullcontext()
    limited: contextlib.AbstractContextManager[object] = _blas().limit(limits=1, user_api="blas")
    return limited


def encode_chunk(
    columns: Mapping[str, np.ndarray], model: CompressionModel, counts: np.ndarray | None = None
) -> dict[str, bytes]:
    """Encode one chunk; returns one byte string per section (latents, then columns in order).

    ``counts``: a collection's objects per event of the chunk, which a pair mass needs.
    """
    with _one_blas_thread(model):
        return _encode_chunk(columns, model, counts)


def _encode_chunk(
    columns: Mapping[str, np.ndarray],
    model: CompressionModel,
    counts: np.ndarray | None,
    keep: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, bytes]:
    n = len(next(iter(columns.values()))) if columns else 0
    ctx = _Context(model, n)
    sections: dict[str, bytes] = {}
    for plan in model.columns:
        if plan.predictor["kind"] == "exact":
            values = np.ascontiguousarray(columns[plan.name])
            sections[plan.name] = encode_exact(values, ctx.residual_context(plan))
            ctx.add(plan.name, values)
    if _uses_latent(model):
        net = model.network
        assert net is not None
        ctx.latent = net.encode(net.features(columns, n))
        sections[LATENT_SECTION] = b"".join(
            block(encode_uints(zigzag(ctx.latent[:, d]))) for d in range(net.latent_dim)
        )
    for plan in model.columns:
        if plan.predictor["kind"] == "exact":
            continue
        if plan.predictor["kind"] == "quantity":
            quantity = model.quantity_of(plan)
            prediction = ctx.prediction(_inner(plan, model))
            coded = encode_quantity(quantity, columns, ctx.decoded, prediction, plan.bound, counts)
            sections[plan.name] = coded.payload
            for name, values in coded.values.items():
                ctx.add(name, values)
            log.debug("quantity %s: rows rebuilt, derived raw, all raw: %s", quantity.spec.label, coded.levels)
            continue
        rows = ctx.row_symbols(plan) if keep is None else np.empty(n, np.int64)
        payload, decoded = encode_lossy(np.ascontiguousarray(columns[plan.name]), plan.bound, ctx.prediction(plan),
                                        ctx.residual_context(plan), rows)  # fmt: skip
        sections[plan.name] = payload
        ctx.add(plan.name, decoded, rows)
        if keep is not None and rows is not None:
            keep[plan.name] = (rows, decode_uints(ByteReader(payload).block(), n) <= FLIPPED)
    return sections


def choose_contexts(model: CompressionModel, columns: Mapping[str, np.ndarray]) -> None:
    """Give each lossy column the earlier columns whose integers code its residuals in the fewest bits.

    ``columns``: a sample of the table (the training sample), coded once with ``model``; then
    per column :func:`bale.codec.context.choose_sources` weighs every exact integer column and
    every earlier lossy column as a context, alone and in pairs. A model with quantities, or
    with a limit on closures, keeps its columns without contexts.
    """
    if model.quantities or model.info.get("max_closure") is not None:
        return
    for plan in model.columns:
        plan.context = []
    keep: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    _encode_chunk(columns, model, None, keep)
    integers: dict[str, np.ndarray] = {}
    sources: dict[tuple[str, str], np.ndarray] = {}  # every narrow source, as value and as magnitude
    for plan in [p for p in model.columns if p.predictor["kind"] == "exact" and np.dtype(p.dtype).kind in "biu"]:
        values = np.ascontiguousarray(columns[plan.name])
        plan.context = _exact_context(values, {name: v for (name, use), v in sources.items() if use == "value"})
        integers[plan.name] = values.astype(np.int64)
        sources.update(_narrow_sources(plan.name, integers[plan.name]))
    for plan in [p for p in model.columns if p.predictor["kind"] != "exact"]:
        if plan.name not in keep:
            continue
        rows, regular = keep[plan.name]
        symbols = rows[regular]
        if plan.predictor["kind"] == "delta":
            symbols = np.diff(symbols, prepend=np.int64(0))
        candidates: dict[tuple[str, str], np.ndarray] = {}
        for (name, use), values in sources.items():
            candidates[name, use] = values[regular]
        plan.context = [
            ContextSource(column=column, use=use, buckets=buckets)
            for column, use, buckets in choose_sources(symbols, candidates, checked=True)
        ]
        integers[plan.name] = rows
        sources.update(_narrow_sources(plan.name, rows))
        log.info("column %s: residuals in the context of %s", plan.name, plan.context)


def _narrow_sources(name: str, values: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """A column's integers as context sources (its magnitude too, where it has negative values), if narrow."""
    out = {(name, "value"): values} if narrow(values) else {}
    if values.min(initial=0) < 0:
        magnitude = np.abs(values)
        if narrow(magnitude):
            out[name, "magnitude"] = magnitude
    return out


def _exact_context(values: np.ndarray, earlier: Mapping[str, np.ndarray]) -> list[ContextSource]:
    """The earlier exact column (``earlier``: the narrow ones) whose buckets code ``values`` in the fewest
    real bytes, if that saves 2 %."""
    if len(values) < 2 * MIN_BUCKET_VALUES or not earlier:
        return []
    plain = len(encode_exact(values))
    best: tuple[int, list[ContextSource]] = (int(plain * 0.98), [])
    for name, source in earlier.items():
        for buckets in (16, 64):
            size = len(encode_exact(values, ResidualContext([source], [buckets])))
            if size < best[0]:
                best = (size, [ContextSource(column=name, use="value", buckets=buckets)])
    return best[1]


def _inner(plan: ColumnPlan, model: CompressionModel) -> ColumnPlan:
    """The plan the first block of a quantity's section is predicted with (its bound's mode, its predictor)."""
    quantity = model.quantity_of(plan)
    return ColumnPlan(plan.name, plan.dtype, coding_bound(quantity, plan.bound), quantity.predictor)


def decode_chunk(
    sections: Mapping[str, bytes | memoryview],
    n: int,
    model: CompressionModel,
    version: int = STREAM_VERSION,
    columns: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_chunk`; returns the columns in coding order. ``version``: the container's.

    With ``columns``, only those columns and their :func:`closure` are decoded (``sections``
    need hold no other), and only ``columns`` are returned; the values are the same as in a
    full decode.
    """
    wanted = None if columns is None else list(columns)
    needed = None if wanted is None else set(closure(model, wanted))
    with _one_blas_thread(model):
        decoded = _decode_chunk(sections, n, model, version, needed)
    if wanted is None:
        return decoded
    keep = set(wanted)
    return {name: decoded[name] for name in model.names if name in keep}


def _decode_chunk(
    sections: Mapping[str, bytes | memoryview], n: int, model: CompressionModel, version: int, needed: set[str] | None
) -> dict[str, np.ndarray]:
    plans = [plan for plan in model.columns if needed is None or plan.name in needed]
    if n == 0:  # no values hang on the sections of an empty chunk (their checksums were checked): skip parsing them
        for plan in plans:
            _section(sections, plan.name)
        return {plan.name: np.empty(0, dtype=np.dtype(plan.dtype)) for plan in plans}
    if version < CONTEXT_VERSION and any(plan.context for plan in plans):
        raise BaleFormatError(f"residual contexts in a format version {version} file")
    ctx = _Context(model, n)
    for plan in plans:
        if plan.predictor["kind"] == "exact":
            context = ctx.residual_context(plan)
            ctx.add(plan.name, decode_exact(_section(sections, plan.name), n, np.dtype(plan.dtype), version, context))
    if _uses_latent(model) and (needed is None or LATENT_SECTION in needed):
        net = model.network
        assert net is not None
        reader = ByteReader(_section(sections, LATENT_SECTION))
        ctx.latent = np.stack(
            [decode_ints(reader.block(), n, version) for _ in range(net.latent_dim)], axis=1
        ).astype(np.int64)
    dtypes = {plan.name: np.dtype(plan.dtype) for plan in model.columns}
    for plan in plans:
        if plan.predictor["kind"] == "exact":
            continue
        if plan.predictor["kind"] == "quantity":
            quantity = model.quantity_of(plan)
            prediction = ctx.prediction(_inner(plan, model))
            data = _section(sections, plan.name)
            for name, values in decode_quantity(
                data, n, quantity, ctx.decoded, prediction, plan.bound, dtypes, version
            ).items():
                ctx.add(name, values)
            continue
        prediction = ctx.prediction(plan)
        rows = ctx.row_symbols(plan)
        values = decode_lossy(_section(sections, plan.name), n, np.dtype(plan.dtype), plan.bound, prediction, version,
                              ctx.residual_context(plan), rows)  # fmt: skip
        ctx.add(plan.name, values, rows)
    return ctx.decoded


def _section(sections: Mapping[str, bytes | memoryview], name: str) -> bytes | memoryview:
    try:
        return sections[name]
    except KeyError:
        raise BaleFormatError(f"chunk has no section for {name!r}") from None


def map_chunks(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, in order, with at most ``workers + 1`` chunks in flight.

    The heavy work (NumPy, BLAS, the ANS coder) releases the GIL, so chunks code in parallel
    while memory stays bounded by a few chunks.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
