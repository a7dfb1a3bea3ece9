"""Training the ``conv`` grid autoencoder (torch), then freezing it into :class:`ConvGridModel`.

Tiles of ``T×T`` are cut from every frame (stride ``T/2``, edge-padded), normalized by the
training data's mean and spread, and the autoencoder is trained to minimise the mean
absolute error of its reconstruction (the residual's coded size grows with log mean |r|)
plus a small rate penalty on the latents, with uniform noise of one latent step added to
the latents (what their rounding will do). The decoder is then quantized to fixed point.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import numpy as np

from bale.models.conv import FRACTION_BITS, ConvGridModel, quantize_decoder

__all__ = ["train_conv"]

log = logging.getLogger(__name__)


def _tiles(grids: list[np.ndarray], tile: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    for g in grids:
        g = np.asarray(g, dtype=np.float64)
        g = g.reshape((1,) * (3 - g.ndim) + g.shape) if g.ndim < 3 else g.reshape(-1, *g.shape[-2:])
        g = np.where(np.isfinite(g), g, np.nan)
        fill = float(np.nanmedian(g)) if np.isfinite(g).any() else 0.0
        g = np.nan_to_num(g, nan=fill, posinf=fill, neginf=fill)
        h, w = g.shape[1:]
        ph, pw = max(tile, -(-h // tile) * tile), max(tile, -(-w // tile) * tile)
        g = np.pad(g, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
        step = max(tile // 2, 1)
        for i in range(0, ph - tile + 1, step):
            for j in range(0, pw - tile + 1, step):
                out.append(g[:, i : i + tile, j : j + tile])
    tiles = np.concatenate(out) if out else np.zeros((0, tile, tile))
    if len(tiles) > limit:
        tiles = tiles[rng.choice(len(tiles), limit, replace=False)]
    return tiles


def train_conv(
    grids: list[np.ndarray],
    *,
    tile: int = 16,
    latent_dim: int = 8,
    channels: int = 8,
    latent_bits: int = 4,
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    latent_penalty: float = 1e-3,
    max_tiles: int = 20_000,
    seed: int = 0,
    threads: int = 1,
) -> tuple[ConvGridModel, dict[str, Any]]:
    """Train on the frames of ``grids``; returns the frozen model and a training record."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    tiles = _tiles(grids, tile, max_tiles, rng)
    if not len(tiles):
        raise ValueError("no tiles to train on")
    mean = float(tiles.mean())
    scale = float(tiles.std()) or 1.0
    data = torch.tensor((tiles - mean) / scale, dtype=torch.float32)[:, None]
    c, q = channels, tile // 4
    enc = nn.Sequential(
        nn.Conv2d(1, c, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(c, c, 3, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c * q * q, latent_dim),
    )
    dec1 = nn.Linear(latent_dim, c * q * q)
    dec2 = nn.Conv2d(c, c, 3, 1, 1)
    dec3 = nn.Conv2d(c, 1, 3, 1, 1)
    up = nn.Upsample(scale_factor=2, mode="nearest")

    def decode(z: torch.Tensor) -> torch.Tensor:
        a = torch.relu(dec1(z)).view(-1, c, q, q)
        a = torch.relu(dec2(up(a)))
        out: torch.Tensor = dec3(up(a))
        return out

    params = [*enc.parameters(), *dec1.parameters(), *dec2.parameters(), *dec3.parameters()]
    opt = torch.optim.Adam(params, lr=learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs, eta_min=learning_rate / 30)
    noise = 2.0**-latent_bits
    started = time.perf_counter()
    history = []
    for epoch in range(epochs):
        perm = torch.randperm(len(data))
        total = 0.0
        for start in range(0, len(data), batch_size):
            batch = data[perm[start : start + batch_size]]
            z = enc(batch)
            z = z + (torch.rand_like(z) - 0.5) * noise
            loss = (decode(z) - batch).abs().mean() + latent_penalty * z.abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        sched.step()
        history.append(total / len(data))
        log.debug("conv epoch %d: loss %.5f", epoch, history[-1])
    with torch.no_grad():
        fw = {
            "enc1.w": enc[0].weight,
            "enc1.b": enc[0].bias,
            "enc2.w": enc[2].weight,
            "enc2.b": enc[2].bias,
            "enc3.w": enc[5].weight,
            "enc3.b": enc[5].bias,
            "dec1.w": dec1.weight,
            "dec1.b": dec1.bias,
            "dec2.w": dec2.weight,
            "dec2.b": dec2.bias,
            "dec3.w": dec3.weight,
            "dec3.b": dec3.bias,
        }
        # nn.Sequential's items are typed as Module: their weights and biases are tensors here
        fw_np = {k: cast(torch.Tensor, v).detach().cpu().numpy().astype(np.float64) for k, v in fw.items()}
    decoder, exponents = quantize_decoder(fw_np)
    weights = {k: fw_np[k].astype(np.float32) for k in fw_np if k.startswith("enc")} | decoder
    config = {
        "family": "conv",
        "tile": tile,
        "latent_dim": latent_dim,
        "channels": channels,
        "latent_bits": min(latent_bits, FRACTION_BITS),
        "mean": mean,
        "scale": scale,
        "exponents": exponents,
    }
    model = ConvGridModel(config, weights)
    record = {
        "tiles": len(tiles),
        "epochs": epochs,
        "final_loss": history[-1],
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("trained conv grid model on %d tiles: loss %.4f in %.1fs", len(tiles), history[-1], record["seconds"])
    return model, record
