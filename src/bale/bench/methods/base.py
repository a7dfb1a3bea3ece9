"""What a benchmarked method is: a compressor and a decompressor of a whole table under per-column bounds."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bale.bounds import Bound
from bale.config import BaleConfig

__all__ = ["Bounds", "Columns", "Context", "Encoded", "Method", "lossy_columns", "missing_modules"]

Columns = dict[str, np.ndarray]
Bounds = dict[str, Bound]


@dataclass
class Context:
    """What a method may use besides the table: a scratch folder, bale's config, a seed."""

    tmp: Path
    config: BaleConfig = field(default_factory=BaleConfig)
    seed: int = 0


@dataclass
class Encoded:
    """A compressed table: its size in bytes (every byte needed to decode, unless ``info`` says otherwise)."""

    nbytes: int
    payload: Any  # bytes for blob methods; a path or anything the method's decoder takes
    info: dict[str, Any] = field(default_factory=dict)  # reported as is (keepbits, exceptions, model bytes …)


@dataclass(frozen=True)
class Method:
    """A compression method under test.

    ``compress(columns, bounds, ctx, state)`` and ``decompress(encoded, ctx, state)`` are timed;
    ``prepare(columns, bounds, ctx)`` (optional) is not: it gives ``state`` (bale's external model is
    trained there) and its seconds are reported apart. ``applies(columns, bounds)`` returns why the method
    does not apply (``None`` when it does). ``bound_independent``: the output depends only on which
    columns are exact, not on the bound values (lossless methods, the autoencoder), so one run is verified
    against every bound of a curve.
    """

    name: str
    family: str
    description: str
    compress: Callable[[Columns, Bounds, Context, Any], Encoded]
    decompress: Callable[[Encoded, Context, Any], Columns]
    requires: tuple[str, ...] = ()
    prepare: Callable[[Columns, Bounds, Context], Any] | None = None
    applies: Callable[[Columns, Bounds], str | None] | None = None
    bound_independent: bool = False
    lossless: bool = False

    def missing(self) -> str | None:
        """Why the method cannot run here (a library that does not import), or ``None``."""
        return missing_modules(self.requires)

    def cache_key(self, bounds: Bounds) -> Hashable:
        if self.bound_independent:
            return (self.name, frozenset(lossy_columns(bounds)))
        return (self.name, tuple(sorted((k, str(b)) for k, b in bounds.items())))


_IMPORT_ERRORS: dict[str, str | None] = {}


def missing_modules(modules: tuple[str, ...]) -> str | None:
    for module in modules:
        if module not in _IMPORT_ERRORS:
            try:
                importlib.import_module(module)
                _IMPORT_ERRORS[module] = None
            except Exception as exc:  # an optional library may fail in any way on import
                _IMPORT_ERRORS[module] = f"{module} not importable ({type(exc).__name__}: {exc})"[:200]
        if _IMPORT_ERRORS[module]:
            return _IMPORT_ERRORS[module]
    return None


def lossy_columns(bounds: Bounds) -> list[str]:
    return [name for name, bound in bounds.items() if bound.mode != "exact"]
