"""Network families by name (``model.family``). Adding a family is one module plus one line here.

Importing this package does not import torch: a family's penalty works on the tensors it is given.
"""

from __future__ import annotations

import importlib
from typing import Any

from bale.errors import BaleConfigError
from bale.training.families.base import Activity, Family

__all__ = ["FAMILIES", "Activity", "Family", "family_of"]

# one line per family: the module in this package that defines FAMILY
_MODULES = (
    "conditional",
    "dense",
    "skip",
    "sparse",
    "ensemble",
    "vae",
)
FAMILIES: dict[str, Family] = {
    f.name: f for f in (importlib.import_module(f"{__name__}.{m}").FAMILY for m in _MODULES)
}


def family_of(settings: Any) -> Family:
    """The family named by ``settings.family`` (a :class:`bale.config.ModelConfig`), checked."""
    family = FAMILIES.get(settings.family)
    if family is None:
        raise BaleConfigError(f"model.family = {settings.family!r} is unknown; known: {', '.join(FAMILIES)}")
    conditioned = settings.condition if settings.condition is not None else family.conditioned
    if not conditioned and settings.latent_dim == 0 and settings.learned:
        raise BaleConfigError(f"family {family.name!r} predicts from the latent only: set model.latent_dim >= 1")
    return family
