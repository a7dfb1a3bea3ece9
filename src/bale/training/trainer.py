"""The training loop of the conditional network: reproducible, resumable, early-stopped, best epoch kept.

The default loss is the sum over predicted columns of ``log2(mean |residual|)``, in
standardized units: for Laplace-like residuals that is, up to constants, the number of
bits the residuals will cost, so training minimises the coded size rather than an error
that treats all columns alike (``loss = "l1" | "mse" | "huber"`` are there to compare).
A small L1 term on the (noisy, as if quantized) latents stands in for their rate.

Checkpoints (safetensors plus JSON, no pickle) hold the weights, the optimizer and
scheduler state, the random generators and the history: training resumed from one ends
with the same weights as training that was never interrupted. Under ``torchrun`` the
batches are shared out over the processes with DistributedDataParallel (gloo on CPU).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from tqdm.auto import tqdm

from bale.config import ModelConfig, TrainConfig
from bale.errors import BaleInputError
from bale.training.families import Activity, family_of
from bale.training.network import TorchConditional

__all__ = ["TrainResult", "seed_everything", "train_network"]

log = logging.getLogger(__name__)
_EPS = 1e-6
_CHECKPOINT_VERSION = 1


@dataclass
class TrainResult:
    weights: dict[str, np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    resumed_from: int | None = None
    world_size: int = 1


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _loss(
    model: torch.nn.Module,
    feats: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor,
    config: TrainConfig,
    train: bool,
    family: ModelConfig | None = None,
) -> tuple[torch.Tensor, float]:
    """(loss to minimise, estimated residual bits per row): the second is what validation compares."""
    net: TorchConditional = model.module if hasattr(model, "module") else model  # type: ignore[assignment]
    latent = None
    rate = torch.zeros(())
    penalty = torch.zeros(())
    latent_mean = log_var = None
    if net.latent_dim:
        latent, log_var = net.encode_stats(feats)
        latent_mean = latent
        rate = latent.abs().mean() * net.latent_dim
        if log_var is not None and train:  # vae: sample from the posterior
            latent = latent + torch.randn_like(latent) * (0.5 * log_var).exp()
        if train:  # quantization seen as uniform noise
            latent = latent + torch.rand_like(latent) - 0.5
        else:
            latent = torch.round(latent)
    pred = model(feats, latent)
    if train and family is not None:
        activity = Activity(latent=latent_mean, latent_fed=latent, log_var=log_var, hidden=net.last_hidden)
        penalty = penalty + family_of(family).penalty(family, activity)
    diff = (pred - targets) * valid
    count = valid.sum(0).clamp_min(1.0)
    mean_err = diff.abs().sum(0) / count
    bits = torch.log2(mean_err + _EPS).sum()
    if config.loss == "bits":
        loss = bits
    elif config.loss == "l1":
        loss = (diff.abs().sum(0) / count).sum()
    elif config.loss == "mse":
        loss = ((diff**2).sum(0) / count).sum()
    else:
        loss = (torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none",
                                               delta=config.huber_delta).sum(0) / count).sum()  # fmt: skip
    return loss + config.latent_penalty * rate + penalty, float(bits.detach())


def _family_options(family: ModelConfig | None) -> dict[str, Any]:
    """The architecture options of :class:`TorchConditional` for a family (docs/models.md)."""
    return {} if family is None else family_of(family).architecture(family)


def _device(name: str) -> torch.device:
    """The training device; a named GPU that is missing is an error rather than a silent fallback."""
    cuda = torch.cuda.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise BaleInputError(f"train.device = {name!r}, but torch sees no such device here")
    return torch.device(name)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    if config.scheduler == "plateau":
        patience = config.plateau_patience if config.plateau_patience is not None else max(1, config.patience // 2)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=config.plateau_factor, patience=patience, min_lr=config.min_lr
        )
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.min_lr)
    return None


def _distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group under torchrun (gloo on CPU, nccl on GPU)."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and os.environ.get("LOCAL_RANK") else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _fingerprint(features: np.ndarray, *parts: Any) -> str:
    """What a checkpoint was trained on: the data and the settings that shape the run."""
    h = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    state: dict[str, Any],
    best_weights: dict[str, np.ndarray],
) -> None:
    """Weights, optimizer moments, generator state as tensors; everything else as JSON metadata."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in best_weights.items()})
    opt = optimizer.state_dict()
    for pid, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"opt.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().clone().contiguous()
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        **state,
        "version": _CHECKPOINT_VERSION,
        "param_groups": opt["param_groups"],
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    tmp = path.with_name(path.name + ".tmp")
    safetensors.torch.save_file(tensors, str(tmp), metadata={"bale_checkpoint": json.dumps(meta)})
    os.replace(tmp, path)


