"""The conditional autoencoder: bale's learned predictor, evaluated with NumPy.

Per row an *encoder* maps all columns to a small latent vector, stored quantized to
integers. For each predicted column a *head* maps the latent plus every column already
decoded in the same row (exact columns first, then earlier lossy columns) to a prediction
of the column in its bound's domain (``log|x|`` or ``x``), standardized. The codec stores
the residual of that prediction quantized to the bound.

Decoding needs no torch: the forward pass is a few float32 matrix products, done here.
Training lives in :mod:`bale.training`; it builds the same network in torch and hands the
weights over as float16-rounded arrays, which are what the file stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.errors import BaleFormatError

__all__ = ["FEATURE_CLIP", "ConditionalNetwork"]

FEATURE_CLIP = 8.0
_BLOCK_ROWS = 8192


@dataclass
class ConditionalNetwork:
    """Architecture, normalization and weights of one conditional autoencoder."""

    context: list[str]  # feature columns, in decoding order
    transforms: list[str]  # per context column: "log" (|x| in log space) or "linear"
    norm_mean: list[float]
    norm_std: list[float]
    targets: list[str]  # predicted columns; target j sees context columns available[j]
    available: list[list[int]]
    latent_dim: int
    hidden: int
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    # -- configuration round trip (weights travel separately, as safetensors) --
    def get_config(self) -> dict[str, Any]:
        return {
            "family": "conditional",
            "context": self.context,
            "transforms": self.transforms,
            "norm_mean": self.norm_mean,
            "norm_std": self.norm_std,
            "targets": self.targets,
            "available": self.available,
            "latent_dim": self.latent_dim,
            "hidden": self.hidden,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> ConditionalNetwork:
        try:
            net = cls(
                context=list(config["context"]),
                transforms=list(config["transforms"]),
                norm_mean=[float(v) for v in config["norm_mean"]],
                norm_std=[float(v) for v in config["norm_std"]],
                targets=list(config["targets"]),
                available=[[int(i) for i in a] for a in config["available"]],
                latent_dim=int(config["latent_dim"]),
                hidden=int(config["hidden"]),
                weights={k: np.asarray(v, dtype=np.float32) for k, v in weights.items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BaleFormatError(f"bad network configuration: {exc}") from None
        net.validate()
        return net

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        c, h, k, j = len(self.context), self.hidden, self.latent_dim, len(self.targets)
        shapes: dict[str, tuple[int, ...]] = {
            "head.w1": (j, h, k + c),
            "head.b1": (j, h),
            "head.w2": (j, h, h),
            "head.b2": (j, h),
            "head.w3": (j, h),
            "head.b3": (j,),
        }
        if k:
            shapes.update({"enc.w1": (h, c), "enc.b1": (h,), "enc.w2": (k, h), "enc.b2": (k,)})
        return shapes

    def validate(self) -> None:
        """Check shapes, and that no head has weight on a column it may not see."""
        n = len(self.context)
        if not (len(self.transforms) == len(self.norm_mean) == len(self.norm_std) == n):
            raise BaleFormatError("network normalization does not match its context columns")
        if len(self.available) != len(self.targets):
            raise BaleFormatError("network heads do not match its targets")
        if any(i < 0 or i >= n for a in self.available for i in a):
            raise BaleFormatError("network head refers to a missing context column")
        for name, shape in self.weight_shapes().items():
            got = self.weights.get(name)
            if got is None or got.shape != shape:
                raise BaleFormatError(f"network weight {name} missing or of wrong shape")
        k = self.latent_dim
        for j, cols in enumerate(self.available):
            hidden_cols = np.ones(n, dtype=bool)
            hidden_cols[cols] = False
            if np.any(self.weights["head.w1"][j][:, k:][:, hidden_cols]):
                raise BaleFormatError(f"network head {j} uses columns decoded after it")

    # -- evaluation --
    def feature(self, index: int, values: np.ndarray) -> np.ndarray:
        """Standardized float32 feature of context column ``index``."""
        x = values.astype(np.float64)
        with np.errstate(all="ignore"):
            if self.transforms[index] == "log":
                x = np.log(np.abs(x))
            f = (x - self.norm_mean[index]) / self.norm_std[index]
        f = np.where(np.isfinite(f), f, 0.0)
        return np.clip(f, -FEATURE_CLIP, FEATURE_CLIP).astype(np.float32)

    def features(self, decoded: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        out = np.zeros((n, len(self.context)), dtype=np.float32)
        for i, name in enumerate(self.context):
            if name in decoded:
                out[:, i] = self.feature(i, decoded[name])
        return out

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Integer latent codes of each row (shape ``(n, latent_dim)``)."""
        w = self.weights
        hidden = np.maximum(features @ w["enc.w1"].T + w["enc.b1"], 0.0)
        return np.rint(hidden @ w["enc.w2"].T + w["enc.b2"]).astype(np.int64)

    def predict(self, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Prediction of target ``target`` in its domain (float64), from features decoded so far."""
        w = self.weights
        k = self.latent_dim
        w1 = w["head.w1"][target]
        # columns a head may not see have zero weights (masked in training), so the whole
        # feature matrix can be used as is, without copying the available columns out
        w1_features = np.ascontiguousarray(w1[:, k:].T)
        w1_latent = np.ascontiguousarray(w1[:, :k].T)
        b1, w2, b2 = w["head.b1"][target], np.ascontiguousarray(w["head.w2"][target].T), w["head.b2"][target]
        w3, b3 = w["head.w3"][target], w["head.b3"][target]
        out = np.empty(len(features), dtype=np.float32)
        # blocks of rows small enough for the hidden activations to stay in cache
        for start in range(0, len(features), _BLOCK_ROWS):
            stop = start + _BLOCK_ROWS
            hidden = features[start:stop] @ w1_features
            hidden += b1
            if k:
                hidden += latent[start:stop].astype(np.float32) @ w1_latent
            np.maximum(hidden, 0.0, out=hidden)
            hidden2 = hidden @ w2
            hidden2 += b2
            np.maximum(hidden2, 0.0, out=hidden2)
            out[start:stop] = hidden2 @ w3
        out += b3
        index = self.context.index(self.targets[target])
        return out.astype(np.float64) * self.norm_std[index] + self.norm_mean[index]
