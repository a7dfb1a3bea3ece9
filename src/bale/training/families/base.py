"""What a network family is: an architecture of the shared network, and an extra training term."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Activity", "Family", "Penalty"]


@dataclass(frozen=True)
class Activity:
    """The tensors of one training batch a penalty may look at (None where the network has none)."""

    latent: Any  # the encoder's output (a VAE's mean)
    latent_fed: Any  # what the heads saw: with quantization noise, a VAE's sample
    log_var: Any  # a VAE's log-variance
    hidden: Any  # the heads' first hidden layer


# penalty(model settings, activity) -> tensor or 0.0, added to the loss
Penalty = Callable[[Any, Activity], Any]


def _no_penalty(settings: Any, activity: Activity) -> float:
    return 0.0


@dataclass(frozen=True)
class Family:
    """One network family, chosen by ``model.family``.

    Every family trains the same masked-MLP network (:class:`bale.training.network.TorchConditional`)
    with some of its options turned on, so every family decodes with the same exact integer forward
    pass (:class:`bale.models.conditional.ConditionalNetwork`) and needs no code to decode.
    """

    name: str
    summary: str  # one line, for docs and --help
    source: str  # where the idea comes from
    conditioned: bool = False  # heads see the columns decoded before theirs (default of model.condition)
    architecture: Callable[[Any], dict[str, Any]] = field(default=lambda settings: {})
    penalty: Penalty = _no_penalty  # added to the loss while training
