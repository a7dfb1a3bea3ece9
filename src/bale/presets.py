"""Physics bound presets: per-branch error bounds that mirror what an experiment already does to its data.

A *preset* maps branch names, or :func:`fnmatch.fnmatchcase` glob patterns, to bound specs that
:func:`bale.bounds.parse_bound` reads (``rel=X`` or ``exact``). ``bale compress events.root
--preset nanoaod`` gives every covered branch that bound; branches a preset does not cover keep the
default bound, and ``-e COLUMN:BOUND`` still overrides single branches.

The ``nanoaod`` preset repeats the float precision of CMS NanoAOD. NanoAOD stores many float32
branches with a reduced mantissa: a branch declared ``Var("pt", float, precision=10)`` keeps 10 of
the 23 mantissa bits (rounded, ``MiniFloatConverter::reduceMantissaToNbitsRounding`` in CMSSW's
``DataFormats/Math/interface/libminifloat.h`` @1e5474a, called by ``DataFormats/NanoAOD/interface/FlatTable.h``
@03db158);
``precision=-1`` (the default of ``Var``) keeps all of them. Rounding to N bits moves a value by at most
half a step of the N-bit mantissa, a relative error of ``2**-(N+1)``, so N bits become
``rel=2**-(N+1)`` (10 bits: ``rel=0.00048828125``) and full precision becomes ``exact``: with the
preset, bale adds no more error to a branch than NanoAOD's own rounding step.

The numbers are those of NanoAODv9 (Run-2 ultra-legacy, CMSSW_10_6_X), the format of the CMS Open
Data sample ``nanoAOD_2015_CMS_Open_Data_ttbar.root``; every reduced branch of that file uses no
more mantissa bits than listed here. They were read from ``cms-sw/cmssw``,
``PhysicsTools/NanoAOD/python/`` (commits are those of the stored copies that were read; "10_6 copy"
marks a Run-2 UL version read through a code index that does not show its commit):

- ``common_cff.py`` @26aee51: ``PTVars``/``P3Vars``/``P4Vars``/``CandVars`` (pt -1, eta 12, phi 12, mass 10)
- ``jets_cff.py`` 10_6 copy (``puId106XUL*``, ``run2_nanoAOD_106Xv1``); shared variables agree with @0150b51
- ``muons_cff.py`` @00f7b92 (Muon, FsrPhoton)
- ``electrons_cff.py`` @0005c07, and a 10_6 copy for ``scEtOverPt``, ``dr03TkSumPtHEEP``,
  ``jetRelIso``, ``jetPtRelv2`` and the ``mvaFall17V2*`` scores
- ``photons_cff.py`` 10_6 copy (with ``mvaID_Fall17V1p1``)
- ``taus_cff.py`` @002c33b (Tau, GenVisTau); ``rawIsodR03`` from later copies
- ``met_cff.py`` @023872b; ``particlelevel_cff.py`` @04fae3c (``MET_fiducialGen*``, GenDressedLepton, HTXS)
- ``vertices_cff.py`` @101b04a and ``plugins/VertexTableProducer.cc`` @009fc73 (PV, OtherPV, SV)
- ``genparticles_cff.py`` @058b11e; ``isotracks_cff.py`` @113b0f2
- ``globals_cff.py`` 10_6 copy (Generator); ``nano_cff.py`` (``lheWeightPrecision = 14``, LHE table
  ``precision = 14``) with ``plugins/GenWeightsTableProducer.cc`` and ``LHETablesProducer.cc``
- ``plugins/TriggerObjectTableProducer.cc`` (TrigObj; copies without a commit)

Later NanoAOD versions changed some of these (newer ``photons_cff.py`` keeps ``r9`` and ``sieie`` at 8
bits, the newest jet tables keep the energy fractions at full precision): a preset is a starting
point, check it against the files you compress. Branches whose precision was not found (``Pileup_*``,
``btagWeight_*``, ``LHE_HT``, ``genWeight``, the DeepTau scores, …) are left out on purpose.

CMSSW's rounding has one quirk: it does not round up the two largest N-bit mantissas, so for those
values its error can exceed ``2**-(N+1)`` by a factor of at most ``2**(N+1) / (2**(N+1) - 1)``
(1.0005 at 10 bits). The preset keeps the exact ``2**-(N+1)``: slightly tighter than NanoAOD there.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bale.errors import BaleConfigError
from bale.preset_rules import KINEMATIC, BoundsByColumn, RulePreset

__all__ = [
    "FULL_PRECISION",
    "PRESETS",
    "Preset",
    "RulePreset",
    "describe_preset",
    "get_preset",
    "mantissa_bound",
    "preset_bounds",
    "preset_names",
]

FULL_PRECISION = -1
"""NanoAOD's ``precision=-1``: all 23 mantissa bits of a float32 are kept."""