def _load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    fingerprint: str,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("bale_checkpoint", "null") or "null")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    if not isinstance(meta, dict) or meta.get("version") != _CHECKPOINT_VERSION:
        raise BaleInputError(f"{path} is not a bale training checkpoint")
    if meta.get("fingerprint") != fingerprint:
        raise BaleInputError(f"{path} was written for other data or settings; remove it to start afresh")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    best = {k[5:]: v.numpy() for k, v in tensors.items() if k.startswith("best.")}
    return meta, best


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
    checkpoint: Path | None = None,
    family: ModelConfig | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fit a :class:`TorchConditional` to standardized ``features``; targets are feature columns.

    ``valid[:, j]`` marks the rows where target ``j`` is a regular value (not zero, NaN or inf).
    With ``checkpoint``, the state is saved there every ``config.checkpoint_every`` epochs, and
    with ``config.resume`` training continues from it when it exists.
    """
    seed_everything(config.seed, config.threads)
    rank, world = _distributed()
    device = _device(config.device)
    autocast = config.amp and device.type in ("cuda", "mps")
    feats = torch.from_numpy(features).to(device)
    targets_all = feats[:, target_index]
    valid_all = torch.from_numpy(valid.astype(np.float32)).to(device)  # rows where the target is predicted
    options = _family_options(family)
    net = TorchConditional(features.shape[1], available, latent_dim, hidden, **options).to(device)
    model: torch.nn.Module = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-5)
    scheduler = _scheduler(optimizer, config)
    generator = torch.Generator().manual_seed(config.seed)
    train_idx = torch.from_numpy(train_rows)
    val_idx = torch.from_numpy(val_rows).to(device)
    settings = config.model_dump(exclude={"epochs", "resume", "checkpoint_dir", "checkpoint_every", "device", "amp"})
    fingerprint = _fingerprint(features, target_index, available, latent_dim, hidden, settings, world,
                               family.model_dump() if family is not None else None,
                               train_rows.tolist(), valid.sum(0).tolist())  # fmt: skip
    best = (math.inf, 0, net.export())
    history: list[dict[str, float]] = []
    first_epoch = 0
    resumed_from = None
    if checkpoint is not None and config.resume and checkpoint.is_file():
        meta, best_weights = _load_checkpoint(checkpoint, net, optimizer, scheduler, generator, fingerprint)
        first_epoch = resumed_from = int(meta["epoch"]) + 1
        history = list(meta["history"])
        best = (float(meta["best_val"]), int(meta["best_epoch"]), best_weights)
        log.info("resuming from %s after epoch %d", checkpoint, first_epoch - 1)
    start = time.perf_counter()
    bar = tqdm(range(first_epoch, config.epochs), desc="training", unit="epoch", disable=not progress or rank > 0,
               leave=False)  # fmt: skip
    stopped = first_epoch > 0 and first_epoch - 1 - best[1] >= config.patience
    for epoch in bar:
        if stopped:
            break
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)].to(device)
        total = 0.0
        batches = 0
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            if len(batch) < world:  # every process must take part in every step, or DDP waits forever
                continue
            rows = batch[rank::world]  # each process its share of the batch
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, bits = _loss(model, feats[rows], targets_all[rows], valid_all[rows], config, True, family)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            optimizer.step()
            total += bits
            batches += 1
        model.eval()
        with torch.no_grad():
            _, val = _loss(net, feats[val_idx], targets_all[val_idx], valid_all[val_idx], config, train=False)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val)
        elif scheduler is not None:
            scheduler.step()
        lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train": total / max(batches, 1), "val": val, "lr": lr})
        if on_epoch is not None:  # e.g. a tuner that stops unpromising trials
            on_epoch(epoch, val)
        bar.set_postfix(val=f"{val:.3f}")
        if val < best[0] - config.min_delta:
            best = (val, epoch, net.export())
        elif epoch - best[1] >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best[1])
            stopped = True
        if checkpoint is not None and rank == 0 and ((epoch + 1) % config.checkpoint_every == 0 or stopped):
            state = {"epoch": epoch, "history": history, "best_val": best[0], "best_epoch": best[1],
                     "fingerprint": fingerprint}  # fmt: skip
            _save_checkpoint(checkpoint, net, optimizer, scheduler, generator, state, best[2])
    seconds = time.perf_counter() - start
    log.info("trained %d epochs in %.1f s, best validation %.3f at epoch %d", len(history), seconds, best[0], best[1])
    return TrainResult(best[2], history, best[1], seconds, resumed_from, world)


def describe(result: TrainResult) -> dict[str, Any]:
    return {
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds": round(result.seconds, 2),
        "resumed_from": result.resumed_from,
        "world_size": result.world_size,
        "history": [{k: float(f"{v:.6g}") for k, v in h.items()} for h in result.history],
    }
