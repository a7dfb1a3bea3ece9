#!/usr/bin/env python3
"""Generate physics jet tables with Pythia 8 (pythia8mc) + FastJet (anti-kt R=0.4).

Usage:
  python make_jets.py PROCESS NEVENTS SEED OUTPUT [options]

  PROCESS   ttbar | qcd | wjets | zjets
  NEVENTS   number of Pythia events to generate (stops earlier if --max-seconds hit)
  SEED      Pythia random seed (1..900000000)
  OUTPUT    output base path; writes OUTPUT.parquet and OUTPUT.root (TTree 'Jets'),
            plus OUTPUT_particles.parquet / OUTPUT_particles.root (TTree 'Particles')
            with the visible final-state particles of the first --particle-events events.

Per-jet columns (float32 unless noted): see COLUMNS below / README.md.
"""
import argparse
import json
import os
import signal
import time

import awkward as ak
import fastjet
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pythia8mc as pythia8
import uproot

PROCESSES = {
    # (a) top-pair production
    "ttbar": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    # (b) QCD dijets, pTHat > 100 GeV
    "qcd": ["HardQCD:all = on", "PhaseSpace:pTHatMin = 100."],
    # (c) W + jet (W -> e/mu/tau + nu), pTHat > 30 GeV regulates the t-channel divergence
    "wjets": ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
              "PhaseSpace:pTHatMin = 30.",
              "24:onMode = off", "24:onIfAny = 11 13 15"],
    # (d) Z + jet with Z -> nu nu (invisible: the jets recoil against missing pt), pure Z (no gamma*),
    #     pTHat > 30 GeV as for W + jet
    "zjets": ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
              "WeakZ0:gmZmode = 2", "PhaseSpace:pTHatMin = 30.",
              "23:onMode = off", "23:onIfAny = 12 14 16"],
}

COMMON = [
    "Beams:idA = 2212", "Beams:idB = 2212", "Beams:eCM = 13000.",
    "PartonLevel:MPI = on", "PartonLevel:ISR = on", "PartonLevel:FSR = on",
    "HadronLevel:all = on",
    # LHC-style stable-particle definition: particles with c*tau0 > 10 mm are stable
    "ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10.",
    # quiet
    "Print:quiet = on", "Init:showChangedSettings = off", "Init:showProcesses = off",
    "Init:showChangedParticleData = off", "Next:numberCount = 0",
    "Next:numberShowEvent = 0", "Next:numberShowInfo = 0", "Next:numberShowProcess = 0",
    "Random:setSeed = on",
]

JET_COLUMNS = [
    # name, dtype, description
    ("pt", "float32", "jet transverse momentum [GeV]"),
    ("eta", "float32", "jet pseudorapidity"),
    ("phi", "float32", "jet azimuth [rad, -pi..pi]"),
    ("mass", "float32", "jet invariant mass [GeV]"),
    ("energy", "float32", "jet energy [GeV]"),
    ("px", "float32", "jet px [GeV]"),
    ("py", "float32", "jet py [GeV]"),
    ("pz", "float32", "jet pz [GeV]"),
    ("n_constituents", "int32", "number of constituents"),
    ("n_charged", "int32", "number of charged constituents"),
    ("charged_ef", "float32", "energy fraction carried by charged constituents (hadrons+leptons)"),
    ("neutral_ef", "float32", "energy fraction of neutral non-photon constituents (n, K0L, K0S, Lambda, ...)"),
    ("photon_ef", "float32", "energy fraction carried by photons (pdgId 22)"),
    ("lead_pt_frac", "float32", "pt of the leading constituent / jet pt"),
    ("width", "float32", "pt-weighted mean DeltaR(constituent, jet axis) in (eta,phi)"),
    ("event", "int64", "event index (unique within a file)"),
    ("jet_idx", "int32", "jet index within event (0 = highest pt, after cuts)"),
]

