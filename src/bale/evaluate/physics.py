"""Physics quantities before and after compression: object masses, pair masses, response versus pt.

A per-column bound says little about derived quantities: a jet mass rebuilt from
``(E, px, py, pz)`` is ``sqrt(E² − p²)``, a difference of two large numbers, so a relative
error ``b`` on each component becomes a relative error of about ``b·(E/m)²`` on the mass.
These are the numbers an analysis sees, so they are measured here, with the ``vector``
library doing the kinematics.

Which columns form a four-vector is detected from their names — ``(E|energy, px, py, pz)``,
``(pt, eta, phi, mass|m)`` or ``(pt, eta, phi, E)``, with a common prefix (``Jet_pt``, ``jet.pt``)
or a number (``E1, px1, …``; objects numbered 1 and 2 form a pair) — or given explicitly
(``four_vectors={"jet": {"pt": "jpt", "eta": "jeta", "phi": "jphi", "mass": "jm"}}``).
Pairs of objects are matched by the *original* values (the two leading objects by
original pt), so that the same objects are compared before and after.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bale.errors import BaleInputError
from bale.evaluate.peaks import fit_peak
from bale.evaluate.results import MassResult, PairResult, PeakFit, ResponseVsPt, SpreadStats

__all__ = [
    "REPRESENTATIONS",
    "FourVector",
    "detect_four_vectors",
    "event_counts",
    "fit_peak",
    "leading_pairs",
    "mass_difference",
    "momenta",
    "numbered_pairs",
    "pair_mass",
    "parse_four_vector",
    "response_vs_pt",
    "spread_stats",
]

log = logging.getLogger(__name__)

#: The representations of a four-vector bale recognises, as roles, in order of preference.
REPRESENTATIONS: dict[str, tuple[str, ...]] = {
    "E,px,py,pz": ("energy", "px", "py", "pz"),
    "pt,eta,phi,m": ("pt", "eta", "phi", "mass"),
    "pt,eta,phi,E": ("pt", "eta", "phi", "energy"),
}
_ROLE_OF = {
    "energy": "energy",
    "e": "energy",
    "mass": "mass",
    "m": "mass",
    "pt": "pt",
    "eta": "eta",
    "phi": "phi",
    "px": "px",
    "py": "py",
    "pz": "pz",
}
_VECTOR_NAME = {role: "E" if role == "energy" else role for role in set(_ROLE_OF.values())}  # vector's names
_NAME = re.compile(r"^(?P<prefix>.*?)(?P<field>energy|mass|eta|phi|pt|px|py|pz|e|m)(?P<suffix>_?\d*)$", re.IGNORECASE)
_SEPARATORS = "_.:"
_EVENT_NAMES = {"event", "evt", "eventnumber", "event_number", "event_id", "eventid", "ievent"}


@dataclass
class FourVector:
    """The columns of one object's four-vector, by role (``pt``, ``eta``, ``phi``, ``mass``, ``energy``, ``px``…)."""

    name: str
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        for kind, roles in REPRESENTATIONS.items():
            if set(roles) == set(self.columns):
                return kind
        raise BaleInputError(
            f"four-vector {self.name!r}: roles {sorted(self.columns)} are none of "
            f"{[list(r) for r in REPRESENTATIONS.values()]}"
        )

    @property
    def label(self) -> str:
        return f"{self.name} ({', '.join(self.columns.values())})"

    @property
    def mass_is_column(self) -> bool:
        """True when the mass is stored, False when it is rebuilt from the four components."""
        return "mass" in self.columns


def parse_four_vector(name: str, spec: Mapping[str, str] | Sequence[str]) -> FourVector:
    """A four-vector from a config entry: ``{role: column}``, or four columns in ``pt, eta, phi, mass`` order."""
    if isinstance(spec, Mapping):
        columns = {}
        for role, column in spec.items():
            key = _ROLE_OF.get(str(role).lower())
            if key is None:
                raise BaleInputError(f"four-vector {name!r}: unknown role {role!r}; use {sorted(set(_ROLE_OF))}")
            columns[key] = str(column)
    else:
        spec = list(spec)
        if len(spec) != 4:
            raise BaleInputError(f"four-vector {name!r}: give four columns (pt, eta, phi, mass) or a role mapping")
        columns = dict(zip(REPRESENTATIONS["pt,eta,phi,m"], map(str, spec), strict=True))
    vec = FourVector(name, {role: columns[role] for role in REPRESENTATIONS[FourVector(name, columns).kind]})
    return vec


