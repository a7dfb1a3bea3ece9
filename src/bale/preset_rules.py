"""Name-rule presets: bounds chosen from what a column's name says it holds (``--preset kinematic``).

A :class:`RulePreset` reads each column name the way a physicist would: it splits the name at
``_`` and ``.``, lowercases it and drops a trailing object number, then looks the first and last
pieces up in its rules. ``Jet_eta``, ``jet_phi``, ``eta``, ``eta1`` and ``Muon_PHI`` are angles,
``Jet_Px``, ``pt2``, ``E1``, ``MET_px`` and ``mass`` momenta, energies and masses, ``n_constituents``,
``NJet``, ``Muon_charge`` and ``isTight`` counts and flags. Columns no rule names keep the default
bound. The rules and their reasons are in ``docs/presets.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["KINEMATIC", "NameRule", "RulePreset", "name_pieces"]

_SPLIT = re.compile(r"[_.]+")


def name_pieces(column: str) -> tuple[str, str]:
    """The first and last piece of ``column``, lowercased, a trailing object number dropped.

    ``Jet_eta`` -> (``jet``, ``eta``); ``eta1`` -> (``eta``, ``eta``); ``Muon_Px`` -> (``muon``, ``px``);
    ``lead.jet.pt`` -> (``lead``, ``pt``).
    """
    pieces = [p for p in _SPLIT.split(column) if p] or [column]
    first, last = pieces[0].lower(), pieces[-1].lower()
    stripped = last.rstrip("0123456789")
    return first, stripped or last


@dataclass(frozen=True)
class NameRule:
    """Columns named by this rule get ``bound``.

    A column matches when its last piece is one of ``suffixes``, when it has several pieces and
    the first is one of ``prefixes``, or when the whole name matches the regular expression
    ``pattern`` (case-sensitive, from the start).
    """

    label: str
    bound: str
    suffixes: frozenset[str]
    prefixes: frozenset[str] = frozenset()
    pattern: str = ""
    why: str = ""

    def matches(self, column: str) -> bool:
        first, last = name_pieces(column)
        if last in self.suffixes:
            return True
        if first in self.prefixes and len([p for p in _SPLIT.split(column) if p]) > 1:
            return True
        return bool(self.pattern) and re.match(self.pattern, column) is not None


class BoundsByColumn:
    """A preset's bound per column (``bound_for``), and so the bounds of many columns."""

    def bound_for(self, column: str) -> str | None:
        raise NotImplementedError

    def bounds_for(self, columns: Iterable[str]) -> dict[str, str]:
        """Bound spec of each of ``columns`` the preset covers, in the order given."""
        found: dict[str, str] = {}
        for column in columns:
            spec = self.bound_for(column)
            if spec is not None:
                found[column] = spec
        return found


@dataclass(frozen=True)
class RulePreset(BoundsByColumn):
    """Bounds by column-name rules, tried in order: the first rule that matches decides."""

    name: str
    description: str
    rules: tuple[NameRule, ...]

    def rule_for(self, column: str) -> NameRule | None:
        """The rule that decides ``column``'s bound, or None when none names it."""
        for rule in self.rules:
            if rule.matches(column):
                return rule
        return None

    def bound_for(self, column: str) -> str | None:
        """The bound spec of ``column``, or None when no rule covers it (it keeps the default)."""
        rule = self.rule_for(column)
        return None if rule is None else rule.bound

    def explain(self, columns: Iterable[str]) -> list[tuple[str, str, list[str]]]:
        """Per rule that matched something: (label, bound, columns), then ("no rule", "default", rest)."""
        groups: dict[str, list[str]] = {rule.label: [] for rule in self.rules}
        rest: list[str] = []
        for column in columns:
            rule = self.rule_for(column)
            (groups[rule.label] if rule else rest).append(column)
        lines = [(r.label, r.bound, groups[r.label]) for r in self.rules if groups[r.label]]
        if rest:
            lines.append(("no rule", "default", rest))
        return lines


ANGLE_BOUND = "abs=0.001"
MOMENTUM_BOUND = "rel=0.001"

KINEMATIC = RulePreset(
    name="kinematic",
    description="kinematic tables and collections: abs=1e-3 on angles (eta, phi), rel=1e-3 on momenta, "
    "energies and masses, exact for counts and flags; matched by column name",
    rules=(
        NameRule(
            label="counts and flags",
            bound="exact",
            suffixes=frozenset({"charge", "q", "pdgid", "id", "flag", "flags", "count", "ncand", "nconstituents"}),
            prefixes=frozenset({"n", "num", "is", "has", "pass", "passes"}),
            pattern=r"[nN][A-Z]",  # NJet, nMuon: a count of objects in CamelCase
            why="integers stored as numbers: any error changes what they mean",
        ),
        NameRule(
            label="angles",
            bound=ANGLE_BOUND,
            suffixes=frozenset({"eta", "phi", "theta", "deta", "dphi", "deltaeta", "deltaphi", "rapidity"}),
            why="physicists work in absolute dEta, dPhi; 1e-3 is well under a calorimeter cell (0.0174 to 0.087)",
        ),
        NameRule(
            label="momenta, energies, masses",
            bound=MOMENTUM_BOUND,
            suffixes=frozenset(
                {"pt", "px", "py", "pz", "p", "e", "energy", "et", "m", "mass", "mt", "msoftdrop", "met", "sumet", "ht"}
            ),
            why="resolutions scale with the value: a relative bound",
        ),
    ),
)
