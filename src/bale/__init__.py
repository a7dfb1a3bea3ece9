"""bale: error-bounded learned compression of scientific tables.

>>> import bale
>>> report = bale.compress("jets.parquet", "jets.bale", error="rel=1e-3")  # doctest: +SKIP
>>> table = bale.decompress("jets.bale", "jets_out.parquet")  # doctest: +SKIP

The public names are imported when first used (PEP 562), so that ``import bale`` and a
command that only decodes do not pay for what only training and file writers need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bale._lazy import lazy_names
from bale._version import __version__

if TYPE_CHECKING:
    from bale.api import as_dataset, compress, decompress, info, load_model, save_model, train, verify
    from bale.api.reading import BaleFile, BaleTree, open
    from bale.bounds import Bound, parse_bound
    from bale.errors import BaleConfigError, BaleError, BaleFormatError, BaleInputError, BaleModelMismatchError
    from bale.models import CompressionModel
    from bale.models.bundle import DatasetModel
    from bale.reports import CompressReport, Info, Verify
    from bale.table import Dataset, Fields, Forest, Table

# public name -> the module it lives in
_LAZY = {
    **dict.fromkeys(
        ("as_dataset", "compress", "decompress", "info", "load_model", "save_model", "train", "verify"), "bale.api"
    ),
    **dict.fromkeys(("BaleFile", "BaleTree", "open"), "bale.api.reading"),
    **dict.fromkeys(("Bound", "parse_bound"), "bale.bounds"),
    **dict.fromkeys(
        ("BaleConfigError", "BaleError", "BaleFormatError", "BaleInputError", "BaleModelMismatchError"), "bale.errors"
    ),
    "CompressionModel": "bale.models",
    "DatasetModel": "bale.models.bundle",
    **dict.fromkeys(("CompressReport", "Info", "Verify"), "bale.reports"),
    **dict.fromkeys(("Dataset", "Fields", "Forest", "Table"), "bale.table"),
}


__all__ = [
    "BaleConfigError",
    "BaleError",
    "BaleFile",
    "BaleFormatError",
    "BaleInputError",
    "BaleModelMismatchError",
    "BaleTree",
    "Bound",
    "CompressReport",
    "CompressionModel",
    "Dataset",
    "DatasetModel",
    "Fields",
    "Forest",
    "Info",
    "Table",
    "Verify",
    "__version__",
    "as_dataset",
    "compress",
    "decompress",
    "info",
    "load_model",
    "open",
    "parse_bound",
    "save_model",
    "train",
    "verify",
]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__, globals())
