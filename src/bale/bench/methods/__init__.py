"""The registry of benchmarked methods, by name, in the order they are reported.

Every method compresses a whole table (a dict of 1-D columns) under per-column bounds and decodes it
back from what it stored alone; the runner checks every value. Optional libraries are imported only when
a method runs: a method whose library does not import is reported as skipped, with the reason.
"""

from __future__ import annotations

from bale.bench.methods import bale_method, baler_ae, bitround, fpzip, lossless, pco, sz3, zfp
from bale.bench.methods.base import Bounds, Columns, Context, Encoded, Method, lossy_columns
from bale.errors import BaleInputError

__all__ = [
    "METHODS",
    "Bounds",
    "Columns",
    "Context",
    "Encoded",
    "Method",
    "get_method",
    "lossy_columns",
    "register",
    "unregister",
]

METHODS: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to the registry (``replace`` to overwrite one of the same name)."""
    if method.name in METHODS and not replace:
        raise ValueError(f"a method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    METHODS.pop(name, None)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise BaleInputError(f"unknown bench method {name!r}; methods are {', '.join(METHODS)}") from None


for _module in (bale_method, lossless, bitround, pco, sz3, zfp, fpzip, baler_ae):
    for _method in _module.methods():
        register(_method)
