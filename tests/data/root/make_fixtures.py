"""Write the ROOT fixtures of this folder with real CERN ROOT (PyROOT).

Run with a Python that can ``import ROOT`` (the ``root`` package from PyPI in its own
virtual environment, see tests/test_pyroot.py)::

    .venv-root/bin/python tests/data/root/make_fixtures.py

It writes, next to this script:

``atlas_style.root``
    Tree ``events`` (an ATLAS-style ntuple, 400 events): ``std::vector<float>`` jets
    (jet_pt, jet_eta, jet_phi, jet_m, all of one length per event), ``std::vector<int>``
    jet_ntrk, ``std::vector<double>`` electrons (el_pt, el_eta, another length),
    ``std::vector<std::vector<float>>`` jet_trk_pt (per jet, its tracks' pt),
    ``Double32_t`` (plain and with a ``[0,100,16]`` range), ``Float16_t``, a fixed array
    ``w[4]/F``, C-style arrays counted by ``nlep/I`` (lep_pt[nlep]/F, lep_q[nlep]/I), and
    scalars of every leaflist type: /O /B /b /S /s /I /i /L /l /F /D. Object branches carry
    documentation titles; the tree has a title. Also in the file: a ``TNtuple`` ``ntuple``
    (x:y:z, 300 rows), a TH1F ``h_jet_pt``, a TObjString ``info`` and a TNamed ``generator``.
``vectors_only.root``
    Tree ``events`` (300 events) holding nothing but ``std::vector<float>`` and
    ``std::vector<int>`` branches of two different per-event lengths.

The random numbers come from TRandom3 with fixed seeds, so the content is the same on
every run (the files' bytes are not: ROOT stores creation times and a UUID).
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message=r"\s*This distribution of ROOT is in alpha", category=UserWarning)
import ROOT  # noqa: E402

HERE = Path(__file__).resolve().parent
ZLIB_1 = 101  # compression setting 100 * algorithm + level: zlib, level 1 (readable everywhere)
ZSTD_5 = 505  # zstd, level 5


def _vector(kind: str):
    return ROOT.std.vector(kind)()


def atlas_style(path: Path, n_events: int = 400) -> None:
    rng = ROOT.TRandom3(20240601)
    f = ROOT.TFile(str(path), "RECREATE", "bale test fixture: an ATLAS-style ntuple", ZLIB_1)
    tree = ROOT.TTree("events", "ATLAS-style ntuple: jets, electrons, leptons, event info (bale fixture)")

    # --- object branches: std::vector<...> -------------------------------------------
    vecs = {
        "jet_pt": ("float", "Jet transverse momentum [GeV]"),
        "jet_eta": ("float", "Jet pseudorapidity"),
        "jet_phi": ("float", "Jet azimuthal angle [rad]"),
        "jet_m": ("float", "Jet mass [GeV]"),
        "jet_ntrk": ("int", "Number of ghost-associated tracks per jet"),
        "el_pt": ("double", "Electron transverse momentum [GeV]"),
        "el_eta": ("double", "Electron pseudorapidity"),
    }
    v = {}
    for name, (kind, title) in vecs.items():
        v[name] = _vector(kind)
        tree.Branch(name, v[name]).SetTitle(title)
    jet_trk_pt = ROOT.std.vector(ROOT.std.vector("float"))()
    tree.Branch("jet_trk_pt", jet_trk_pt).SetTitle("Per jet: the pt of its tracks [GeV]")
    track = ROOT.std.vector("float")()

    # --- leaflist branches: one buffer each -------------------------------------------
    scalars = {  # name -> (leaflist, numpy dtype)
        "runNumber": ("runNumber/i", np.uint32),
        "eventNumber": ("eventNumber/l", np.uint64),
        "timestamp_ns": ("timestamp_ns/L", np.int64),
        "lumiBlock": ("lumiBlock/I", np.int32),
        "bcid": ("bcid/s", np.uint16),
        "nPV": ("nPV/S", np.int16),
        "hfor": ("hfor/B", np.int8),
        "quality": ("quality/b", np.uint8),
        "passTrig": ("passTrig/O", np.bool_),
        "averageMu": ("averageMu/F", np.float32),
        "mcEventWeight": ("mcEventWeight/D", np.float64),
        "mu_d32": ("mu_d32/d", np.float64),  # Double32_t, no range: stored as float
        "pileup_d32": ("pileup_d32/d[0,100,16]", np.float64),  # Double32_t, 16 bits on [0, 100]
        "mu_f16": ("mu_f16/f", np.float32),  # Float16_t
    }
    buf = {name: np.zeros(1, dtype) for name, (_, dtype) in scalars.items()}
    for name, (leaflist, _) in scalars.items():
        tree.Branch(name, buf[name], leaflist)
    w = np.zeros(4, np.float32)
    tree.Branch("w", w, "w[4]/F")
    max_lep = 8
    nlep = np.zeros(1, np.int32)
    lep_pt = np.zeros(max_lep, np.float32)
    lep_q = np.zeros(max_lep, np.int32)
    tree.Branch("nlep", nlep, "nlep/I")
    tree.Branch("lep_pt", lep_pt, "lep_pt[nlep]/F")
    tree.Branch("lep_q", lep_q, "lep_q[nlep]/I")
    tree.SetBasketSize("*", 4096)  # several baskets for the larger branches

    hist = ROOT.TH1F("h_jet_pt", "Leading jet p_{T};p_{T} [GeV];events", 50, 0.0, 500.0)
    for i in range(n_events):
        for vec in v.values():
            vec.clear()
        jet_trk_pt.clear()
        for _ in range(rng.Poisson(4.0)):
            pt = 20.0 + rng.Exp(40.0)
            v["jet_pt"].push_back(pt)
            v["jet_eta"].push_back(rng.Uniform(-4.5, 4.5))
            v["jet_phi"].push_back(rng.Uniform(-math.pi, math.pi))
            v["jet_m"].push_back(abs(rng.Gaus(0.1 * pt, 3.0)))
            ntrk = min(int(rng.Poisson(3.0)), 12)
            v["jet_ntrk"].push_back(ntrk)
            track.clear()
            for _ in range(ntrk):
                track.push_back(0.5 + rng.Exp(0.1 * pt))
            jet_trk_pt.push_back(track)
        for _ in range(rng.Poisson(1.2)):
            v["el_pt"].push_back(7.0 + rng.Exp(25.0))
            v["el_eta"].push_back(rng.Uniform(-2.47, 2.47))
        if v["jet_pt"].size():
            hist.Fill(max(v["jet_pt"]))

        buf["runNumber"][0] = 284000 + i // 100
        hi, lo = rng.Integer(2**32 - 1), rng.Integer(2**32 - 1)  # a full-range 64-bit id
        buf["eventNumber"][0] = np.uint64((hi << 32) | lo)
        buf["timestamp_ns"][0] = 1_443_000_000_000_000_000 + i * 25_000_000_007 - (7 if i % 3 else 0)
        buf["lumiBlock"][0] = 1 + i // 50
        buf["bcid"][0] = int(rng.Integer(3564))
        buf["nPV"][0] = int(rng.Poisson(12.0)) - (40 if i % 97 == 0 else 0)  # a few negatives
        buf["hfor"][0] = int(rng.Integer(7)) - 1  # -1 .. 5
        buf["quality"][0] = int(rng.Integer(256))
        buf["passTrig"][0] = rng.Uniform() < 0.7
        mu = rng.Uniform(5.0, 60.0)
        buf["averageMu"][0] = mu
        buf["mcEventWeight"][0] = rng.Gaus(1.0, 0.3) * (-1.0 if rng.Uniform() < 0.1 else 1.0)
        buf["mu_d32"][0] = mu + rng.Gaus(0.0, 0.5)
        buf["pileup_d32"][0] = min(max(mu + rng.Gaus(0.0, 2.0), 0.0), 100.0)
        buf["mu_f16"][0] = mu * 1.01
        for k in range(4):
            w[k] = rng.Gaus(1.0, 0.05 * (k + 1))
        nlep[0] = min(int(rng.Poisson(1.5)), max_lep)
        for k in range(nlep[0]):
            lep_pt[k] = 10.0 + rng.Exp(30.0)
            lep_q[k] = 1 if rng.Uniform() < 0.5 else -1
        tree.Fill()
    tree.Write()

    ntuple = ROOT.TNtuple("ntuple", "a TNtuple with three float columns", "x:y:z")
    rng2 = ROOT.TRandom3(7)
    for _ in range(300):
        x, y = rng2.Gaus(0.0, 1.0), rng2.Gaus(0.0, 2.0)
        ntuple.Fill(x, y, x * x + y * y + rng2.Uniform())
    ntuple.Write()

    hist.Write()
    ROOT.TObjString("bale test fixture, written by tests/data/root/make_fixtures.py").Write("info")
    ROOT.TNamed("generator", "TRandom3, fixed seeds; no physics").Write()
    f.Close()


def vectors_only(path: Path, n_events: int = 300) -> None:
    rng = ROOT.TRandom3(4242)
    f = ROOT.TFile(str(path), "RECREATE", "bale test fixture: vector branches only", ZSTD_5)
    tree = ROOT.TTree("events", "only std::vector branches, two per-event lengths")
    names = {"mu_pt": "float", "mu_eta": "float", "mu_id": "int", "ph_e": "float", "ph_isem": "int"}
    v = {name: _vector(kind) for name, kind in names.items()}
    for name, vec in v.items():
        tree.Branch(name, vec)
    for _ in range(n_events):
        for vec in v.values():
            vec.clear()
        for _ in range(rng.Poisson(2.0)):
            v["mu_pt"].push_back(5.0 + rng.Exp(20.0))
            v["mu_eta"].push_back(rng.Uniform(-2.7, 2.7))
            v["mu_id"].push_back(int(rng.Integer(4)) - 1)
        for _ in range(rng.Poisson(3.0)):
            v["ph_e"].push_back(rng.Exp(15.0))
            v["ph_isem"].push_back(int(rng.Integer(1 << 20)))
        tree.Fill()
    tree.Write()
    f.Close()


def main() -> int:
    atlas_style(HERE / "atlas_style.root")
    vectors_only(HERE / "vectors_only.root")
    for name in ("atlas_style.root", "vectors_only.root"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
