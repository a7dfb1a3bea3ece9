"""coffea on `.bale`: a NanoAOD-schema dimuon mass histogram read in place, against the original file.

    python examples/coffea_dimuon.py             # Z→μμ (tests/data/uproot-Zmumu.root): the Z peak
    python examples/coffea_dimuon.py --nanoaod   # CMS NanoAOD tt̄ (200 events): dijet masses
    python examples/coffea_dimuon.py --bale events.bale --original events.root

The `.bale` file is read with `bale.open(...).arrays(branches)` (only those branches and the
columns they are predicted from are decoded) and handed to coffea's
`NanoEventsFactory.from_preloaded` with `NanoAODSchema`: `events.Muon` is a `MuonArray`
with coffea's four-vector behaviour, so the analysis is coffea's own code. The original is
read with `NanoEventsFactory.from_root` (NanoAOD) or uproot (the Z→μμ ntuple, mapped to
NanoAOD's branch names by `zmumu_as_nanoaod`, the same code for both files). The
histograms agree bin by bin except for events whose mass lies within the bound's effect of a
bin edge. Needs `pip install coffea hist`.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

import bale
from bale.config import BaleConfig

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ZMUMU = DATA / "uproot-Zmumu.root"
NANOAOD = DATA / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
EVENT_IDS = ["run", "luminosityBlock", "event"]
MUONS = ["nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge"]
JETS = ["nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"]
MUON_MASS = 0.1056584  # GeV


class ArraySource(dict[str, ak.Array]):
    """What ``NanoEventsFactory.from_preloaded`` reads: branch name -> awkward array, and metadata."""

    def __init__(self, arrays: ak.Array, object_path: str = "Events") -> None:
        super().__init__({name: arrays[name] for name in arrays.fields})
        self.metadata = {"uuid": str(uuid.uuid4()), "num_rows": len(arrays), "object_path": object_path}


def nanoevents(arrays: ak.Array) -> Any:
    """NanoAOD-schema events (``events.Muon``, ``events.Jet`` …) from NanoAOD branches as awkward arrays."""
    with warnings.catch_warnings():  # the schema names every cross-reference of collections not read
        warnings.filterwarnings("ignore", "Missing cross-reference", RuntimeWarning)
        return NanoEventsFactory.from_preloaded(ArraySource(arrays), schemaclass=NanoAODSchema).events()


def original_nanoevents(path: Path | str, tree: str = "Events") -> Any:
    """coffea's usual reading of the original ROOT file (virtual arrays through uproot)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="coffea")
        return NanoEventsFactory.from_root({str(path): tree}, schemaclass=NanoAODSchema, mode="virtual").events()


def zmumu_as_nanoaod(a: Mapping[str, Any] | ak.Array) -> ak.Array:
    """The Z→μμ ntuple (``pt1, eta1, phi1, Q1``, ``…2``, ``Run``, ``Event``) under NanoAOD's branch
    names: two muons per event. Works alike on uproot's and on bale's arrays."""
    n = len(a["pt1"])

    def pair(first: str, second: str, dtype: str) -> ak.Array:
        both = np.stack([np.asarray(a[first]), np.asarray(a[second])], axis=1).astype(dtype)
        return ak.unflatten(both.ravel(), np.full(n, 2))

    return ak.zip(
        {
            "run": np.asarray(a["Run"]).astype(np.uint32),
            "luminosityBlock": np.zeros(n, np.uint32),
            "event": np.asarray(a["Event"]).astype(np.uint64),
            "nMuon": np.full(n, 2, np.uint32),
            "Muon_pt": pair("pt1", "pt2", "float32"),
            "Muon_eta": pair("eta1", "eta2", "float32"),
            "Muon_phi": pair("phi1", "phi2", "float32"),
            "Muon_mass": ak.unflatten(np.full(2 * n, MUON_MASS, np.float32), np.full(n, 2)),
            "Muon_charge": pair("Q1", "Q2", "int32"),
        },
        depth_limit=1,
    )


ZMUMU_BRANCHES = ["Run", "Event", "pt1", "eta1", "phi1", "Q1", "pt2", "eta2", "phi2", "Q2"]


@dataclass
class Result:
    """A histogram, and the value each selected event filled it with (to compare events one by one)."""

    hist: hist.Hist
    values: np.ndarray
    events: np.ndarray  # event numbers of the selected events
    inputs: np.ndarray  # (events, 8): pt, eta, phi, mass of both objects, as read


def _pair_inputs(first: Any, second: Any) -> np.ndarray:
    return np.stack([ak.to_numpy(o[f]).astype(np.float64) for o in (first, second) for f in _KINEMATICS], axis=1)


_KINEMATICS = ("pt", "eta", "phi", "mass")


def pair_mass(x: np.ndarray) -> np.ndarray:
    """The invariant mass of two objects from their (pt, eta, phi, mass) rows, in float64."""
    e = px = py = pz = 0.0
    for pt, eta, phi, m in (x[:, 0:4].T, x[:, 4:8].T):
        e = e + np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
        px, py, pz = px + pt * np.cos(phi), py + pt * np.sin(phi), pz + pt * np.sinh(eta)
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


def bound_effect(x: np.ndarray, rel: float) -> np.ndarray:
    """How far each pair's mass may move when every input moves within ``rel``·|input| (the
    bound the floats were coded with): the first-order worst case, Σ |∂m/∂xₖ|·rel·|xₖ|."""
    out = np.zeros(len(x))
    for k in range(x.shape[1]):
        h = 1e-6 * np.maximum(np.abs(x[:, k]), 1e-3)
        up, down = x.copy(), x.copy()
        up[:, k] += h
        down[:, k] -= h
        out += np.abs((pair_mass(up) - pair_mass(down)) / (2 * h)) * rel * np.abs(x[:, k])
    return out