_FLOAT32_MANTISSA_BITS = 23
_GLOB_CHARS = frozenset("*?[")


def mantissa_bound(bits: int) -> str:
    """The bound spec of a float32 rounded to ``bits`` mantissa bits.

    ``rel=2**-(bits+1)`` for 1..22 bits (10 bits: ``rel=0.00048828125``); ``exact`` for full
    precision (``FULL_PRECISION``, 0 or 23 bits, which NanoAOD leaves untouched).
    """
    if bits < FULL_PRECISION or bits > _FLOAT32_MANTISSA_BITS:
        raise ValueError(f"a float32 keeps -1 (all) or 0..23 mantissa bits, not {bits}")
    if bits <= 0 or bits == _FLOAT32_MANTISSA_BITS:
        return "exact"
    return f"rel={2.0 ** -(bits + 1)!r}"  # a power of two: the repr is exact and short


def _is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def _specificity(pattern: str) -> tuple[int, int, str]:
    """Sort key of a glob, most specific first: most literal characters, then longest, then by text."""
    literal = sum(c not in _GLOB_CHARS for c in pattern)
    return (-literal, -len(pattern), pattern)


@dataclass(frozen=True)
class Preset(BoundsByColumn):
    """Mantissa bits kept per branch name or glob pattern, and where those numbers come from."""

    name: str
    description: str
    mantissa_bits: Mapping[str, int]  # branch or fnmatch pattern -> bits kept (FULL_PRECISION: all)

    @property
    def bounds(self) -> dict[str, str]:
        """Bound spec per branch name or pattern (see :func:`mantissa_bound`)."""
        return {pattern: mantissa_bound(bits) for pattern, bits in self.mantissa_bits.items()}

    def bound_for(self, column: str) -> str | None:
        """The bound spec of ``column``, or None when the preset does not cover it.

        An exact branch name wins over any glob; among matching globs the most specific one wins:
        the one with the most literal (non-wildcard) characters, then the longest, then the first
        in text order. Matching is case-sensitive.
        """
        if column in self.mantissa_bits and not _is_glob(column):
            return mantissa_bound(self.mantissa_bits[column])
        globs = [p for p in self.mantissa_bits if _is_glob(p) and fnmatch.fnmatchcase(column, p)]
        globs.sort(key=_specificity)
        return mantissa_bound(self.mantissa_bits[globs[0]]) if globs else None


F = FULL_PRECISION

