"""A Baler-style autoencoder: the latent only, no residual, so no bound is guaranteed.

As Baler does for tables: the float columns with an ``abs``/``rel`` bound are normalised per column
(min-max to [0, 1], Baler's default; ``NORMALIZATION = "standard"`` for mean 0 and deviation 1), a plain
dense autoencoder (Baler's ``AE``: widths 200, 100, 50 to the latent, LeakyReLU, mirrored decoder) is
trained with an L1 loss and Adam (torch, CPU, 1 thread; at most ``MAX_TRAIN_ROWS`` rows, ``EPOCHS``
epochs or ``MAX_SECONDS`` seconds), and each row is stored as its latent (``ceil(n / LATENT_DIVISOR)``
values per row, float16). Decompression runs the decoder (in NumPy).

Stored bytes: the latents, the decoder's weights (float32), the normalisation, NaN/±inf set aside verbatim
(a network cannot carry them), and the exact/integer columns (zstd-19, losslessly, so that the errors
reported are the network's). Every stream but the header is zstd-19. The method is reported with the error
it actually reaches and the values that break the requested bound — there are many; that is the point of
the comparison. Training does not depend on the bound, so one run is checked against every bound.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np

from bale.bench.container import pack, unpack, zstd_decode, zstd_encode
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method, lossy_columns

__all__ = ["EPOCHS", "LATENT_DIVISOR", "MAX_SECONDS", "MAX_TRAIN_ROWS", "NORMALIZATION", "methods"]

LATENT_DIVISOR = 4
HIDDEN = (200, 100, 50)
EPOCHS = 30
MAX_SECONDS = 60.0
MAX_TRAIN_ROWS = 50_000
BATCH = 256
LEARNING_RATE = 1e-3
SLOPE = 0.01  # LeakyReLU
NORMALIZATION = "minmax"  # Baler's default (custom_norm = False); "standard" for mean 0, deviation 1


def _widths(n: int) -> list[int]:
    z = max(1, math.ceil(n / LATENT_DIVISOR))
    return [n, *(max(h, z) for h in HIDDEN), z]


def _train(x: np.ndarray, widths: list[int], seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Fit the autoencoder on ``x`` (rows × n, in [0, 1]); the decoder's layers and every row's latent."""
    import torch
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)

        def stack(sizes: list[int]) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(itertools.pairwise(sizes)):
                layers.append(nn.Linear(a, b))
                if i < len(sizes) - 2:
                    layers.append(nn.LeakyReLU(SLOPE))
            return nn.Sequential(*layers)

        encoder, decoder = stack(widths), stack(widths[::-1])
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=LEARNING_RATE)
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(len(x), MAX_TRAIN_ROWS, replace=False)] if len(x) > MAX_TRAIN_ROWS else x
        data = torch.from_numpy(sample)
        started = time.perf_counter()
        for _ in range(EPOCHS):
            order = torch.from_numpy(rng.permutation(len(data)))
            for i in range(0, len(data), BATCH):
                batch = data[order[i : i + BATCH]]
                loss = (decoder(encoder(batch)) - batch).abs().mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if time.perf_counter() - started > MAX_SECONDS:
                break
        with torch.no_grad():
            latents = torch.cat([encoder(torch.from_numpy(x[i : i + 65536])) for i in range(0, len(x), 65536)])
        layers = [
            (m.weight.detach().numpy().astype(np.float32), m.bias.detach().numpy().astype(np.float32))
            for m in decoder
            if isinstance(m, nn.Linear)
        ]
        return layers, latents.numpy()
    finally:
        torch.set_num_threads(threads)