PARTICLE_COLUMNS = [
    ("event", "int64", "event index (same numbering as the jet table)"),
    ("pt", "float32", "particle pt [GeV]"),
    ("eta", "float32", "particle pseudorapidity"),
    ("phi", "float32", "particle azimuth [rad]"),
    ("pdgId", "int32", "PDG particle id"),
    ("charge", "int8", "electric charge [e]"),
]


def make_pythia(process, seed):
    py = pythia8.Pythia("", False)
    for s in COMMON + [f"Random:seed = {seed}"] + PROCESSES[process]:
        if not py.readString(s):
            raise RuntimeError(f"Pythia rejected setting: {s}")
    if not py.init():
        raise RuntimeError("Pythia init failed")
    return py


class ChargeLookup:
    def __init__(self, pdata):
        self.pdata = pdata
        self.cache = {}

    def __call__(self, ids):
        uniq, inv = np.unique(ids, return_inverse=True)
        ch = np.empty(len(uniq), dtype=np.int8)
        for k, pid in enumerate(uniq):
            pid = int(pid)
            if pid not in self.cache:
                self.cache[pid] = round(self.pdata.charge(pid))
            ch[k] = self.cache[pid]
        return ch[inv]


def process_batch(evs, jetdef, charge_of, ptmin, etamax):
    """Return (dict of per-jet numpy arrays with local event index, particle arrays, counts)."""
    prt = evs.prt
    aid = abs(prt.id)
    mask = (prt.status > 0) & (aid != 12) & (aid != 14) & (aid != 16)
    fs = prt[mask]
    counts = ak.to_numpy(ak.num(fs.id)).astype(np.int64)
    px = ak.to_numpy(ak.flatten(fs.p.px)).astype(np.float64)
    py = ak.to_numpy(ak.flatten(fs.p.py)).astype(np.float64)
    pz = ak.to_numpy(ak.flatten(fs.p.pz)).astype(np.float64)
    e = ak.to_numpy(ak.flatten(fs.p.e)).astype(np.float64)
    pid = ak.to_numpy(ak.flatten(fs.id)).astype(np.int32)
    charge = charge_of(pid)
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    part = dict(pt=pt, eta=eta, phi=phi, pdgId=pid, charge=charge, counts=counts)

    # cluster (FastJet multi-event awkward interface)
    arr = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    cs = fastjet.ClusterSequence(arr, jetdef)
    jets = cs.inclusive_jets(min_pt=ptmin)
    cidx = cs.constituent_index(min_pt=ptmin)

    njet_evt = ak.to_numpy(ak.num(jets.px)).astype(np.int64)
    jpx = ak.to_numpy(ak.flatten(jets.px)).astype(np.float64)
    jpy = ak.to_numpy(ak.flatten(jets.py)).astype(np.float64)
    jpz = ak.to_numpy(ak.flatten(jets.pz)).astype(np.float64)
    je = ak.to_numpy(ak.flatten(jets.E)).astype(np.float64)
    jevt = np.repeat(np.arange(len(counts), dtype=np.int64), njet_evt)
    ncons = ak.to_numpy(ak.flatten(ak.num(cidx, axis=2))).astype(np.int64)
    local = ak.to_numpy(ak.flatten(cidx, axis=None)).astype(np.int64)
    poff = np.concatenate([[0], np.cumsum(counts)[:-1]])
    gidx = local + np.repeat(poff[jevt], ncons)
    starts = np.concatenate([[0], np.cumsum(ncons)[:-1]])

    jpt = np.hypot(jpx, jpy)
    jp = np.sqrt(jpx**2 + jpy**2 + jpz**2)
    jeta = np.arcsinh(jpz / np.maximum(jpt, 1e-12))
    jphi = np.arctan2(jpy, jpx)
    jm = np.sqrt(np.maximum(je**2 - jp**2, 0.0))

    c_e = e[gidx]
    c_pt = pt[gidx]
    c_ch = charge[gidx] != 0
    c_ph = pid[gidx] == 22
    c_jet = np.repeat(np.arange(len(jpt)), ncons)
    deta = eta[gidx] - jeta[c_jet]
    dphi = np.mod(phi[gidx] - jphi[c_jet] + np.pi, 2 * np.pi) - np.pi
    dr = np.sqrt(deta**2 + dphi**2)

    def seg_sum(x):
        return np.add.reduceat(x, starts) if len(starts) else np.zeros(0)

    e_ch = seg_sum(np.where(c_ch, c_e, 0.0))
    e_ph = seg_sum(np.where(c_ph, c_e, 0.0))
    e_nh = seg_sum(np.where(~c_ch & ~c_ph, c_e, 0.0))
    e_sum = e_ch + e_ph + e_nh
    n_ch = seg_sum(c_ch.astype(np.float64))
    lead = np.maximum.reduceat(c_pt, starts) if len(starts) else np.zeros(0)
    sum_pt = seg_sum(c_pt)
    width = seg_sum(c_pt * dr) / np.maximum(sum_pt, 1e-12)

    out = dict(pt=jpt, eta=jeta, phi=jphi, mass=jm, energy=je, px=jpx, py=jpy, pz=jpz,
               n_constituents=ncons.astype(np.float64), n_charged=n_ch,
               charged_ef=e_ch / e_sum, neutral_ef=e_nh / e_sum, photon_ef=e_ph / e_sum,
               lead_pt_frac=lead / jpt, width=width, event=jevt)
    # cuts
    keep = (jpt > ptmin) & (np.abs(jeta) < etamax)
    out = {k: v[keep] for k, v in out.items()}
    # sort by event then descending pt, jet index within event
    order = np.lexsort((-out["pt"], out["event"]))
    out = {k: v[order] for k, v in out.items()}
    ev = out["event"]
    if len(ev):
        first = np.r_[True, ev[1:] != ev[:-1]]
        grp_start = np.maximum.accumulate(np.where(first, np.arange(len(ev)), 0))
        out["jet_idx"] = np.arange(len(ev)) - grp_start
    else:
        out["jet_idx"] = np.zeros(0, dtype=np.int64)
    return out, part


