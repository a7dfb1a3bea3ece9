"""Baler's baseline: a fully connected autoencoder; every column is predicted from the latent alone."""

from bale.training.families.base import Family

FAMILY = Family(
    name="dense",
    summary="fully connected autoencoder: encoder to a latent per row, one decoder head per column",
    source="Baler (Bengtsson et al., arXiv:2305.02283), its default model",
)
