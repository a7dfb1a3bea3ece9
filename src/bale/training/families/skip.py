"""Skip connections: the first hidden layer of each head is added to its second (a residual block)."""

from bale.training.families.base import Family

FAMILY = Family(
    name="skip",
    summary="dense autoencoder with a residual connection around each head's second layer",
    source="the Baler studies' skip-connection models (residual blocks after He et al. 2016)",
    architecture=lambda settings: {"skip": True},
)
