"""Baler's sparse autoencoder: an L1 activity penalty on the latents, a KL sparsity target on the hidden units."""

from __future__ import annotations

from typing import Any

from bale.training.families.base import Activity, Family


def _sparsity(settings: Any, activity: Activity) -> Any:
    penalty: Any = 0.0
    if activity.latent_fed is not None:
        penalty = settings.reg_param * activity.latent_fed.abs().mean()
    if activity.hidden is not None:
        rho = settings.rho
        rho_hat = activity.hidden.mean(0).clamp(1e-4, 1 - 1e-4)
        kl = rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()
        penalty = penalty + settings.reg_param * kl.sum(-1).mean()
    return penalty


FAMILY = Family(
    name="sparse",
    summary="dense autoencoder trained with L1 on the latent activity (reg_param) and a KL target rho",
    source="the Baler studies' sparse autoencoders (Ng's sparse autoencoder notes, KL sparsity)",
    penalty=_sparsity,
)