def detect_four_vectors(names: Sequence[str], table_name: str = "") -> list[FourVector]:
    """Four-vectors among column ``names``, recognised by the usual spellings of their components.

    Columns are grouped by what surrounds the component name: a prefix ending in ``_``,
    ``.`` or ``:`` (``Jet_pt``) and a number (``pt1``). A group holding a complete
    ``(E, px, py, pz)`` or ``(pt, eta, phi, m)`` set is an object; one holding both gives
    both, since the mass rebuilt from ``(E, px, py, pz)`` and the stored mass fare
    differently. ``(pt, eta, phi, E)`` is used only when neither is complete.
    """
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for column in names:
        match = _NAME.match(column)
        if match is None:
            continue
        prefix = match["prefix"]
        if prefix and prefix[-1] not in _SEPARATORS:
            continue  # "Jet_hfsigmaPhiPhi" is not a phi
        role = _ROLE_OF[match["field"].lower()]
        groups.setdefault((prefix, match["suffix"]), {}).setdefault(role, column)
    found: list[FourVector] = []
    for (prefix, suffix), roles in groups.items():
        base = prefix.rstrip(_SEPARATORS) or table_name or "object"
        name = base + suffix.lstrip("_")
        complete = [kind for kind, need in REPRESENTATIONS.items() if set(need) <= set(roles)]
        if "pt,eta,phi,E" in complete and len(complete) > 1:
            complete.remove("pt,eta,phi,E")
        for kind in complete:
            columns = {role: roles[role] for role in REPRESENTATIONS[kind]}
            found.append(FourVector(name, columns))
    return found


def momenta(columns: Mapping[str, np.ndarray], vec: FourVector, rows: np.ndarray | None = None) -> Any:
    """The objects' four-momenta as a ``vector`` NumPy array (float64)."""
    import vector

    arrays = {}
    for role, column in vec.columns.items():
        values = np.asarray(columns[column]).astype(np.float64)
        arrays[_VECTOR_NAME[role]] = values if rows is None else values[rows]
    return vector.array(arrays)


def spread_stats(values: np.ndarray) -> SpreadStats:
    """Mean, standard deviation, RMS, median and the central 68 % half-width (robust to the tails)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "std": nan, "rms": nan, "median": nan, "spread68": nan, "max_abs": nan}
    q16, q50, q84 = np.quantile(values, [0.16, 0.5, 0.84])
    return {
        "n": int(values.size),
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "rms": float(np.sqrt(np.mean(np.square(values)))),
        "median": float(q50),
        "spread68": float((q84 - q16) / 2),
        "max_abs": float(np.max(np.abs(values))),
    }


def _relative(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    keep = np.isfinite(before) & np.isfinite(after) & (before > 0)
    out: np.ndarray = (after[keep] - before[keep]) / before[keep]
    return out


def mass_difference(
    original: Mapping[str, np.ndarray], decoded: Mapping[str, np.ndarray], vec: FourVector
) -> tuple[MassResult, np.ndarray]:
    """The relative mass difference ``(m' − m)/m`` of each object, where the original mass is positive.

    A rebuilt mass whose ``m'²`` came out negative is counted (``unphysical``) and enters as
    ``m' = −sqrt(|m'²|)``, as ``vector`` returns it: such an object is lost to the analysis.
    ``conditioning`` is the median ``(E/m)²``: roughly the factor by which a component's
    relative error grows in the rebuilt mass.
    """
    p0 = momenta(original, vec)
    p1 = momenta(decoded, vec)
    m0 = np.asarray(p0.mass, dtype=np.float64)
    m1 = np.asarray(p1.mass, dtype=np.float64)
    rel = _relative(m0, m1)
    spread = spread_stats(rel)
    stats: MassResult = {
        "n": spread["n"],
        "mean": spread["mean"],
        "std": spread["std"],
        "rms": spread["rms"],
        "median": spread["median"],
        "spread68": spread["spread68"],
        "max_abs": spread["max_abs"],
        "source": "column " + vec.columns["mass"] if vec.mass_is_column else f"rebuilt from ({vec.kind})",
        "object": vec.name,
        "columns": list(vec.columns.values()),
        "unphysical": int(np.count_nonzero((m1 < 0) & (m0 > 0))),
    }
    if not vec.mass_is_column:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.square(np.asarray(p0.E, dtype=np.float64) / m0)
        ratio = ratio[np.isfinite(ratio) & (m0 > 0)]
        stats["conditioning"] = float(np.median(ratio)) if ratio.size else float("nan")
    return stats, rel


def event_counts(columns: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
    """Objects per event of a flat table of objects, from an event-number column whose rows come event by event.

    Returns ``None`` when there is no such column, when an event's rows are not
    consecutive, or when every event has a single row (nothing to pair).
    """
    for name, values in columns.items():
        if name.lower() not in _EVENT_NAMES or np.asarray(values).dtype.kind not in "iu" or len(values) < 2:
            continue
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        if starts.size != np.unique(values).size or starts.size == len(values):
            continue
        counts = np.diff(np.concatenate([starts, [len(values)]]))
        return name, counts
    return None


def leading_pairs(pt: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the two objects of highest ``pt`` in each event with at least two."""
    counts = np.asarray(counts, dtype=np.int64)
    event = np.repeat(np.arange(counts.size), counts)
    key = np.asarray(pt, dtype=np.float64)
    key = np.where(np.isfinite(key), key, -np.inf)
    order = np.lexsort((-key, event))  # by event, then pt descending
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts >= 2]
    return order[starts], order[starts + 1]