def dimuon_mass(events: Any, *, low: float = 60.0, high: float = 120.0, bins: int = 60) -> Result:
    """coffea: the invariant mass of the two leading muons of opposite charge."""
    muons = events.Muon
    events = events[ak.num(muons) >= 2]
    first, second = events.Muon[:, 0], events.Muon[:, 1]
    opposite = first.charge != second.charge
    mass = (first + second)[opposite].mass
    h = hist.Hist.new.Reg(bins, low, high, name="mass", label=r"$m_{\mu\mu}$ [GeV]").Double()
    values = ak.to_numpy(mass).astype(np.float64)
    h.fill(mass=values)
    return Result(h, values, ak.to_numpy(events[opposite].event), _pair_inputs(first[opposite], second[opposite]))


def dijet_mass(events: Any, *, low: float = 0.0, high: float = 1000.0, bins: int = 50) -> Result:
    """coffea: the invariant mass of the two leading jets."""
    events = events[ak.num(events.Jet) >= 2]
    first, second = events.Jet[:, 0], events.Jet[:, 1]
    mass = (first + second).mass
    h = hist.Hist.new.Reg(bins, low, high, name="mass", label=r"$m_{jj}$ [GeV]").Double()
    values = ak.to_numpy(mass).astype(np.float64)
    h.fill(mass=values)
    return Result(h, values, ak.to_numpy(events.event), _pair_inputs(first, second))


def compare(original: Result, packed: Result, rel: float = 1e-3) -> dict[str, Any]:
    """The histograms bin by bin. Each event's mass must move by at most the bound's effect
    (:func:`bound_effect` of its inputs, plus float32 rounding) and fall in its original bin
    unless its original mass lies within that effect of a bin edge; the histograms must differ
    by exactly the events that changed bin."""
    edges = original.hist.axes[0].edges
    assert np.array_equal(original.events, packed.events), "the selections differ"
    shift = np.abs(packed.values - original.values)
    effect = bound_effect(original.inputs, rel) + 1e-5 * np.abs(original.values)
    assert np.all(shift <= effect), f"a mass moved by more than the bound's effect ({np.max(shift / effect):.3g}x)"
    near = np.min(np.abs(original.values[:, None] - edges[None, :]), axis=1) <= effect
    bin_of = np.searchsorted(edges, original.values, side="right"), np.searchsorted(edges, packed.values, side="right")
    moved = bin_of[0] != bin_of[1]
    assert not np.any(moved & ~near), "an event away from every bin edge changed bin"
    diff = packed.hist.values() - original.hist.values()
    # what differs is exactly the events that moved
    expected = np.zeros(len(edges) + 1)
    np.add.at(expected, bin_of[1][moved], 1)
    np.add.at(expected, bin_of[0][moved], -1)
    assert np.array_equal(diff, expected[1:-1]), "the histograms differ by more than the events that moved"
    return {
        "events": len(original.values),
        "filled": float(original.hist.sum()),
        "near_an_edge": int(near.sum()),
        "moved_bin": int(moved.sum()),
        "bins_differing": int(np.count_nonzero(diff)),
        "largest_shift_over_effect": float(np.max(shift / effect)) if len(shift) else 0.0,
        "largest_relative_shift": float(np.max(shift / np.abs(original.values))) if len(shift) else 0.0,
    }


def compress(root: Path, output: Path, branches: Sequence[str] | None = None) -> Path:
    """The ROOT file as `.bale`, rel=1e-3 on floats (integers exact), classical predictors (quick)."""
    cfg = BaleConfig()
    cfg.model.learned = False
    bale.compress(root, output, error="rel=1e-3", config=cfg, columns=branches)
    return output


def run_zmumu(packed: Path, original: Path = ZMUMU) -> tuple[Result, Result]:
    with uproot.open(original) as f:
        before = dimuon_mass(nanoevents(zmumu_as_nanoaod(f["events"].arrays(ZMUMU_BRANCHES))))
    with bale.open(packed) as events:
        after = dimuon_mass(nanoevents(zmumu_as_nanoaod(events.arrays(ZMUMU_BRANCHES))))
    return before, after


def run_nanoaod(packed: Path, original: Path = NANOAOD) -> dict[str, tuple[Result, Result]]:
    """Dijet masses (the 200-event tt̄ sample has no opposite-charge muon pair; its one
    same-charge pair is read too): coffea's reading of the ROOT file against the `.bale`."""
    reference = original_nanoevents(original)
    with bale.open(packed, tree="Events") as tree:
        events = nanoevents(tree.arrays(EVENT_IDS + MUONS + JETS))
    return {"dijet": (dijet_mass(reference), dijet_mass(events))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanoaod", action="store_true", help="the CMS NanoAOD sample instead of Z→μμ")
    parser.add_argument("--bale", type=Path, help="an existing .bale file of --original")
    parser.add_argument("--original", type=Path, help="the ROOT file (default: the sample in tests/data)")
    parser.add_argument("--show", action="store_true", help="print the histogram of the .bale file")
    args = parser.parse_args()
    original = args.original or (NANOAOD if args.nanoaod else ZMUMU)
    with tempfile.TemporaryDirectory() as tmp:
        packed = args.bale or compress(original, Path(tmp) / "events.bale")
        print(f"{original.name}: {original.stat().st_size:,} B; {packed.name}: {packed.stat().st_size:,} B")
        runs = run_nanoaod(packed, original) if args.nanoaod else {"dimuon": run_zmumu(packed, original)}
        for name, (before, after) in runs.items():
            print(f"{name}: {compare(before, after)}")
            if args.show:
                print(after.hist)


if __name__ == "__main__":
    main()
