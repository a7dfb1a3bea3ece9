"""The Python API: :func:`train`, :func:`compress`, :func:`decompress`, :func:`info`.

Each accepts a path or a table in memory (pandas or pyarrow table, dict of arrays,
NumPy structured or 2-D array, :class:`~bale.table.Table`) and mirrors the CLI command of
the same name. What :func:`info`, :func:`verify` and :func:`compress` return is typed by
:mod:`bale.reports` (plain dicts at run time). The names are imported when first used
(PEP 562): decoding does not import what training and reading input files need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bale._lazy import lazy_names

if TYPE_CHECKING:
    from bale.api.compressing import compress
    from bale.api.decoding import decompress
    from bale.api.inputs import PathLike, as_dataset, as_table, training_sample
    from bale.api.inspect import info, verify
    from bale.api.training import load_model, save_model, train
    from bale.reports import (
        CompressReport,
        FieldsInfo,
        FieldsVerify,
        Info,
        RootFileInfo,
        RootFileVerify,
        TableInfo,
        TableVerify,
        Verify,
        table_info,
    )

_LAZY = {
    "compress": "bale.api.compressing",
    "decompress": "bale.api.decoding",
    **dict.fromkeys(("PathLike", "as_dataset", "as_table", "training_sample"), "bale.api.inputs"),
    **dict.fromkeys(("info", "verify"), "bale.api.inspect"),
    **dict.fromkeys(("load_model", "save_model", "train"), "bale.api.training"),
    **dict.fromkeys(
        (
            "CompressReport",
            "FieldsInfo",
            "FieldsVerify",
            "Info",
            "RootFileInfo",
            "RootFileVerify",
            "TableInfo",
            "TableVerify",
            "Verify",
            "table_info",
        ),
        "bale.reports",
    ),
}


__all__ = [
    "CompressReport",
    "FieldsInfo",
    "FieldsVerify",
    "Info",
    "PathLike",
    "RootFileInfo",
    "RootFileVerify",
    "TableInfo",
    "TableVerify",
    "Verify",
    "as_dataset",
    "as_table",
    "compress",
    "decompress",
    "info",
    "load_model",
    "save_model",
    "table_info",
    "train",
    "training_sample",
    "verify",
]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__, globals())
