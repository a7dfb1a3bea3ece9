"""The conditional autoencoder: bale's learned predictor, evaluated exactly with NumPy.

Per row an *encoder* maps all columns to a small latent vector, stored as integers. For
each predicted column a *head* maps the latent plus every column already decoded in the
same row (exact columns first, then earlier lossy columns) to a prediction of the column
in its bound's domain (``log|x|`` or ``x``), standardized. The codec stores the residual
of that prediction quantized to the bound.

**The forward pass is exact integer arithmetic.** Weights are integers with a power-of-two
scale per tensor and head; features are rounded to ``FEATURE_BITS`` fractional bits,
hidden activations to ``HIDDEN_BITS``. Every product and sum stays far below 2**53, so
float64 computes them exactly whatever the summation order, thread count, BLAS or CPU
kernel: the same inputs give the same prediction, bit for bit, on every machine. The
heads run in a compiled kernel (:mod:`bale.models.kernels`), the encoder in NumPy.
Decoding needs no torch. Training lives in :mod:`bale.training`; it hands over float
weights, which :meth:`ConditionalNetwork.set_float_weights` quantizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.errors import BaleFormatError

__all__ = ["FEATURE_BITS", "FEATURE_CLIP", "HIDDEN_BITS", "WEIGHT_BITS", "ConditionalNetwork"]

FEATURE_CLIP = 8.0  # standardized features are clipped to ±8
FEATURE_BITS = 10  # fractional bits of features and latent inputs
HIDDEN_BITS = 10  # fractional bits of hidden activations
WEIGHT_BITS = 11  # |integer weight| <= 2**11
_HIDDEN_CLIP = 2.0**22  # |hidden activation| * 2**HIDDEN_BITS, keeps sums below 2**53
_LATENT_CLIP = 2**10
_BLOCK_ROWS = 8192
_WEIGHTS = ("w1", "w2", "w3")
_BIASES = ("b1", "b2", "b3")


def _quantize(
    weight: np.ndarray, bias: np.ndarray, input_bits: int, per_head: bool
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Integer weights and biases, with the weights' power-of-two exponent per head (or one)."""
    heads = weight if per_head else weight[None]
    biases = bias if per_head else bias[None]
    w_int, b_int, exps = [], [], []
    for w, b in zip(heads, biases, strict=True):
        largest = float(np.abs(w).max(initial=0.0))
        exp = WEIGHT_BITS - int(np.ceil(np.log2(largest))) if largest > 0 else 0
        exp = int(np.clip(exp, -20, 24))
        w_int.append(np.clip(np.rint(np.ldexp(w.astype(np.float64), exp)), -(2**WEIGHT_BITS), 2**WEIGHT_BITS))
        b_int.append(np.rint(np.ldexp(b.astype(np.float64), exp + input_bits)))
        exps.append(exp)
    w_out, b_out = np.stack(w_int), np.stack(b_int)
    return (w_out, b_out, exps) if per_head else (w_out[0], b_out[0], exps)


