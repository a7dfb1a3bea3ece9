"""Predictors: what the codec subtracts before quantizing.

- :mod:`bale.models.plan`: the :class:`CompressionModel` a ``.bale`` file is coded with
  (per-column predictor choice, bounds, the network), and its safetensors serialization;
- :mod:`bale.models.predictor_kinds`: the kinds of predictor (``KIND_GRID`` …) and the typed
  spec of one (:class:`PredictorSpec`), named once;
- :mod:`bale.models.relations`: closed-form relations between columns, found by search;
- :mod:`bale.models.conditional`: the conditional autoencoder (NumPy inference);
- :mod:`bale.models.registry`: network families by name.
"""

from bale.models.plan import ColumnPlan, CompressionModel

__all__ = ["ColumnPlan", "CompressionModel"]
