"""Public names of a package imported when first used (PEP 562), for ``bale`` and ``bale.api``.

``import bale`` and a command that only decodes then do not pay for what training and the
file writers import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str], public: Iterable[str], namespace: dict[str, Any]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``homes`` from its module, once.

    A name that is not public is looked up as a submodule (``bale.chunks``), as if the package
    had imported it; probes for dunder names are not.
    """
    listed = set(public)

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            return _submodule(package, name)
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value  # looked up once
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | listed)

    return __getattr__, __dir__


def _submodule(package: str, name: str) -> object:
    if name.startswith("__"):  # probes for dunder names (tools, pickling) are not submodules
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.{name}":  # a module it imports is missing: say so
            raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
