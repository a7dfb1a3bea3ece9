"""Several decoder heads per column, trained together, their outputs averaged."""

from bale.training.families.base import Family

FAMILY = Family(
    name="ensemble",
    summary="model.heads decoder heads per column (default 5), averaged",
    source="the Baler studies' multi-head decoder ensembles",
    architecture=lambda settings: {"ensemble": settings.heads},
)
