"""Fit a :class:`~bale.models.CompressionModel` to a table: choose each column's predictor.

1. Exact columns come first in the coding order; they are coded losslessly and every
   later prediction may condition on them.
2. Every lossy column is costed under the classical predictors (``grid``: quantize in the
   bound's domain; ``delta``: difference to the previous row), then a closed-form
   relation of earlier columns is searched.
3. The conditional network is trained on the columns no relation explains, and each
   column keeps the learned prediction only where it measures cheaper on held-out rows;
   the network is dropped altogether when its latents cost more than it saves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bale.bounds import Bound
from bale.codec.estimate import estimated_bits, estimated_cost
from bale.codec.lossy import Prediction, encode_lossy
from bale.config import BaleConfig
from bale.models.conditional import FEATURE_BITS, ConditionalNetwork
from bale.models.plan import ColumnPlan, CompressionModel
from bale.models.quantities import QuantitySpec
from bale.models.relations import Relation, search_relation
from bale.stages import stage
from bale.table import Table
from bale.training.closure import ClosureBudget, select_context
from bale.training.families import family_of
from bale.training.quantities import choose_value_predictor, finish_quantities, plan_quantities
from bale.training.relation_search import derive_largest_of_sums, order_sum_groups, relations_on_later_columns

__all__ = ["fit_model", "sample_rows"]

log = logging.getLogger(__name__)
_BLOCK = 1024  # rows are sampled in contiguous blocks, so that delta coding is costed fairly
_RELATION_ROWS = 16_384
_RELATION_EVALUATIONS = 600_000  # formulas tried per table, in all: bounds the search on wide tables
MIN_LEARNED_GAIN = 0.1  # bits/value a head must save to be worth its decoding time


def sample_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted row indices: all rows, or random contiguous blocks adding up to ``max_rows``."""
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // _BLOCK)
    chosen = np.sort(rng.choice(n_blocks, size=max(1, max_rows // _BLOCK), replace=False))
    rows = (chosen[:, None] * _BLOCK + np.arange(_BLOCK)[None, :]).ravel()
    return rows[rows < n]


_ANGLES = ("phi", "Phi", "PHI")


def _scaling(name: str, plan: ColumnPlan, config: BaleConfig) -> str:
    """The normalization of one column: per-column choice, else the global one, else the heuristic."""
    chosen = config.model.normalizations.get(name)
    if chosen is not None:
        return chosen
    if config.model.normalization != "auto":
        return config.model.normalization
    angle = plan.bound.mode == "abs" and any(name == a or name.endswith("_" + a) for a in _ANGLES)
    return "periodic" if angle else "robust"


def _network_inputs(
    columns: Mapping[str, np.ndarray], order: list[ColumnPlan], config: BaleConfig | None = None
) -> ConditionalNetwork:
    """A network skeleton whose context is every column in coding order, with fitted normalization.

    Each column is first put in its coding domain (``log|x|`` under a relative bound, ``x``
    otherwise), then centred and scaled (``model.normalization``; docs/models.md).
    """
    context, transforms, means, stds = [], [], [], []
    for plan in order:
        scaling = _scaling(plan.name, plan, config) if config is not None else "robust"
        with np.errstate(all="ignore"):
            x = columns[plan.name].astype(np.float64)
            transform = "log" if plan.bound.mode == "rel" else "linear"
            t = np.log(np.abs(x)) if transform == "log" else x
            t = t[np.isfinite(t)]
            if not len(t):
                mean, std = 0.0, 1.0
            elif scaling == "standard":
                mean, std = float(t.mean()), float(t.std())
            elif scaling == "minmax":
                lo, hi = float(t.min()), float(t.max())
                mean, std = (lo + hi) / 2, (hi - lo) / 2
            elif scaling == "periodic" and transform == "linear":
                mean, std = 0.0, float(np.pi)
            else:  # robust: median and quantile spread; non-finite results are caught below
                mean = float(np.median(t))
                std = float(np.subtract(*np.percentile(t, [84.13, 15.87])) / 2)
        if not np.isfinite(std) or std <= 1e-12 * max(1.0, abs(mean)):
            std = max(1.0, abs(mean)) if np.isfinite(mean) else 1.0
        if not np.isfinite(mean):
            mean = 0.0
        context.append(plan.name)
        transforms.append(transform)
        means.append(mean)
        stds.append(std)
    return ConditionalNetwork(context, transforms, means, stds, [], [], 0, 0)


def fit_model(
    table: Table,
    bounds: Mapping[str, Bound],
    config: BaleConfig,
    *,
    progress: bool = True,
    checkpoint: Path | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    quantities: Sequence[QuantitySpec] = (),
) -> CompressionModel:
    """Choose predictors and train the network for ``table`` under ``bounds``.

    ``checkpoint``: where the network's training state is saved (and resumed from, with
    ``config.train.resume``). ``quantities``: bounds on quantities of several columns (``training/quantities.py``).
    """
    rows = sample_rows(table.num_rows, config.train.max_rows, config.train.seed)
    sample = {name: values[rows] for name, values in table.columns.items()}
    exact = [
        ColumnPlan(n, str(v.dtype), bounds[n], {"kind": "exact"})
        for n, v in sample.items()
        if bounds[n].mode == "exact"
    ]
    lossy = [
        ColumnPlan(n, str(v.dtype), bounds[n], {"kind": "grid"}) for n, v in sample.items() if bounds[n].mode != "exact"
    ]
    rel_rows = slice(0, _RELATION_ROWS)
    derived: dict[str, Relation] = {}
    if config.model.relations:
        lossy, derived = order_sum_groups(lossy, sample, rel_rows)
    lossy, planned = plan_quantities(lossy, quantities)
    order = exact + lossy
    limit = config.model.max_closure
    budget = ClosureBudget(limit) if limit is not None else None  # docs/models.md, "Short closures"
    for plan in exact:
        if budget is not None:
            budget.set(plan.name, ())
    # decoded-as-if values: what later predictions will see
    decoded: dict[str, np.ndarray] = {p.name: sample[p.name] for p in exact}
    costs: dict[str, dict[str, float]] = {}
    for plan in lossy:
        x = sample[plan.name]
        head = x[rel_rows]
        if plan.predictor["kind"] == "quantity":  # its section codes the quantity's value
            costs[plan.name], decoded[plan.name] = choose_value_predictor(plan, planned, sample, decoded, rel_rows)
            continue
        cost = {
            "grid": estimated_cost(head, plan.bound, Prediction()),
            "delta": estimated_cost(head, plan.bound, Prediction(delta=True)),
        }
        fits = None
        if budget is not None:
            fits = (lambda name: lambda inputs: budget.fits(name, inputs))(plan.name)
        usable = [k for k in decoded if fits is None or fits((k,))]
        if config.model.relations and usable:
            candidates = {k: decoded[k][rel_rows] for k in usable}
            relation, relation_cost = search_relation(
                head,
                plan.bound,
                candidates,
                budget=min(cost.values()),
                max_evaluations=max(64, _RELATION_EVALUATIONS // len(lossy)),
                allowed=fits,
                hints=[derived[plan.name]] if plan.name in derived else (),
            )
            if relation is not None:
                cost["relation"] = relation_cost
                plan.predictor = {"kind": "relation", **relation.to_json()}
        if "relation" not in cost:
            plan.predictor = {"kind": min(cost, key=cost.__getitem__)}
        if budget is not None:
            budget.set(plan.name, plan.predictor.get("inputs", ()))
        costs[plan.name] = cost
        _, decoded[plan.name] = encode_lossy(x, plan.bound, Prediction())
        log.info("column %s: %s", plan.name, {k: round(v, 2) for k, v in cost.items()})
    # columns are not moved once a quantity has fixed its derived column's place in the order
    if config.model.relations and budget is None and lossy and not planned:
        lossy = relations_on_later_columns(
            lossy, sample, decoded, costs, rel_rows, max(64, _RELATION_EVALUATIONS // len(lossy))
        )
    if config.model.relations:
        lossy = derive_largest_of_sums(lossy, sample, decoded, costs, rel_rows, budget)
    order = exact + lossy
    network = None
    info: dict[str, object] = {"sample_rows": len(rows)}
    targets = [p for p in lossy if p.predictor["kind"] not in ("relation", "quantity")]
    if config.model.learned and targets and len(rows) >= 64:
        stage("training the network on %d rows (%d columns to predict, at most %d epochs)",
              len(rows), len(targets), config.train.epochs)  # fmt: skip
        network, train_info = _fit_network(
            sample, decoded, order, targets, config, progress, table.num_rows, checkpoint, on_epoch, budget
        )
        info["training"] = {**train_info, "loss": config.train.loss}  # the loss kind: how to read its history
    if budget is not None:
        info["max_closure"] = limit
    info["estimated_bits"] = {k: {m: round(b, 3) for m, b in v.items()} for k, v in costs.items()}
    return finish_quantities(CompressionModel(columns=order, network=network, info=info), planned)




def _limited_context(
    features: np.ndarray,
    context: list[str],
    targets: list[ColumnPlan],
    budget: ClosureBudget,
    sample: Mapping[str, np.ndarray],
) -> list[list[int]]:
    """Per target (in coding order), the context columns its head may see within ``budget``.

    The budget then plans each target as learned from them, the worst case: a head dropped
    after training leaves its column with a shorter closure.
    """
    position = {name: i for i, name in enumerate(context)}
    standardized = np.ldexp(features, -FEATURE_BITS)
    available: list[list[int]] = []
    for plan in targets:
        i = position[plan.name]
        y = standardized[:, i].copy()
        x = sample[plan.name]
        y[~(np.isfinite(x) & ((x != 0) if plan.bound.mode == "rel" else True))] = np.nan  # not predicted
        candidates = context[:i]
        seen = select_context(plan.name, y, candidates, {c: standardized[:, position[c]] for c in candidates}, budget)
        budget.set(plan.name, seen)
        available.append([position[c] for c in seen])
    return available


def _fit_network(
    sample: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    order: list[ColumnPlan],
    targets: list[ColumnPlan],
    config: BaleConfig,
    progress: bool,
    total_rows: int,
    checkpoint: Path | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    budget: ClosureBudget | None = None,
) -> tuple[ConditionalNetwork | None, dict[str, object]]:
    from bale.training.trainer import describe, train_network  # torch is needed only to train

    net = _network_inputs(sample, order, config)
    n = len(next(iter(sample.values())))
    position = {name: i for i, name in enumerate(net.context)}
    target_index = [position[p.name] for p in targets]
    family = config.model
    spec = family_of(family)
    conditioned = family.condition if family.condition is not None else spec.conditioned
    true_features = net.features(sample, n)  # fixed point, as the decoder computes them
    # a conditional head sees every column decoded before its target; an autoencoder's, the latent only
    if budget is not None and conditioned:  # only those within the closure bound (docs/models.md)
        available = _limited_context(true_features, net.context, targets, budget, sample)
        if not config.model.latent_dim:  # a head that sees nothing predicts a constant: no gain
            kept = [j for j, a in enumerate(available) if a]
            targets, available = [targets[j] for j in kept], [available[j] for j in kept]
            if not targets:
                return None, {"heads": 0}
        target_index = [position[p.name] for p in targets]
    else:
        available = [list(range(position[p.name])) if conditioned else [] for p in targets]
    valid = np.stack(
        [
            (sample[p.name] != 0) & np.isfinite(sample[p.name])
            if p.bound.mode == "rel"
            else np.isfinite(sample[p.name])
            for p in targets
        ],
        axis=1,
    )
    # hold out whole blocks for validation
    blocks = np.arange(n) // _BLOCK
    rng = np.random.default_rng(config.train.seed + 1)
    n_blocks = int(blocks.max()) + 1
    val_blocks = rng.random(n_blocks) < config.train.validation_fraction
    if not val_blocks.any():
        val_blocks[-1] = True
    is_val = val_blocks[blocks]
    if is_val.all():
        is_val[: n // 2] = False
    result = train_network(
        np.ldexp(true_features, -FEATURE_BITS).astype(np.float32),  # standardized, for training
        target_index,
        valid,
        available,
        np.flatnonzero(~is_val),
        np.flatnonzero(is_val),
        latent_dim=config.model.latent_dim,
        hidden=config.model.hidden,
        config=config.train,
        progress=progress,
        checkpoint=checkpoint,
        family=family,
        on_epoch=on_epoch,
    )
    net.targets = [p.name for p in targets]
    net.available = available
    net.latent_dim = config.model.latent_dim
    net.hidden = config.model.hidden
    architecture = spec.architecture(family)
    net.skip = bool(architecture.get("skip", False))
    net.ensemble = int(architecture.get("ensemble", 1))
    net.family = family.family
    net.set_float_weights(result.weights)
    info: dict[str, object] = describe(result)
    # measure on held-out rows, with features from decoded values as the decoder will see them
    val = np.flatnonzero(is_val)
    val_features = net.features({k: v[val] for k, v in decoded.items()}, len(val))
    latent = net.encode(true_features[val]) if net.latent_dim else np.zeros((len(val), 0), np.int64)
    latent_bits = sum(estimated_bits(latent[:, d]) for d in range(net.latent_dim))
    chosen: list[int] = []
    gain = 0.0
    learned_cost: dict[str, float] = {}
    for j, plan in enumerate(targets):
        x = sample[plan.name][val]
        pred = net.predict(j, val_features, latent)
        learned = estimated_cost(x, plan.bound, Prediction(value=pred))
        kind = plan.predictor["kind"]
        other = estimated_cost(x, plan.bound, Prediction(delta=kind == "delta"))
        learned_cost[plan.name] = round(learned, 3)
        if learned < other - MIN_LEARNED_GAIN:
            chosen.append(j)
            gain += other - learned
    info.update({"learned_bits": learned_cost, "latent_bits": round(latent_bits, 3), "gain_bits": round(gain, 3)})
    if chosen:
        net.keep_heads(chosen)
    # the network must pay for its own bytes (integer weights) on the data it will code
    net_bytes = sum(w.nbytes for w in net.storage().values()) + 1024
    saved = (gain - latent_bits) * total_rows / 8
    info["network_bytes"] = net_bytes
    if not chosen or saved <= net_bytes:
        log.info(
            "network dropped: saves %.2f bits/row, latents cost %.2f, %d B of weights for %d rows",
            gain,
            latent_bits,
            net_bytes,
            total_rows,
        )
        return None, info
    for head, j in enumerate(chosen):
        targets[j].predictor = {"kind": "learned", "head": head}
    log.info("network kept for %s: saves %.2f bits/row, latents cost %.2f", net.targets, gain, latent_bits)
    return net, info