def _decode_rows(latents: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    h = latents.astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.where(h > 0, h, np.float32(SLOPE) * h)
    return h


def _normalization(x: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the offset and scale that map it to [0, 1] (min-max) or to mean 0, deviation 1."""
    low, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    for j in range(x.shape[1]):
        values = x[finite[:, j], j]
        if not values.size:
            continue
        if NORMALIZATION == "standard":
            low[j], spread = values.mean(), values.std()
        else:
            low[j], spread = values.min(), values.max() - values.min()
        scale[j] = spread if spread > 0 else 1.0
    return low, scale


def _applies(columns: Columns, bounds: Bounds) -> str | None:
    if any(columns[c].dtype.kind == "f" for c in lossy_columns(bounds)):
        return None
    return "no float column with an abs/rel bound: nothing for the autoencoder"


def _compress(columns: Columns, bounds: Bounds, ctx: Context, state: Any) -> Encoded:
    lossy = [c for c in lossy_columns(bounds) if columns[c].dtype.kind == "f"]
    rows = len(next(iter(columns.values())))
    x = np.stack([columns[c].astype(np.float64) for c in lossy], axis=1)
    finite = np.isfinite(x)
    low, scale = _normalization(x, finite)
    normed = np.where(finite, (x - low) / scale, 0.0).astype(np.float32)
    widths = _widths(len(lossy))
    layers, latents = _train(normed, widths, ctx.seed)
    latents16 = np.clip(latents, -65504, 65504).astype(np.float16)
    streams = [zstd_encode(columns[c]) for c in columns if c not in lossy]
    streams += [
        zstd_encode(np.concatenate([low, scale])),
        zstd_encode(np.packbits(~finite)),
        zstd_encode(np.concatenate([x[~finite[:, j], j] for j in range(x.shape[1])]) if (~finite).any() else b""),
        zstd_encode(latents16),
        zstd_encode(np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])),
    ]
    meta = {"lossy": lossy, "widths": widths}
    blob = pack(columns, streams, meta)
    decoder_bytes = 4 * sum(w.size + b.size for w, b in layers)
    return Encoded(len(blob), blob, {"latent_per_row": widths[-1], "rows": rows, "decoder_params": decoder_bytes // 4})


def _decompress(encoded: Encoded, ctx: Context, state: Any) -> Columns:
    parsed = unpack(encoded.payload)
    n = parsed.rows
    lossy: list[str] = parsed.meta["lossy"]
    widths: list[int] = parsed.meta["widths"]
    streams = iter(parsed.streams)
    out: Columns = {}
    for name, dtype in parsed.columns:
        if name not in lossy:
            out[name] = np.frombuffer(zstd_decode(next(streams)), dtype=dtype, count=n)
    k = len(lossy)
    norm = np.frombuffer(zstd_decode(next(streams)), np.float64)
    low, scale = norm[:k], norm[k:]
    special: np.ndarray = np.unpackbits(np.frombuffer(zstd_decode(next(streams)), np.uint8), count=n * k).astype(bool)
    special = special.reshape(n, k)
    special_values = np.frombuffer(zstd_decode(next(streams)), np.float64)
    latents = np.frombuffer(zstd_decode(next(streams)), np.float16).reshape(n, widths[-1])
    flat = np.frombuffer(zstd_decode(next(streams)), np.float32)
    layers, pos = [], 0
    sizes = widths[::-1]
    for a, b in itertools.pairwise(sizes):
        w = flat[pos : pos + a * b].reshape(b, a)
        pos += a * b
        layers.append((w, flat[pos : pos + b]))
        pos += b
    x = _decode_rows(latents, layers).astype(np.float64) * scale + low
    pos = 0
    for j in range(k):
        count = int(special[:, j].sum())
        x[special[:, j], j] = special_values[pos : pos + count]
        pos += count
    dtypes = dict(parsed.columns)
    with np.errstate(over="ignore", invalid="ignore"):
        decoded = {name: x[:, j].astype(dtypes[name]) for j, name in enumerate(lossy)}
    return {name: out[name] if name in out else decoded[name] for name, _ in parsed.columns}


def methods() -> list[Method]:
    return [
        Method(
            name="baler-ae",
            family="autoencoder",
            description="Baler-style dense autoencoder, latent only (float16), no residual: bound not enforced",
            compress=_compress,
            decompress=_decompress,
            requires=("torch",),
            applies=_applies,
            bound_independent=True,
        )
    ]
