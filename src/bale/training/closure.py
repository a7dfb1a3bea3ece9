"""Bounded dependency closures: choose predictors so that reading one column decodes few others.

Reading a column decodes its *dependency closure* (:func:`bale.chunks.closure`): the column,
the inputs of its relation or the context columns its network head sees, and theirs in
turn. ``model.max_closure = N`` bounds that set to ``N`` columns (the column included; the
``@latent`` section of a network with latents is not a column and is not counted).

Predictors are chosen in coding order, so a column's closure is known when a later column
asks to depend on it, except for the columns the network may predict: a head is chosen
after the relations, and its column's closure grows into the closures of the relation
columns that use it. :class:`ClosureBudget` therefore keeps the planned closure of every
column and checks both the column being planned and every column already depending on it.
A head that training later drops (its column falls back to ``grid`` or ``delta``) only
shrinks closures, so the bound holds for the model that is kept.

Which columns a head sees within the bound is a greedy forward selection
(:func:`select_context`): at each step the candidate that most reduces the residual of a
least-squares fit of the target on ``x, |x|, x²`` of the columns chosen so far, among the
candidates whose closures still fit; columns already inside the closure are then added for
free (they are decoded anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["SELECTION_ROWS", "ClosureBudget", "select_context"]

SELECTION_ROWS = 4096  # rows the forward selection fits on
MIN_SELECTION_GAIN = 0.02  # bits/value a further input must save in the linear fit to be chosen


class ClosureBudget:
    """Planned dependency closures of a model's columns, under a limit of ``limit`` columns."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inputs: dict[str, tuple[str, ...]] = {}
        self.closures: dict[str, frozenset[str]] = {}

    def closure_with(self, name: str, inputs: Iterable[str]) -> frozenset[str]:
        """The closure ``name`` would have if predicted from ``inputs`` (columns already planned)."""
        out = {name}
        for i in inputs:
            out |= self.closures[i]
        return frozenset(out)

    def fits(self, name: str, inputs: Iterable[str]) -> bool:
        """Whether predicting ``name`` from ``inputs`` keeps it and every column using it within the limit."""
        new = self.closure_with(name, inputs)
        if len(new) > self.limit:
            return False
        return all(len(c | new) <= self.limit for other, c in self.closures.items() if other != name and name in c)

    def set(self, name: str, inputs: Iterable[str]) -> None:
        """Plan ``name`` as predicted from ``inputs``; the closures of the columns using it follow."""
        self.inputs[name] = tuple(inputs)
        self._recompute()

    def _recompute(self) -> None:
        done: dict[str, frozenset[str]] = {}

        def visit(name: str, stack: frozenset[str]) -> frozenset[str]:
            if name in done:
                return done[name]
            out = {name}
            for i in self.inputs.get(name, ()):
                if i not in stack:
                    out |= visit(i, stack | {name})
            done[name] = frozenset(out)
            return done[name]

        for name in self.inputs:
            visit(name, frozenset())
        self.closures = done

    def largest(self) -> int:
        return max((len(c) for c in self.closures.values()), default=0)


def _basis(x: np.ndarray) -> np.ndarray:
    return np.stack([x, np.abs(x), x * x], axis=1)


def select_context(
    target: str,
    y: np.ndarray,
    candidates: Sequence[str],
    features: Mapping[str, np.ndarray],
    budget: ClosureBudget,
) -> list[str]:
    """The columns of ``candidates`` a head predicting ``target`` sees, within ``budget``.

    ``y`` is the target and ``features[c]`` candidate ``c`` on the same rows, standardized.
    Returns them in the order of ``candidates``.
    """
    ok = np.isfinite(y)
    y = y[ok][:SELECTION_ROWS]
    design = np.ones((len(y), 1))
    rss = float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0
    chosen: list[str] = []
    cand = [c for c in candidates if budget.fits(target, [c])]
    basis = {c: _basis(np.nan_to_num(features[c][ok][:SELECTION_ROWS])) for c in cand}
    while rss > 0:
        best, best_rss = None, rss
        for c in cand:
            if c in chosen or not budget.fits(target, [*chosen, c]):
                continue
            x = np.concatenate([design, basis[c]], axis=1)
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            r = float(np.sum((y - x @ coef) ** 2))
            if r < best_rss:
                best, best_rss = c, r
        if best is None or 0.5 * np.log2(rss / max(best_rss, 1e-300)) < MIN_SELECTION_GAIN:
            break
        chosen.append(best)
        design = np.concatenate([design, basis[best]], axis=1)
        rss = best_rss
    inside = budget.closure_with(target, chosen)
    chosen += [c for c in cand if c not in chosen and budget.closures[c] <= inside]  # decoded anyway: free
    keep = set(chosen)
    return [c for c in candidates if c in keep]
