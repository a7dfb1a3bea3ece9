"""The training loop of the conditional network: reproducible, early-stopped, best epoch kept.

The loss is the sum over predicted columns of ``log(mean |residual|)``, in standardized
units: for Laplace-like residuals that is, up to constants, the number of bits the
residuals will cost, so training minimises the coded size rather than an error that
treats all columns alike. A small L1 term on the (noisy, as if quantized) latents
stands in for their rate.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bale.config import TrainConfig
from bale.training.network import TorchConditional

__all__ = ["TrainResult", "seed_everything", "train_network"]

log = logging.getLogger(__name__)
_EPS = 1e-6


@dataclass
class TrainResult:
    weights: dict[str, np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _loss(
    model: TorchConditional,
    feats: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor,
    target_index: list[int],
    penalty: float,
    train: bool,
) -> tuple[torch.Tensor, float]:
    latent = None
    rate = torch.zeros(())
    if model.latent_dim:
        latent = model.encode(feats)
        rate = latent.abs().mean() * model.latent_dim
        if train:  # quantization seen as uniform noise
            latent = latent + torch.rand_like(latent) - 0.5
        else:
            latent = torch.round(latent)
    pred = model.heads(feats, latent)
    err = (pred - targets).abs() * valid
    mean_err = err.sum(0) / valid.sum(0).clamp_min(1.0)
    bits = torch.log2(mean_err + _EPS).sum()
    return bits + penalty * rate, float(bits.detach())


def train_network(
    features: np.ndarray,
    target_index: list[int],
    valid: np.ndarray,
    available: list[list[int]],
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    *,
    latent_dim: int,
    hidden: int,
    config: TrainConfig,
    progress: bool = True,
) -> TrainResult:
    """Fit a :class:`TorchConditional` to standardized ``features``; targets are feature columns.

    ``valid[:, j]`` marks the rows where target ``j`` is a regular value (not zero, NaN or inf).
    """
    seed_everything(config.seed, config.threads)
    device = torch.device("cuda" if config.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    feats = torch.from_numpy(features).to(device)
    targets_all = feats[:, target_index]
    valid_all = torch.from_numpy(valid.astype(np.float32)).to(device)  # rows where the target is predicted
    model = TorchConditional(features.shape[1], available, latent_dim, hidden).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, config.patience // 2))
    generator = torch.Generator().manual_seed(config.seed)
    train_idx = torch.from_numpy(train_rows)
    val_idx = torch.from_numpy(val_rows).to(device)
    best = (math.inf, 0, model.export())
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)].to(device)
        total = 0.0
        batches = 0
        for i in range(0, len(order), config.batch_size):
            rows = order[i : i + config.batch_size]
            loss, bits = _loss(
                model, feats[rows], targets_all[rows], valid_all[rows], target_index, config.latent_penalty, train=True
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += bits
            batches += 1
        model.eval()
        with torch.no_grad():
            val_loss, _ = _loss(
                model,
                feats[val_idx],
                targets_all[val_idx],
                valid_all[val_idx],
                target_index,
                config.latent_penalty,
                train=False,
            )
        val = float(val_loss)
        scheduler.step(val)
        lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train": total / max(batches, 1), "val": val, "lr": lr})
        bar.set_postfix(val=f"{val:.3f}")
        if val < best[0] - 1e-4:
            best = (val, epoch, model.export())
        elif epoch - best[1] >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best[1])
            break
    seconds = time.perf_counter() - start
    log.info("trained %d epochs in %.1f s, best validation %.3f at epoch %d", len(history), seconds, best[0], best[1])
    return TrainResult(weights=best[2], history=history, best_epoch=best[1], seconds=seconds)


def describe(result: TrainResult) -> dict[str, Any]:
    return {
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds": round(result.seconds, 2),
        "history": [{k: round(v, 5) for k, v in h.items()} for h in result.history],
    }
