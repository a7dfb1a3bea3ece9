"""bale: error-bounded learned compression of scientific tables.

>>> import bale
>>> report = bale.compress("jets.parquet", "jets.bale", error="rel=1e-3")  # doctest: +SKIP
>>> table = bale.decompress("jets.bale", "jets_out.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from bale.api import compress, decompress, info, load_model, save_model, train  # noqa: E402
from bale.bounds import Bound, parse_bound  # noqa: E402
from bale.errors import BaleConfigError, BaleError, BaleFormatError, BaleInputError, BaleModelMismatchError  # noqa: E402
from bale.table import Table  # noqa: E402

__all__ = [
    "__version__", "compress", "decompress", "info", "train", "load_model", "save_model", "Bound", "parse_bound",
    "Table", "BaleError", "BaleInputError", "BaleFormatError", "BaleConfigError", "BaleModelMismatchError",
]
