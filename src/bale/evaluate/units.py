"""Units for axis labels, from a column's name (HEP conventions: energies in GeV, angles in radians).

Only names that say their quantity get a unit; anything else is left without one rather
than given a guess.
"""

from __future__ import annotations

import re

_GEV = re.compile(r"(^|_)(pt|e|energy|m|mass|px|py|pz|et|sumet|met|ht|msoftdrop)$", re.IGNORECASE)
_RAD = re.compile(r"(^|_)(phi|dphi)$", re.IGNORECASE)


def unit_of(name: str) -> str:
    """``"GeV"``, ``"rad"`` or ``""`` for a column named ``name`` (``Jet_pt`` -> GeV, ``Muon_phi`` -> rad)."""
    if _GEV.search(name):
        return "GeV"
    if _RAD.search(name):
        return "rad"
    return ""


def with_unit(label: str, name: str) -> str:
    """``label [unit]`` when ``name`` has a unit, else ``label``."""
    unit = unit_of(name)
    return f"{label} [{unit}]" if unit else label
