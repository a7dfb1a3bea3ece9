"""bale's own predictor: each column's head sees every column decoded before it in the row."""

from bale.training.families.base import Family

FAMILY = Family(
    name="conditional",
    summary="per column an MLP head on the columns already decoded (and an optional latent)",
    source="bale; the autoregressive factorisation of learned lossless coders (PixelCNN, DeepZip), on rows",
    conditioned=True,
)
