"""bale: error-bounded learned compression of scientific tables.

>>> import bale
>>> report = bale.compress("jets.parquet", "jets.bale", error="rel=1e-3")  # doctest: +SKIP
>>> table = bale.decompress("jets.bale", "jets_out.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

from bale._version import __version__
from bale.api import as_dataset, compress, decompress, info, load_model, save_model, train, verify
from bale.api.reading import BaleFile, BaleTree, open
from bale.bounds import Bound, parse_bound
from bale.errors import BaleConfigError, BaleError, BaleFormatError, BaleInputError, BaleModelMismatchError
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel
from bale.reports import CompressReport, Info, Verify
from bale.table import Dataset, Fields, Forest, Table


def __getattr__(name: str) -> object:
    """``bale.dask`` (dask_awkward arrays of ``.bale`` files) is imported when first used."""
    if name == "dask":
        import importlib

        return importlib.import_module("bale.dask")
    raise AttributeError(f"module 'bale' has no attribute {name!r}")


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
