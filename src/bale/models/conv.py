"""The ``conv`` family: a small convolutional autoencoder of 2-D tiles, for grids.

A tile of ``T×T`` values (``T`` a multiple of 4) is normalized (``(x − mean)/scale``) and
encoded into ``latent_dim`` numbers, stored per tile as integers on a grid of step
``2^-latent_bits``; the decoder turns them back into a prediction of the tile:

    encoder  conv3×3/2 (1→C) ReLU · conv3×3/2 (C→C) ReLU · linear (C·T²/16 → L)
    decoder  linear (L → C·T²/16) ReLU · up×2 · conv3×3 (C→C) ReLU · up×2 · conv3×3 (C→1)

The **decoder runs in exact fixed point** (like the table network, see docs/codec.md):
weights are integers with a power-of-two scale per tensor, activations integers with
``FRACTION_BITS`` fractional bits, floored after each layer and clipped; every sum is an
integer far below 2⁵³ held in float64, so BLAS gives the same result on every machine,
in any order. The prediction (``y·scale + mean``) is then put on the codec's lattice with
one rint of one division: bit-identical wherever it runs. The encoder runs in plain float
(numpy): its output is stored, so it need not be reproducible. No torch is needed to
compress with a trained model or to decode; training is in :mod:`bale.training.conv`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bale.errors import BaleFormatError
from bale.safejson import MAX_HEADER, safetensors_metadata
from bale.safejson import loads as safe_loads

__all__ = ["FRACTION_BITS", "METADATA_KEY", "ConvGridModel"]

FRACTION_BITS = 12  # activations: integers in units of 2^-12
WEIGHT_BITS = 11  # weights: |w| < 2^11 after scaling
_CLIP = float(2**24)  # activations below 2^12 in real units
METADATA_KEY = "bale_grid_model"
_ENCODER = ("enc1.w", "enc1.b", "enc2.w", "enc2.b", "enc3.w", "enc3.b")
_DECODER = ("dec1.w", "dec1.b", "dec2.w", "dec2.b", "dec3.w", "dec3.b")


def _conv(a: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """3×3 convolution with zero padding 1: a (n, cin, h, w), w (cout, cin, 3, 3) -> (n, cout, h/stride, w/stride)."""
    padded = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]  # n, cin, h', w', 3, 3
    out: np.ndarray = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    return out


def _up(a: np.ndarray) -> np.ndarray:
    return a.repeat(2, axis=2).repeat(2, axis=3)


class ConvGridModel:
    """A trained conv autoencoder of grid tiles: float encoder, exact fixed-point decoder."""

    family = "conv"

    def __init__(self, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> None:
        self.config = dict(config)
        try:
            self.tile = int(config["tile"])
            self.latent_dim = int(config["latent_dim"])
            self.channels = int(config["channels"])
            self.latent_bits = int(config["latent_bits"])
            self.mean = float(config["mean"])
            self.scale = float(config["scale"])
            self.exponents = {k: int(v) for k, v in config["exponents"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BaleFormatError(f"bad conv model configuration: {exc}") from None
        if not (4 <= self.tile <= 256 and self.tile % 4 == 0) or not 0 < self.scale < float("inf"):
            raise BaleFormatError("bad conv model configuration: tile a multiple of 4 up to 256, scale positive")
        if not (
            1 <= self.latent_dim <= 256
            and 1 <= self.channels <= 64
            and 0 <= self.latent_bits <= FRACTION_BITS
            and np.isfinite(self.mean)
            and all(-64 <= e <= 64 for e in self.exponents.values())
            and set(self.exponents) >= {"dec1.w", "dec2.w", "dec3.w"}
        ):
            raise BaleFormatError("bad conv model configuration: a size, exponent or latent step out of range")
        missing = [k for k in (*_ENCODER, *_DECODER) if k not in weights]
        if missing:
            raise BaleFormatError(f"conv model lacks weights {missing}")
        self.weights = {k: np.asarray(v) for k, v in weights.items()}
        self.source_bytes: bytes | None = None
        self.record: dict[str, Any] = {}
        self._float = {k: self.weights[k].astype(np.float64) for k in _ENCODER}
        self._int = {k: self.weights[k].astype(np.float64) for k in _DECODER}  # integer-valued
        c, q = self.channels, self.tile // 4
        shapes = {
            "dec1.w": (c * q * q, self.latent_dim),
            "dec1.b": (c * q * q,),
            "dec2.w": (c, c, 3, 3),
            "dec2.b": (c,),
            "dec3.w": (1, c, 3, 3),
            "dec3.b": (1,),
        }
        for k, shape in shapes.items():
            if self._int[k].shape != shape or not np.all(np.isfinite(self._int[k])):
                raise BaleFormatError(f"conv model weight {k} has shape {self._int[k].shape}, expected {shape}")
            if np.any(self._int[k] != np.rint(self._int[k])) or np.abs(self._int[k]).max(initial=0) > 2**40:
                raise BaleFormatError(f"conv model weight {k} is not a small integer tensor")

    # -- encoder: float, only the compressor runs it
    def encode_tiles(self, tiles: np.ndarray) -> np.ndarray:
        """Integer latents (n, latent_dim) of tiles (n, T, T)."""
        w = self._float
        a = ((tiles - self.mean) / self.scale)[:, None]
        a = np.maximum(_conv(a, w["enc1.w"], 2) + w["enc1.b"][None, :, None, None], 0.0)
        a = np.maximum(_conv(a, w["enc2.w"], 2) + w["enc2.b"][None, :, None, None], 0.0)
        z = a.reshape(len(a), -1) @ w["enc3.w"].T + w["enc3.b"]
        z = np.clip(z, -(2.0**15), 2.0**15)
        return np.rint(z * 2.0**self.latent_bits).astype(np.int64)

    # -- decoder: exact fixed point
    def _layer(self, acc: np.ndarray, name: str) -> np.ndarray:
        """Back from weight scale to activation scale: floor, ReLU, clip (exact on integers)."""
        return np.clip(np.floor(acc * 2.0 ** -self.exponents[name]), 0.0, _CLIP)

    def decode_tiles(self, latents: np.ndarray) -> np.ndarray:
        """Predicted tiles (n, T, T) in data units from integer latents (n, latent_dim)."""
        w = self._int
        n = len(latents)
        z = np.clip(latents.astype(np.float64), -(2.0**20), 2.0**20) * 2.0 ** (FRACTION_BITS - self.latent_bits)
        z = np.trunc(z)  # exact when latent_bits <= FRACTION_BITS (enforced in training)
        c, q = self.channels, self.tile // 4
        a = self._layer(z @ w["dec1.w"].T + w["dec1.b"], "dec1.w").reshape(n, c, q, q)
        a = self._layer(_conv(_up(a), w["dec2.w"], 1) + w["dec2.b"][None, :, None, None], "dec2.w")
        acc = _conv(_up(a), w["dec3.w"], 1)[:, 0] + w["dec3.b"][0]
        y = acc * 2.0 ** -(self.exponents["dec3.w"] + FRACTION_BITS)
        tiles: np.ndarray = y * self.scale + self.mean
        return tiles

    # -- storage
    def to_bytes(self, info: Mapping[str, Any] | None = None) -> bytes:
        from safetensors.numpy import save

        meta = {"version": 1, "family": "conv", "network": self.config, "info": dict(info or {})}
        tensors = {k: np.ascontiguousarray(v) for k, v in self.weights.items()}
        return bytes(save(tensors, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)}))

    @classmethod
    def from_bytes(cls, data: bytes) -> ConvGridModel:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        meta = safetensors_metadata(bytes(data))  # length, size and depth checked before parsing
        try:
            weights = load(bytes(data))
        except (SafetensorError, ValueError) as exc:
            raise BaleFormatError(f"not a safetensors conv model: {str(exc)[:200]}") from None
        if METADATA_KEY not in meta:
            raise BaleFormatError("not a grid model (no bale_grid_model metadata): train one with `bale train --grid`")
        doc = safe_loads(meta[METADATA_KEY], "grid model metadata", max_bytes=MAX_HEADER)
        if not isinstance(doc, dict) or doc.get("family") != "conv" or doc.get("version") != 1:
            found = (doc.get("family"), doc.get("version")) if isinstance(doc, dict) else (None, None)
            raise BaleFormatError(f"unknown grid model family {found[0]!r} / version {found[1]!r}")
        if not isinstance(doc.get("network"), dict):
            raise BaleFormatError("grid model metadata has no network configuration")
        model = cls(doc["network"], weights)
        model.source_bytes = bytes(data)
        return model

    def file_bytes(self) -> bytes:
        """The bytes that name this model: those it was read from, else its serialization."""
        return self.source_bytes if self.source_bytes is not None else self.to_bytes()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> ConvGridModel:
        return cls(config, weights)


def quantize_decoder(float_weights: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Integer decoder weights and biases with a power-of-two exponent per layer (from float weights)."""
    out: dict[str, np.ndarray] = {}
    exponents: dict[str, int] = {}
    for layer in ("dec1", "dec2", "dec3"):
        w = np.asarray(float_weights[f"{layer}.w"], dtype=np.float64)
        b = np.asarray(float_weights[f"{layer}.b"], dtype=np.float64)
        top = float(np.abs(w).max(initial=0.0))
        e = WEIGHT_BITS - 1 - int(np.ceil(np.log2(top))) if top > 0 else 0
        e = int(np.clip(e, -8, 24))
        exponents[f"{layer}.w"] = e
        out[f"{layer}.w"] = np.rint(w * 2.0**e).astype(np.int32)
        out[f"{layer}.b"] = np.rint(b * 2.0 ** (e + FRACTION_BITS)).astype(np.int64)
    return out, exponents