@dataclass
class ConditionalNetwork:
    """Architecture, normalization and integer weights of one conditional autoencoder."""

    context: list[str]  # feature columns, in decoding order
    transforms: list[str]  # per context column: "log" (|x| in log space) or "linear"
    norm_mean: list[float]
    norm_std: list[float]
    targets: list[str]  # predicted columns; target j sees context columns available[j]
    available: list[list[int]]
    latent_dim: int
    hidden: int
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # integer-valued float64
    exponents: dict[str, list[int]] = field(default_factory=dict)  # per weight tensor, per head
    skip: bool = False  # residual connection around each head's second layer
    ensemble: int = 1  # heads per target, their outputs averaged (head k of target j is j*ensemble+k)
    family: str = "conditional"  # the architecture it was trained as (docs/models.md)

    # -- configuration round trip (weights travel separately, as safetensors) --
    def get_config(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}  # only what differs from the defaults: older files stay byte-identical
        if self.skip:
            extra["skip"] = True
        if self.ensemble != 1:
            extra["ensemble"] = self.ensemble
        if self.family != "conditional":
            extra["trained_as"] = self.family
        return {
            **extra,
            "family": "conditional",
            "context": self.context,
            "transforms": self.transforms,
            "norm_mean": self.norm_mean,
            "norm_std": self.norm_std,
            "targets": self.targets,
            "available": self.available,
            "latent_dim": self.latent_dim,
            "hidden": self.hidden,
            "exponents": self.exponents,
            "fixed_point": {"feature_bits": FEATURE_BITS, "hidden_bits": HIDDEN_BITS, "weight_bits": WEIGHT_BITS},
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> ConditionalNetwork:
        try:
            fixed = dict(config["fixed_point"])
            if fixed != {"feature_bits": FEATURE_BITS, "hidden_bits": HIDDEN_BITS, "weight_bits": WEIGHT_BITS}:
                raise BaleFormatError(f"unsupported fixed-point layout {fixed}")
            net = cls(
                context=[str(c) for c in config["context"]],
                transforms=[str(t) for t in config["transforms"]],
                norm_mean=[float(v) for v in config["norm_mean"]],
                norm_std=[float(v) for v in config["norm_std"]],
                targets=[str(t) for t in config["targets"]],
                available=[[int(i) for i in a] for a in config["available"]],
                latent_dim=int(config["latent_dim"]),
                hidden=int(config["hidden"]),
                weights={k: np.asarray(v).astype(np.float64) for k, v in weights.items()},
                exponents={str(k): [int(e) for e in v] for k, v in dict(config["exponents"]).items()},
                skip=bool(config.get("skip", False)),
                ensemble=int(config.get("ensemble", 1)),
                family=str(config.get("trained_as", "conditional")),
            )
            if not 1 <= net.ensemble <= 64:
                raise BaleFormatError(f"ensemble of {net.ensemble} heads is out of range")
        except (KeyError, TypeError, ValueError) as exc:
            raise BaleFormatError(f"bad network configuration: {exc}") from None
        net.validate()
        return net

    def storage(self) -> dict[str, np.ndarray]:
        """Weights as stored: int16 weights, int64 biases."""
        return {
            k: v.astype(np.int16 if k.rsplit(".", 1)[1].startswith("w") else np.int64) for k, v in self.weights.items()
        }

    def set_float_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Quantize trained float weights (keys ``head.w1`` … ``enc.b2``) to the fixed-point layout."""
        self.weights, self.exponents = {}, {}
        inputs = {"w1": FEATURE_BITS, "w2": HIDDEN_BITS, "w3": HIDDEN_BITS}
        for w_name, b_name in zip(_WEIGHTS, _BIASES, strict=True):
            w, b, e = _quantize(weights[f"head.{w_name}"], weights[f"head.{b_name}"], inputs[w_name], True)
            self.weights[f"head.{w_name}"], self.weights[f"head.{b_name}"] = w, b
            self.exponents[f"head.{w_name}"] = e
        if self.latent_dim:
            for w_name, b_name in (("w1", "b1"), ("w2", "b2")):
                w, b, e = _quantize(weights[f"enc.{w_name}"], weights[f"enc.{b_name}"], inputs[w_name], False)
                self.weights[f"enc.{w_name}"], self.weights[f"enc.{b_name}"] = w, b
                self.exponents[f"enc.{w_name}"] = e
        self.validate()

    def keep_heads(self, keep: list[int]) -> None:
        """Drop every target but ``keep`` (in that order), with all its heads."""
        self.targets = [self.targets[j] for j in keep]
        self.available = [self.available[j] for j in keep]
        rows = [j * self.ensemble + k for j in keep for k in range(self.ensemble)]
        for name in list(self.weights):
            if name.startswith("head."):
                self.weights[name] = self.weights[name][rows]
        for name in list(self.exponents):
            if name.startswith("head."):
                self.exponents[name] = [self.exponents[name][r] for r in rows]
        self.validate()

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        c, h, k, j = len(self.context), self.hidden, self.latent_dim, len(self.targets) * self.ensemble
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
        """Check shapes and ranges, and that no head has weight on a column it may not see."""
        n = len(self.context)
        if not (len(self.transforms) == len(self.norm_mean) == len(self.norm_std) == n):
            raise BaleFormatError("network normalization does not match its context columns")
        if any(t not in ("log", "linear") for t in self.transforms):
            raise BaleFormatError("unknown feature transform")
        if not all(np.isfinite(self.norm_mean)) or not all(np.isfinite(s) and s > 0 for s in self.norm_std):
            raise BaleFormatError("network normalization is not finite and positive")
        if len(self.available) != len(self.targets) or any(t not in self.context for t in self.targets):
            raise BaleFormatError("network heads do not match its targets")
        if any(i < 0 or i >= n for a in self.available for i in a):
            raise BaleFormatError("network head refers to a missing context column")
        for name, shape in self.weight_shapes().items():
            got = self.weights.get(name)
            if got is None or got.shape != shape or not np.all(np.isfinite(got)):
                raise BaleFormatError(f"network weight {name} missing or of wrong shape")
            if name.rsplit(".", 1)[1].startswith("w") and np.abs(got).max(initial=0) > 2**WEIGHT_BITS:
                raise BaleFormatError(f"network weight {name} out of the fixed-point range")
            if name.rsplit(".", 1)[1].startswith("b") and np.abs(got).max(initial=0) > 2.0**52:
                raise BaleFormatError(f"network bias {name} out of range")
            if name.rsplit(".", 1)[1].startswith("w"):
                exps = self.exponents.get(name, [])
                if len(exps) != (shape[0] if name.startswith("head.") else 1) or any(abs(e) > 40 for e in exps):
                    raise BaleFormatError(f"network weight {name} has bad exponents")
        k = self.latent_dim
        for j, cols in enumerate(self.available):
            hidden_cols = np.ones(n, dtype=bool)
            hidden_cols[cols] = False
            for head in range(j * self.ensemble, (j + 1) * self.ensemble):
                if np.any(self.weights["head.w1"][head][:, k:][:, hidden_cols]):
                    raise BaleFormatError(f"network head {head} uses columns decoded after it")

    # -- evaluation --
    def feature(self, index: int, values: np.ndarray) -> np.ndarray:
        """Fixed-point feature of context column ``index``: integers in float64.

        ``log|x|`` in NumPy (the same ``log`` on every path), then standardized, made finite,
        clipped to ``±FEATURE_CLIP`` and rounded to ``FEATURE_BITS`` fractional bits in one
        compiled pass (:func:`bale.models.kernels.standardize`), in place.
        """
        from bale.models.kernels import standardize  # numba, imported when first decoding

        f = values.astype(np.float64)  # a copy, worked on in place
        if self.transforms[index] == "log":
            with np.errstate(all="ignore"):
                np.abs(f, out=f)
                np.log(f, out=f)
        standardize(f, self.norm_mean[index], self.norm_std[index], FEATURE_CLIP, 2.0**FEATURE_BITS)
        return f

    def features(self, decoded: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        out = np.zeros((n, len(self.context)), dtype=np.float64)
        for i, name in enumerate(self.context):
            if name in decoded:
                out[:, i] = self.feature(i, decoded[name])
        return out

    @staticmethod
    def _layer(inputs: np.ndarray, weight_t: np.ndarray, bias: np.ndarray, exp: int, in_bits: int) -> np.ndarray:
        """ReLU layer in fixed point; the result has ``HIDDEN_BITS`` fractional bits."""
        acc = inputs @ weight_t  # exact: integer-valued float64, far below 2**53
        acc += bias
        return ConditionalNetwork._requantize(acc, HIDDEN_BITS - in_bits - exp)

    @staticmethod
    def _requantize(acc: np.ndarray, shift: int) -> np.ndarray:
        """``min(floor(relu(acc) * 2**shift), clip)``, in place: exact, since the scale is a power of two."""
        acc *= 2.0**shift
        np.floor(acc, out=acc)
        return np.clip(acc, 0.0, _HIDDEN_CLIP, out=acc)

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Integer latent codes of each row (shape ``(n, latent_dim)``)."""
        w, e = self.weights, self.exponents
        out = np.empty((len(features), self.latent_dim), dtype=np.int64)
        w1, w2 = np.ascontiguousarray(w["enc.w1"].T), np.ascontiguousarray(w["enc.w2"].T)
        for start in range(0, len(features), _BLOCK_ROWS):
            hidden = self._layer(features[start : start + _BLOCK_ROWS], w1, w["enc.b1"], e["enc.w1"][0], FEATURE_BITS)
            acc = hidden @ w2 + w["enc.b2"]
            out[start : start + _BLOCK_ROWS] = np.rint(np.ldexp(acc, -HIDDEN_BITS - e["enc.w2"][0]))
        return np.clip(out, -_LATENT_CLIP, _LATENT_CLIP)

    def predict(self, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Prediction of target ``target`` in its domain (float64), from the features decoded so far.

        ``features`` has shape ``(n, len(context))``; a column-major array (``features.T``
        contiguous, as the codec keeps it) is used without a copy. The head reads only the
        columns it may see (the others have zero weight, checked in :meth:`validate`). An
        ensemble's heads are each exact; their mean is taken in a fixed order.
        """
        from bale.models.kernels import add_head, head_forward  # numba, imported when first decoding

        w, e, k = self.weights, self.exponents, self.latent_dim
        columns = np.asarray(self.available[target], dtype=np.int64)
        by_column = np.ascontiguousarray(features.T, dtype=np.float64)
        latent_fixed = np.ascontiguousarray(np.ldexp(latent.T.astype(np.float64), FEATURE_BITS))
        standardized = np.zeros(len(features), dtype=np.float64)
        result = np.empty(len(features), dtype=np.float64)
        index = self.context.index(self.targets[target])
        std, mean = float(self.norm_std[index]), float(self.norm_mean[index])
        for head in range(target * self.ensemble, (target + 1) * self.ensemble):
            w1 = w["head.w1"][head]
            e1, e2, e3 = (e[f"head.{name}"][head] for name in _WEIGHTS)
            out = np.empty(len(features), dtype=np.float64)
            head_forward(
                by_column, columns, latent_fixed,
                np.ascontiguousarray(w1[:, k:][:, columns]), np.ascontiguousarray(w1[:, :k]), w["head.b1"][head],
                2.0 ** (HIDDEN_BITS - FEATURE_BITS - e1),
                np.ascontiguousarray(w["head.w2"][head]), w["head.b2"][head], 2.0 ** (-e2),
                np.ascontiguousarray(w["head.w3"][head]), _HIDDEN_CLIP, self.skip, out,
            )  # fmt: skip
            last = head == (target + 1) * self.ensemble - 1
            scale = float(np.ldexp(1.0, -HIDDEN_BITS - e3))  # exact: the outputs stay far from subnormal
            add_head(out, float(w["head.b3"][head]), scale, standardized, last, self.ensemble, std, mean, result)
        return result