# NanoAODv9 float branches -> mantissa bits kept (see the module docstring for the CMSSW files).
# Integer and bool branches are not listed: bale keeps them exact anyway.
_NANOAOD_V9: dict[str, int] = {
    # jets_cff.py: jetTable (P4Vars, then "jetTable.variables.pt.precision=10")
    "Jet_pt": 10, "Jet_eta": 12, "Jet_phi": 12, "Jet_mass": 10,
    "Jet_area": 10, "Jet_qgl": 10, "Jet_puIdDisc": 10, "Jet_rawFactor": 6,
    "Jet_btagCSVV2": 10, "Jet_btagDeepB": 10, "Jet_btagDeepCvL": 10, "Jet_btagDeepCvB": 10,
    "Jet_btagDeepFlavB": 10, "Jet_btagDeepFlavCvL": 10, "Jet_btagDeepFlavCvB": 10, "Jet_btagDeepFlavQG": 10,
    "Jet_btagCMVA": 10, "Jet_btagDeepC": 10, "Jet_btagDeepFlavC": 10,  # older eras (toModify)
    "Jet_hfsigmaEtaEta": 10, "Jet_hfsigmaPhiPhi": 10,
    "Jet_chHEF": 6, "Jet_neHEF": 6, "Jet_chEmEF": 6, "Jet_neEmEF": 6, "Jet_muEF": 6, "Jet_chFPV0EF": 6,
    "Jet_bRegCorr": 10, "Jet_bRegRes": 6, "Jet_cRegCorr": 10, "Jet_cRegRes": 6,
    "Jet_muonSubtrFactor": 6,  # "jetTable.variables.muonSubtrFactor = Var(..., precision=6)"
    # jets_cff.py: corrT1METJetTable
    "CorrT1METJet_rawPt": 10, "CorrT1METJet_eta": 12, "CorrT1METJet_phi": 12, "CorrT1METJet_area": 10,
    "CorrT1METJet_muonSubtrFactor": 6,
    # jets_cff.py: fatJetTable (P4Vars, pt.precision=10); every tagger score is precision=10
    "FatJet_pt": 10, "FatJet_eta": 12, "FatJet_phi": 12, "FatJet_mass": 10,
    "FatJet_area": 10, "FatJet_rawFactor": 6, "FatJet_msoftdrop": 10, "FatJet_lsf3": 10,
    "FatJet_tau1": 10, "FatJet_tau2": 10, "FatJet_tau3": 10, "FatJet_tau4": 10, "FatJet_n2b1": 10, "FatJet_n3b1": 10,
    "FatJet_btagDeepB": 10, "FatJet_btagCSVV2": 10, "FatJet_btagHbb": 10,
    "FatJet_btagDDBvLV2": 10, "FatJet_btagDDCvLV2": 10, "FatJet_btagDDCvBV2": 10,
    "FatJet_deepTag_*": 10, "FatJet_deepTagMD_*": 10, "FatJet_particleNet_*": 10, "FatJet_particleNetMD_*": 10,
    # jets_cff.py: subJetTable
    "SubJet_pt": 10, "SubJet_eta": 12, "SubJet_phi": 12, "SubJet_mass": 10, "SubJet_rawFactor": 6,
    "SubJet_btagDeepB": 10, "SubJet_btagCSVV2": 10, "SubJet_btagCMVA": 10,
    "SubJet_tau1": 10, "SubJet_tau2": 10, "SubJet_tau3": 10, "SubJet_tau4": 10, "SubJet_n2b1": 10, "SubJet_n3b1": 10,
    # jets_cff.py: saJetTable (P3Vars; pt 10, eta 8, phi 8); saTable's HT sums have no precision
    "SoftActivityJet_pt": 10, "SoftActivityJet_eta": 8, "SoftActivityJet_phi": 8,
    "SoftActivityJetHT": F, "SoftActivityJetHT2": F, "SoftActivityJetHT5": F, "SoftActivityJetHT10": F,
    # jets_cff.py: generator-level jets (P4Vars)
    "GenJet_pt": F, "GenJet_eta": 12, "GenJet_phi": 12, "GenJet_mass": 10,
    "GenJetAK8_pt": F, "GenJetAK8_eta": 12, "GenJetAK8_phi": 12, "GenJetAK8_mass": 10,
    "SubGenJetAK8_pt": F, "SubGenJetAK8_eta": 12, "SubGenJetAK8_phi": 12, "SubGenJetAK8_mass": 10,
    # muons_cff.py: muonTable (CandVars)
    "Muon_pt": F, "Muon_eta": 12, "Muon_phi": 12, "Muon_mass": 10,
    "Muon_ptErr": 6, "Muon_tunepRelPt": 6, "Muon_dz": 10, "Muon_dzErr": 6, "Muon_dxybs": 10,
    "Muon_dxy": 10, "Muon_dxyErr": 6, "Muon_ip3d": 10, "Muon_sip3d": 10, "Muon_segmentComp": 14,
    "Muon_tkRelIso": 6, "Muon_miniPFRelIso_chg": F, "Muon_miniPFRelIso_all": F,
    "Muon_pfRelIso03_chg": F, "Muon_pfRelIso03_all": F, "Muon_pfRelIso04_all": F,
    "Muon_jetRelIso": 8, "Muon_jetPtRelv2": 8, "Muon_softMva": 6, "Muon_mvaTTH": 14, "Muon_mvaLowPt": 14,
    # muons_cff.py: fsrTable (P3Vars)
    "FsrPhoton_pt": F, "FsrPhoton_eta": 12, "FsrPhoton_phi": 12, "FsrPhoton_relIso03": F, "FsrPhoton_dROverEt2": F,
    # electrons_cff.py: electronTable (CandVars; pt overridden with precision=-1)
    "Electron_pt": F, "Electron_eta": 12, "Electron_phi": 12, "Electron_mass": 10,
    "Electron_energyErr": 6, "Electron_eCorr": F, "Electron_dz": 10, "Electron_dzErr": 6,
    "Electron_dxy": 10, "Electron_dxyErr": 6, "Electron_ip3d": 10, "Electron_sip3d": 10,
    "Electron_deltaEtaSC": 10, "Electron_r9": 10, "Electron_sieie": 10, "Electron_eInvMinusPInv": 10,
    "Electron_scEtOverPt": 8, "Electron_hoe": 8, "Electron_jetRelIso": 8, "Electron_jetPtRelv2": 8,
    "Electron_dr03TkSumPt": 8, "Electron_dr03TkSumPtHEEP": 8, "Electron_dr03EcalRecHitSumEt": 8,
    "Electron_dr03HcalDepth1TowerSumEt": 8,
    "Electron_miniPFRelIso_chg": F, "Electron_miniPFRelIso_all": F,
    "Electron_pfRelIso03_chg": F, "Electron_pfRelIso03_all": F,
    "Electron_mvaFall17V2Iso": F, "Electron_mvaFall17V2noIso": F,
    "Electron_mvaFall17V1Iso": F, "Electron_mvaFall17V1noIso": F,
    "Electron_mvaTTH": 14,
    # photons_cff.py: photonTable (CandVars; pt overridden with precision=-1)
    "Photon_pt": F, "Photon_eta": 12, "Photon_phi": 12, "Photon_mass": 10,
    "Photon_energyErr": 6, "Photon_eCorr": F, "Photon_r9": 10, "Photon_sieie": 10, "Photon_hoe": 8,
    "Photon_mvaID": 10, "Photon_mvaID_Fall17V1p1": 10, "Photon_mvaID_Spring16nonTrigV1": 10,
    "Photon_pfRelIso03_chg": F, "Photon_pfRelIso03_all": F,
    # taus_cff.py: tauTable (P4Vars)
    "Tau_pt": F, "Tau_eta": 12, "Tau_phi": 12, "Tau_mass": 10,
    "Tau_leadTkPtOverTauPt": 10, "Tau_leadTkDeltaEta": 8, "Tau_leadTkDeltaPhi": 8, "Tau_dxy": 10, "Tau_dz": 14,
    "Tau_rawIso": 10, "Tau_rawIsodR03": 10, "Tau_chargedIso": 10, "Tau_neutralIso": 10, "Tau_puCorr": 10,
    "Tau_footprintCorr": 10, "Tau_photonsOutsideSignalCone": 10,
    "Tau_rawMVAnewDM": 10, "Tau_rawMVAoldDM": 10, "Tau_rawMVAoldDMdR03": 10, "Tau_rawAntiEle": 10,
    # taus_cff.py: genVisTauTable
    "GenVisTau_pt": 8, "GenVisTau_eta": 8, "GenVisTau_phi": 8, "GenVisTau_mass": 8,
    # met_cff.py: metTable (PTVars) and its clone metFixEE2017Table
    "MET_pt": F, "MET_phi": 12, "MET_sumEt": 10, "MET_covXX": 8, "MET_covXY": 8, "MET_covYY": 8,
    "MET_significance": 10, "MET_sumPtUnclustered": 10, "MET_MetUnclustEnUpDeltaX": 10, "MET_MetUnclustEnUpDeltaY": 10,
    "METFixEE2017_pt": F, "METFixEE2017_phi": 12, "METFixEE2017_sumEt": 10,
    "METFixEE2017_covXX": 8, "METFixEE2017_covXY": 8, "METFixEE2017_covYY": 8,
    "METFixEE2017_significance": 10, "METFixEE2017_sumPtUnclustered": 10,
    "METFixEE2017_MetUnclustEnUpDeltaX": 10, "METFixEE2017_MetUnclustEnUpDeltaY": 10,
    # met_cff.py: the other MET tables
    "RawMET_pt": 10, "RawMET_phi": 10, "RawMET_sumEt": 10,
    "CaloMET_pt": 10, "CaloMET_phi": 10, "CaloMET_sumEt": 10,
    "TkMET_pt": 10, "TkMET_phi": 10, "TkMET_sumEt": 10,
    "ChsMET_pt": 10, "ChsMET_phi": 10, "ChsMET_sumEt": 10,
    "RawPuppiMET_pt": 10, "RawPuppiMET_phi": 10, "RawPuppiMET_sumEt": 10,
    "PuppiMET_pt": F, "PuppiMET_phi": 12, "PuppiMET_sumEt": 10,
    "PuppiMET_pt*": 10, "PuppiMET_phi*": 10,  # ptJERUp, phiJESDown, ptUnclusteredUp, ...: all precision=10
    "DeepMETResolutionTune_pt": F, "DeepMETResolutionTune_phi": 12,
    "DeepMETResponseTune_pt": F, "DeepMETResponseTune_phi": 12,
    "GenMET_pt": 10, "GenMET_phi": 10,
    # particlelevel_cff.py: rivetMetTable, rivetLeptonTable (P4Vars), HTXSCategoryTable
    "MET_fiducialGenPt": 10, "MET_fiducialGenPhi": 10,
    "GenDressedLepton_pt": F, "GenDressedLepton_eta": 12, "GenDressedLepton_phi": 12, "GenDressedLepton_mass": 10,
    "HTXS_Higgs_pt": 14, "HTXS_Higgs_y": 12,
    # genparticles_cff.py: genParticleTable
    "GenPart_pt": 8, "GenPart_eta": 8, "GenPart_phi": 8, "GenPart_mass": 8,
    # VertexTableProducer.cc and vertices_cff.py: svCandidateTable (P4Vars, pt 10, phi 12)
    "PV_ndof": 8, "PV_x": 10, "PV_y": 10, "PV_z": 16, "PV_chi2": 8, "PV_score": 8, "OtherPV_z": 8,
    "SV_pt": 10, "SV_eta": 12, "SV_phi": 12, "SV_mass": 10, "SV_x": 10, "SV_y": 10, "SV_z": 14,
    "SV_ndof": 8, "SV_chi2": 8, "SV_dlen": 10, "SV_dlenSig": 10, "SV_dxy": 10, "SV_dxySig": 10, "SV_pAngle": 10,
    # isotracks_cff.py: isoTrackTable (P3Vars)
    "IsoTrack_pt": F, "IsoTrack_eta": 12, "IsoTrack_phi": 12, "IsoTrack_dz": 10, "IsoTrack_dxy": 10,
    "IsoTrack_pfRelIso03_chg": 10, "IsoTrack_pfRelIso03_all": 10,
    "IsoTrack_miniPFRelIso_chg": 10, "IsoTrack_miniPFRelIso_all": 10,
    # TriggerObjectTableProducer.cc
    "TrigObj_pt": 12, "TrigObj_eta": 12, "TrigObj_phi": 12, "TrigObj_l1pt": 8, "TrigObj_l1pt_2": 8, "TrigObj_l2pt": 10,
    # globals_cff.py: rhoTable (no precision), genTable
    "fixedGridRhoFastjetAll": F, "fixedGridRhoFastjetCentral": F, "fixedGridRhoFastjetCentralCalo": F,
    "fixedGridRhoFastjetCentralChargedPileUp": F, "fixedGridRhoFastjetCentralNeutral": F,
    "Generator_x1": 14, "Generator_x2": 14, "Generator_xpdf1": 14, "Generator_xpdf2": 14,
    "Generator_scalePDF": 14, "Generator_binvar": 14, "Generator_weight": 14,
    # GenWeightsTableProducer.cc (lheWeightPrecision = 14), LHETablesProducer.cc (precision = 14)
    "LHEPdfWeight": 14, "LHEScaleWeight": 14, "LHEReweightingWeight": 14, "PSWeight": 14,
    "LHEPart_pt": 14, "LHEPart_eta": 14, "LHEPart_phi": 14, "LHEPart_mass": 14, "LHEPart_incomingpz": 14,
}  # fmt: skip