def numbered_pairs(vectors: Sequence[FourVector]) -> list[tuple[FourVector, FourVector]]:
    """Objects numbered 1 and 2 with the same stem and representation (``E1, px1, …`` and ``E2, px2, …``)."""
    by_key: dict[tuple[str, str, str], FourVector] = {}
    for vec in vectors:
        match = re.fullmatch(r"(.*?)(\d+)", vec.name)
        if match:
            by_key[(match[1], match[2], vec.kind)] = vec
    return [
        (first, by_key[(stem, "2", kind)])
        for (stem, number, kind), first in by_key.items()
        if number == "1" and (stem, "2", kind) in by_key
    ]


def _pt(p: Any) -> np.ndarray:
    return np.asarray(p.pt, dtype=np.float64)


def pair_mass(
    original: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    first: FourVector,
    second: FourVector,
    rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[PairResult, dict[str, np.ndarray]]:
    """The invariant mass of a pair before and after: per-pair relative difference and the fitted peak of each.

    The decompressed peak is fitted in the window and binning chosen on the original, so
    that the two fits differ only by the data.
    """
    rows_a, rows_b = rows if rows is not None else (None, None)
    m0 = np.asarray((momenta(original, first, rows_a) + momenta(original, second, rows_b)).mass, dtype=np.float64)
    m1 = np.asarray((momenta(decoded, first, rows_a) + momenta(decoded, second, rows_b)).mass, dtype=np.float64)
    stats = spread_stats(_relative(m0, m1))
    fit0 = fit_peak(m0)
    fit1 = fit_peak(m1, window=fit0["window"], edges=fit0["edges"], start=fit0) if fit0 else None
    result: PairResult = {"pairs": int(m0.size), "relative_difference": stats, "fit": None}
    if fit0 and fit1:
        result["fit"] = {
            "original": _reported(fit0),
            "decompressed": _reported(fit1),
            "peak_shift": fit1["mean"] - fit0["mean"],
            "peak_shift_error": float(np.hypot(fit0["mean_error"], fit1["mean_error"])),
            "width_shift": fit1["sigma"] - fit0["sigma"],
            "width_shift_error": float(np.hypot(fit0["sigma_error"], fit1["sigma_error"])),
            "relative_peak_shift": (fit1["mean"] - fit0["mean"]) / fit0["mean"] if fit0["mean"] else float("nan"),
        }
    return result, {"original": m0, "decompressed": m1}


def _reported(fit: PeakFit) -> PeakFit:
    """A fit without its histogram's edges."""
    out = fit.copy()
    out.pop("edges", None)
    return out


def response_vs_pt(
    original: Mapping[str, np.ndarray], decoded: Mapping[str, np.ndarray], vec: FourVector, bins: int = 10
) -> ResponseVsPt:
    """Mean and spread of the pt, energy and mass responses ``(q' − q)/q`` in bins of the original pt.

    Bins hold equal numbers of objects (quantiles of the original pt), so that each point
    has the same statistical weight; the mass enters where the original mass is positive.
    """
    p0 = momenta(original, vec)
    p1 = momenta(decoded, vec)
    pt0 = _pt(p0)
    finite = np.isfinite(pt0) & (pt0 > 0)
    if np.count_nonzero(finite) < 2 * bins:
        return {"object": vec.name, "edges": [], "bins": {}}
    edges = np.unique(np.quantile(pt0[finite], np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pt0, side="right") - 1, 0, edges.size - 2)
    out: ResponseVsPt = {"object": vec.name, "edges": edges.tolist(), "bins": {}}
    quantities = {"pt": (_pt(p0), _pt(p1)), "energy": (np.asarray(p0.E), np.asarray(p1.E))}
    quantities["mass"] = (np.asarray(p0.mass), np.asarray(p1.mass))
    for name, (before, after) in quantities.items():
        before = np.asarray(before, dtype=np.float64)
        after = np.asarray(after, dtype=np.float64)
        keep = finite & np.isfinite(before) & np.isfinite(after) & (before > 0)
        response = (after[keep] - before[keep]) / before[keep]
        group = which[keep]
        n = np.bincount(group, minlength=edges.size - 1).astype(np.float64)
        total = np.bincount(group, weights=response, minlength=edges.size - 1)
        squares = np.bincount(group, weights=response**2, minlength=edges.size - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
        out["bins"][name] = {"n": n.astype(int).tolist(), "mean": mean.tolist(), "std": std.tolist()}
    return out