def to_table(cols, spec):
    return {name: np.ascontiguousarray(cols[name], dtype=dt) for name, dt, _ in spec}


def write_ttree(path, name, cols, basket=100_000):
    """Write a flat TTree (NOT an RNTuple: recent uproot makes an RNTuple for f[name] = data)."""
    with uproot.recreate(path) as f:
        t = f.mktree(name, {k: v.dtype for k, v in cols.items()})
        n = len(next(iter(cols.values())))
        for i in range(0, max(n, 1), basket):
            t.extend({k: v[i:i + basket] for k, v in cols.items()})


def write_outputs(base, jets, parts, meta, tree="Jets", ptree="Particles"):
    jt = to_table(jets, JET_COLUMNS)
    schema_meta = {b"generator_meta": json.dumps(meta).encode(),
                   b"columns": json.dumps({n: d for n, _, d in JET_COLUMNS}).encode()}
    tab = pa.table(jt).replace_schema_metadata(schema_meta)
    pq.write_table(tab, base + ".parquet")
    write_ttree(base + ".root", tree, jt)
    if parts is not None:
        pt_ = to_table(parts, PARTICLE_COLUMNS)
        ptab = pa.table(pt_).replace_schema_metadata(
            {b"generator_meta": json.dumps(meta).encode(),
             b"columns": json.dumps({n: d for n, _, d in PARTICLE_COLUMNS}).encode()})
        pq.write_table(ptab, base + "_particles.parquet")
        write_ttree(base + "_particles.root", ptree, pt_)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("process", choices=sorted(PROCESSES))
    ap.add_argument("nevents", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("output", help="output base path (no extension)")
    ap.add_argument("--batch", type=int, default=500, help="events per nextBatch call")
    ap.add_argument("--particle-events", type=int, default=1000,
                    help="store visible final-state particles of the first N events")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop after this wall time (write what was generated)")
    ap.add_argument("--jet-ptmin", type=float, default=20.0)
    ap.add_argument("--jet-etamax", type=float, default=4.7)
    ap.add_argument("--event-offset", type=int, default=0, help="added to event indices")
    ap.add_argument("--stop-file", default=None,
                    help="if this file exists, stop after the current batch and write (default OUTPUT.stop)")
    args = ap.parse_args()

    base = args.output
    for ext in (".parquet", ".root"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)

    stop_file = args.stop_file or base + ".stop"
    stop = {"flag": False}

    def _stop(signum, frame):  # graceful stop: finish current batch, then write
        stop["flag"] = True
    signal.signal(signal.SIGUSR1, _stop)
    signal.signal(signal.SIGTERM, _stop)

    t0 = time.time()
    py = make_pythia(args.process, args.seed)
    t_init = time.time() - t0
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
    charge_of = ChargeLookup(py.particleData)

    jet_chunks, part_chunks = [], []
    n_done = 0
    n_jets = 0
    t_gen = t_ana = 0.0
    t_start = time.time()
    while n_done < args.nevents:
        nb = min(args.batch, args.nevents - n_done)
        ta = time.time()
        evs = py.nextBatch(nb)
        tb = time.time()
        jets, part = process_batch(evs, jetdef, charge_of, args.jet_ptmin, args.jet_etamax)
        tc = time.time()
        t_gen += tb - ta
        t_ana += tc - tb
        jets["event"] = jets["event"] + n_done + args.event_offset
        jet_chunks.append(jets)
        n_jets += len(jets["pt"])
        if n_done < args.particle_events:
            take = min(args.particle_events - n_done, len(part["counts"]))
            npart = int(part["counts"][:take].sum())
            pev = np.repeat(np.arange(take, dtype=np.int64), part["counts"][:take]) + n_done + args.event_offset
            part_chunks.append(dict(event=pev, **{k: part[k][:npart] for k in ("pt", "eta", "phi", "pdgId", "charge")}))
        n_done += len(evs)
        el = time.time() - t_start
        print(f"[{args.process} seed={args.seed}] events={n_done} jets={n_jets} "
              f"elapsed={el:.1f}s ev/s={n_done/el:.2f} jets/s={n_jets/el:.1f}", flush=True)
        if args.max_seconds is not None and time.time() - t0 > args.max_seconds:
            print(f"max-seconds reached, stopping at {n_done} events", flush=True)
            break
        if stop["flag"] or os.path.exists(stop_file):
            print(f"stop requested, stopping at {n_done} events", flush=True)
            break

    jets = {k: np.concatenate([c[k] for c in jet_chunks]) for k in jet_chunks[0]}
    parts = ({k: np.concatenate([c[k] for c in part_chunks]) for k in part_chunks[0]}
             if part_chunks else None)
    t_loop = time.time() - t_start
    meta = dict(process=args.process, settings=COMMON + [f"Random:seed = {args.seed}"] + PROCESSES[args.process],
                seed=args.seed, n_events=n_done, n_jets=n_jets, event_offset=args.event_offset,
                sigma_gen_mb=py.infoPython().sigmaGen(), sigma_err_mb=py.infoPython().sigmaErr(),
                jet_algo="anti-kt R=0.4 (FastJet)", jet_ptmin=args.jet_ptmin, jet_etamax=args.jet_etamax,
                particle_events=min(args.particle_events, n_done),
                pythia_version=py.parm("Pythia:versionNumber"), fastjet_version=fastjet.__version__,
                t_init_s=t_init, t_loop_s=t_loop, t_pythia_s=t_gen, t_analysis_s=t_ana)
    tw = time.time()
    write_outputs(base, jets, parts, meta)
    meta["t_write_s"] = time.time() - tw
    with open(base + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