PRESETS: Mapping[str, Preset | RulePreset] = MappingProxyType(
    {
        "kinematic": KINEMATIC,
        "nanoaod": Preset(
            name="nanoaod",
            description="CMS NanoAODv9 (Run-2 UL, CMSSW_10_6_X) float precision: N mantissa bits -> rel=2**-(N+1)",
            mantissa_bits=MappingProxyType(_NANOAOD_V9),
        ),
    }
)


def preset_names() -> list[str]:
    """Names of the known presets, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> Preset | RulePreset:
    """The preset called ``name`` (case and surrounding blanks ignored)."""
    preset = PRESETS.get(name.strip().lower())
    if preset is None:
        raise BaleConfigError(f"unknown preset {name!r}: known presets are {', '.join(preset_names())}")
    return preset


def preset_bounds(name: str, columns: list[str]) -> dict[str, str]:
    """Bound spec (``rel=X`` or ``exact``) of each of ``columns`` that preset ``name`` covers.

    Columns the preset does not cover are left out (they keep the default bound). An exact
    branch name wins over globs, and among globs the most specific wins (see
    :meth:`Preset.bound_for`). Pass float columns: the presets list only float branches, and
    integer and bool columns are exact whatever the bound.
    """
    return get_preset(name).bounds_for(columns)


def describe_preset(name: str, columns: Iterable[str], defaults: Mapping[str, str] | None = None) -> list[str]:
    """Lines saying which bound preset ``name`` gives which of ``columns``, one line per bound or rule.

    ``defaults`` (column -> bound spec) shows what the columns the preset leaves out get instead.
    """
    preset = get_preset(name)
    columns = list(columns)
    if isinstance(preset, RulePreset):
        groups = preset.explain(columns)
    else:
        by_bound: dict[str, list[str]] = {}
        rest: list[str] = []
        for column in columns:
            spec = preset.bound_for(column)
            (by_bound.setdefault(spec, []) if spec else rest).append(column)
        bits = {mantissa_bound(b): b for b in set(preset.mantissa_bits.values())}
        groups = [(_bits_label(bits[spec]), spec, cols) for spec, cols in by_bound.items()]
        if rest:
            groups.append(("no rule", "default", rest))
    lines = []
    for label, spec, cols in groups:
        if spec == "default" and defaults:
            shown = sorted({defaults.get(c, "default") for c in cols})
            spec = "default: " + ", ".join(shown)
        listed = ", ".join(cols[:12]) + (f", ... ({len(cols)} in all)" if len(cols) > 12 else "")
        lines.append(f"preset {preset.name}: {label}: {spec}: {listed}")
    return lines


def _bits_label(bits: int) -> str:
    return "full precision" if bits <= 0 or bits == _FLOAT32_MANTISSA_BITS else f"{bits} mantissa bits"
