"""A variational autoencoder: the encoder gives a mean and a variance; the mean is what is stored."""

from __future__ import annotations

from typing import Any

from bale.training.families.base import Activity, Family


def _kl(settings: Any, activity: Activity) -> Any:
    mean, log_var = activity.latent, activity.log_var
    if log_var is None or mean is None:
        return 0.0
    kl = -0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(1).mean()
    return settings.kl_weight * kl


FAMILY = Family(
    name="vae",
    summary="variational encoder (mean stored, sampled while training), KL to N(0, 1) weighted by kl_weight",
    source="Kingma and Welling 2014; the Baler studies' VAE",
    architecture=lambda settings: {"variational": True},
    penalty=_kl,
)
