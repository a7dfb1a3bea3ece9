"""What a read asks for: which keys (``filter_name``: globs and ``/regex/``) and which entries (uproot's ranges)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

__all__ = ["Filter", "entry_range", "filtered"]

#: A key filter as uproot takes it: a glob, ``/regex/``, a list of them, or a predicate (None: every key).
Filter = str | Sequence[str] | Callable[[str], bool] | None


def entry_range(start: int | None, stop: int | None, n: int) -> tuple[int, int]:
    """uproot's entry range: negative counts from the end, then clipped to the entries."""
    lo = 0 if start is None else (start + n if start < 0 else start)
    hi = n if stop is None else (stop + n if stop < 0 else stop)
    lo, hi = min(max(lo, 0), n), min(max(hi, 0), n)
    return lo, max(lo, hi)


def filtered(names: list[str], filter_name: Filter) -> list[str]:
    """The ``names`` that ``filter_name`` keeps, in their order."""
    if filter_name is None:
        return names
    if callable(filter_name):
        return [n for n in names if filter_name(n)]
    patterns = [filter_name] if isinstance(filter_name, str) else list(filter_name)
    regexes = [re.compile(p[1:-1]) for p in patterns if len(p) > 1 and p.startswith("/") and p.endswith("/")]
    globs = [p for p in patterns if not (len(p) > 1 and p.startswith("/") and p.endswith("/"))]
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs) or any(r.search(n) for r in regexes)]
