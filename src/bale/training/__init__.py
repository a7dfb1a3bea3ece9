"""Training: fit a compression model (predictor choice per column, relations, network) to data."""

from bale.training.fit import fit_model

__all__ = ["fit_model"]
