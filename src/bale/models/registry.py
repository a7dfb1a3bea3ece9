"""Network families by name. Adding a family is one module plus one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from bale.errors import BaleFormatError
from bale.models.conditional import ConditionalNetwork
from bale.models.conv import ConvGridModel

__all__ = ["NETWORKS", "Network", "network_from_config"]


class Network(Protocol):
    """What the codec needs of a network: features of decoded columns, latents, predictions."""

    context: list[str]
    targets: list[str]
    available: list[list[int]]
    latent_dim: int

    def get_config(self) -> dict[str, Any]: ...

    def storage(self) -> dict[str, np.ndarray]: ...

    def feature(self, index: int, values: np.ndarray) -> np.ndarray: ...

    def features(self, decoded: Mapping[str, np.ndarray], n: int) -> np.ndarray: ...

    def encode(self, features: np.ndarray) -> np.ndarray: ...

    def predict(self, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray: ...


NETWORKS: dict[str, Any] = {"conditional": ConditionalNetwork, "conv": ConvGridModel}  # conv: grids (bale.grid)


def network_from_config(config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> Network:
    family = config.get("family")
    if family not in NETWORKS:
        raise BaleFormatError(f"unknown network family {family!r}; known: {sorted(NETWORKS)}")
    return NETWORKS[family].from_config(config, weights)  # type: ignore[no-any-return]
