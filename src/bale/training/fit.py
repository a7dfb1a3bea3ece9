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
from collections.abc import Mapping

import numpy as np

from bale.bounds import Bound
from bale.codec.estimate import estimated_bits, estimated_cost
from bale.codec.lossy import Prediction, encode_lossy
from bale.config import BaleConfig
from bale.models.conditional import ConditionalNetwork
from bale.models.plan import ColumnPlan, CompressionModel
from bale.models.relations import search_relation
from bale.table import Table

__all__ = ["fit_model", "sample_rows"]

log = logging.getLogger(__name__)
_BLOCK = 1024  # rows are sampled in contiguous blocks, so that delta coding is costed fairly
_RELATION_ROWS = 16_384
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


def _network_inputs(columns: Mapping[str, np.ndarray], order: list[ColumnPlan]) -> ConditionalNetwork:
    """A network skeleton whose context is every column in coding order, with fitted normalization."""
    context, transforms, means, stds = [], [], [], []
    for plan in order:
        x = columns[plan.name].astype(np.float64)
        transform = "log" if plan.bound.mode == "rel" else "linear"
        with np.errstate(all="ignore"):
            t = np.log(np.abs(x)) if transform == "log" else x
        t = t[np.isfinite(t)]
        mean = float(t.mean()) if len(t) else 0.0
        std = float(t.std()) if len(t) else 1.0
        context.append(plan.name)
        transforms.append(transform)
        means.append(mean)
        stds.append(std if std > 1e-12 else 1.0)
    return ConditionalNetwork(context, transforms, means, stds, [], [], 0, 0)


def fit_model(
    table: Table, bounds: Mapping[str, Bound], config: BaleConfig, *, progress: bool = True
) -> CompressionModel:
    """Choose predictors and train the network for ``table`` under ``bounds``."""
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
    order = exact + lossy
    # decoded-as-if values: what later predictions will see
    decoded: dict[str, np.ndarray] = {p.name: sample[p.name] for p in exact}
    costs: dict[str, dict[str, float]] = {}
    rel_rows = slice(0, _RELATION_ROWS)
    for plan in lossy:
        x = sample[plan.name]
        head = x[rel_rows]
        cost = {
            "grid": estimated_cost(head, plan.bound, Prediction()),
            "delta": estimated_cost(head, plan.bound, Prediction(delta=True)),
        }
        if config.model.relations and decoded:
            candidates = {k: v[rel_rows] for k, v in decoded.items()}
            relation, relation_cost = search_relation(head, plan.bound, candidates, budget=min(cost.values()))
            if relation is not None:
                cost["relation"] = relation_cost
                plan.predictor = {"kind": "relation", **relation.to_json()}
        if "relation" not in cost:
            plan.predictor = {"kind": min(cost, key=cost.__getitem__)}
        costs[plan.name] = cost
        _, decoded[plan.name] = encode_lossy(x, plan.bound, Prediction())
        log.info("column %s: %s", plan.name, {k: round(v, 2) for k, v in cost.items()})
    network = None
    info: dict[str, object] = {"sample_rows": len(rows)}
    targets = [p for p in lossy if p.predictor["kind"] != "relation"]
    if config.model.learned and targets and len(rows) >= 64:
        network, train_info = _fit_network(sample, decoded, order, targets, config, progress, table.num_rows)
        info["training"] = train_info
    info["estimated_bits"] = {k: {m: round(b, 3) for m, b in v.items()} for k, v in costs.items()}
    return CompressionModel(columns=order, network=network, info=info)


def _fit_network(
    sample: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    order: list[ColumnPlan],
    targets: list[ColumnPlan],
    config: BaleConfig,
    progress: bool,
    total_rows: int,
) -> tuple[ConditionalNetwork | None, dict[str, object]]:
    from bale.training.trainer import describe, train_network  # torch is needed only to train

    net = _network_inputs(sample, order)
    n = len(next(iter(sample.values())))
    position = {name: i for i, name in enumerate(net.context)}
    target_index = [position[p.name] for p in targets]
    available = [list(range(position[p.name])) for p in targets]
    true_features = net.features(sample, n)
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
        true_features,
        target_index,
        valid,
        available,
        np.flatnonzero(~is_val),
        np.flatnonzero(is_val),
        latent_dim=config.model.latent_dim,
        hidden=config.model.hidden,
        config=config.train,
        progress=progress,
    )
    net.targets = [p.name for p in targets]
    net.available = available
    net.latent_dim = config.model.latent_dim
    net.hidden = config.model.hidden
    net.weights = result.weights
    net.validate()
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
        _keep_heads(net, chosen)
    # the network must pay for its own bytes (float16 weights) on the data it will code
    net_bytes = sum(w.size for w in net.weights.values()) * 2 + 1024
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
    for position, j in enumerate(chosen):
        targets[j].predictor = {"kind": "learned", "head": position}
    log.info("network kept for %s: saves %.2f bits/row, latents cost %.2f", net.targets, gain, latent_bits)
    return net, info


def _keep_heads(net: ConditionalNetwork, keep: list[int]) -> None:
    net.targets = [net.targets[j] for j in keep]
    net.available = [net.available[j] for j in keep]
    for name in list(net.weights):
        if name.startswith("head."):
            net.weights[name] = net.weights[name][keep]
    net.validate()
