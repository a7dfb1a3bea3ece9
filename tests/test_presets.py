"""Physics bound presets: every spec parses, the mantissa-bits arithmetic is right, lookups follow
their precedence rules, and the ``nanoaod`` preset matches both CMSSW's rounding and a real file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bale.bounds import check_bound, parse_bound
from bale.errors import BaleConfigError
from bale.presets import (
    FULL_PRECISION,
    PRESETS,
    Preset,
    RulePreset,
    describe_preset,
    get_preset,
    mantissa_bound,
    preset_bounds,
    preset_names,
)

NANOAOD_FILE = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"

# Real branch names of NanoAODv9 (from nanoAOD_2015_CMS_Open_Data_ttbar.root), floats and a few non-floats.
REAL_BRANCHES = [
    "run", "luminosityBlock", "event", "nJet", "nMuon", "nElectron", "nPhoton", "nTau", "HLT_IsoMu24",
    "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_area", "Jet_btagDeepFlavB", "Jet_qgl", "Jet_chHEF",
    "Jet_rawFactor", "Jet_bRegCorr", "Jet_bRegRes", "Jet_muonSubtrFactor", "Jet_jetId", "Jet_puId",
    "Jet_nConstituents", "Jet_muonIdx1",
    "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_dxy", "Muon_dz", "Muon_ptErr", "Muon_pfRelIso04_all",
    "Muon_segmentComp", "Muon_mvaTTH", "Muon_charge", "Muon_tightId",
    "Electron_pt", "Electron_eta", "Electron_phi", "Electron_mass", "Electron_r9", "Electron_sieie",
    "Electron_hoe", "Electron_energyErr", "Electron_mvaFall17V2Iso", "Electron_cutBased",
    "Photon_pt", "Photon_eta", "Photon_phi", "Photon_mass", "Photon_r9", "Photon_sieie", "Photon_mvaID",
    "Tau_pt", "Tau_eta", "Tau_phi", "Tau_mass", "Tau_dz", "Tau_leadTkDeltaEta", "Tau_rawMVAoldDM",
    "MET_pt", "MET_phi", "MET_sumEt", "MET_covXX", "MET_significance",
    "PuppiMET_pt", "PuppiMET_phi", "PuppiMET_ptJERUp", "PuppiMET_phiUnclusteredDown",
    "FatJet_pt", "FatJet_deepTag_WvsQCD", "FatJet_deepTagMD_ZHbbvsQCD", "FatJet_particleNetMD_Xbb",
    "PV_z", "SV_z", "GenPart_pt", "Pileup_nTrueInt", "LHE_HT", "genWeight",
]  # fmt: skip

REL = {n: 2.0 ** -(n + 1) for n in range(1, 23)}

# Values CMSSW states (mantissa bits -> bound), for the branches the brief names and a few more.
EXPECTED = {
    "Jet_pt": REL[10], "Jet_eta": REL[12], "Jet_phi": REL[12], "Jet_mass": REL[10], "Jet_area": REL[10],
    "Jet_btagDeepFlavB": REL[10], "Jet_qgl": REL[10], "Jet_chHEF": REL[6], "Jet_rawFactor": REL[6],
    "Jet_bRegCorr": REL[10], "Jet_bRegRes": REL[6], "Jet_muonSubtrFactor": REL[6],
    "Muon_pt": "exact", "Muon_eta": REL[12], "Muon_phi": REL[12], "Muon_mass": REL[10], "Muon_dxy": REL[10],
    "Muon_dz": REL[10], "Muon_ptErr": REL[6], "Muon_pfRelIso04_all": "exact", "Muon_segmentComp": REL[14],
    "Muon_mvaTTH": REL[14],
    "Electron_pt": "exact", "Electron_eta": REL[12], "Electron_phi": REL[12], "Electron_mass": REL[10],
    "Electron_r9": REL[10], "Electron_sieie": REL[10], "Electron_hoe": REL[8], "Electron_energyErr": REL[6],
    "Electron_mvaFall17V2Iso": "exact",
    "Photon_pt": "exact", "Photon_eta": REL[12], "Photon_phi": REL[12], "Photon_mass": REL[10],
    "Photon_r9": REL[10], "Photon_sieie": REL[10], "Photon_mvaID": REL[10],
    "Tau_pt": "exact", "Tau_eta": REL[12], "Tau_phi": REL[12], "Tau_mass": REL[10], "Tau_dz": REL[14],
    "Tau_leadTkDeltaEta": REL[8], "Tau_rawMVAoldDM": REL[10],
    "MET_pt": "exact", "MET_phi": REL[12], "MET_sumEt": REL[10], "MET_covXX": REL[8], "MET_significance": REL[10],
    "PuppiMET_pt": "exact", "PuppiMET_phi": REL[12], "PuppiMET_ptJERUp": REL[10],
    "PuppiMET_phiUnclusteredDown": REL[10],
    "FatJet_pt": REL[10], "FatJet_deepTag_WvsQCD": REL[10], "FatJet_deepTagMD_ZHbbvsQCD": REL[10],
    "FatJet_particleNetMD_Xbb": REL[10],
    "PV_z": REL[16], "SV_z": REL[14], "GenPart_pt": REL[8],
}  # fmt: skip

NOT_COVERED = [
    "run", "luminosityBlock", "event", "nJet", "nMuon", "nElectron", "nPhoton", "nTau", "HLT_IsoMu24",
    "Jet_jetId", "Jet_puId", "Jet_nConstituents", "Jet_muonIdx1", "Muon_charge", "Muon_tightId", "Electron_cutBased",
    "Pileup_nTrueInt", "LHE_HT", "genWeight",  # floats whose precision was not found: left to the default
]  # fmt: skip


def _value(spec: str) -> float | str:
    bound = parse_bound(spec)
    return "exact" if bound.mode == "exact" else bound.value


def _round_nearest(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 rounded to ``bits`` mantissa bits, half away from zero, carrying into the exponent."""
    shift = 23 - bits
    u = x.astype(np.float32).view(np.uint32)
    half = np.uint32(1 << (shift - 1))
    keep = np.uint32((0xFFFFFFFF >> shift) << shift)
    return ((u + half) & keep).view(np.float32)


def _round_cmssw(x: np.ndarray, bits: int) -> np.ndarray:
    """CMSSW's MiniFloatConverter::ReduceMantissaToNbitsRounding, bit for bit (libminifloat.h)."""
    shift = 23 - bits
    u = x.astype(np.float32).view(np.uint32)
    test = np.uint32(1 << (shift - 1))
    mask = np.uint32((0xFFFFFFFF >> shift) << shift)
    maxn = np.uint32((1 << bits) - 2)
    mantissa = (u & np.uint32(0x007FFFFF)) >> np.uint32(shift)
    bumped = np.where(mantissa < maxn, mantissa + np.uint32(1), mantissa)
    rounded = (u & np.uint32(0xFF800000)) | (bumped << np.uint32(shift))
    return np.where((u & test) != 0, rounded, u & mask).astype(np.uint32).view(np.float32)


def _float32_sample(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """Normal float32 values over many magnitudes and both signs, with mantissas near the rounding edges."""
    mags = 10.0 ** rng.uniform(-30, 30, n)
    x = (mags * rng.choice([-1.0, 1.0], n)).astype(np.float32)
    u = x.view(np.uint32).copy()
    shift = 23 - bits
    edge = rng.integers(0, 4, n)  # 0: as drawn; 1: dropped bits just below/at half; 2, 3: top-of-binade mantissas
    dropped = np.uint32((1 << shift) - 1)
    below_half = np.uint32((1 << (shift - 1)) - 1)
    u = np.where(edge == 1, (u & ~dropped) | (below_half + np.uint32(rng.integers(0, 2, n))), u)
    top = np.uint32(((1 << bits) - 1 - rng.integers(0, 2, n)) << shift)
    low = np.uint32(rng.integers(0, 1 << shift, n)) & dropped
    u = np.where(edge >= 2, (u & np.uint32(0xFF800000)) | top | low, u)
    return u.astype(np.uint32).view(np.float32)


def _used_mantissa_bits(x: np.ndarray) -> int:
    """Highest number of mantissa bits any finite non-zero value of ``x`` uses (23 minus trailing zeros)."""
    m = x[np.isfinite(x) & (x != 0)].astype(np.float32).view(np.uint32) & np.uint32(0x007FFFFF)
    m = m[m != 0]
    if m.size == 0:
        return 0
    lowest = (m & (~m + np.uint32(1))).astype(np.float64)  # lowest set bit
    return int(23 - np.log2(lowest).min())


# ------------------------------------------------------------------------------- specs and conversion


def test_preset_names_lists_nanoaod() -> None:
    assert "nanoaod" in preset_names()
    assert preset_names() == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(n for n, p in PRESETS.items() if isinstance(p, Preset)))
def test_every_spec_parses_and_is_rel_or_exact(name: str) -> None:
    preset = PRESETS[name]
    assert preset.name == name
    assert preset.bounds, name
    for pattern, spec in preset.bounds.items():
        bound = parse_bound(spec)
        assert bound.mode in ("rel", "exact"), (pattern, spec)
        if bound.mode == "rel":
            assert 0 < bound.value < 0.01, (pattern, spec)
            assert spec == f"rel={bound.value!r}", "specs are written in their shortest exact form"


@pytest.mark.parametrize("bits", range(1, 23))
def test_mantissa_bits_become_rel_two_to_minus_bits_plus_one(bits: int) -> None:
    bound = parse_bound(mantissa_bound(bits))
    assert bound.mode == "rel"
    assert bound.value == 2.0 ** -(bits + 1)


def test_mantissa_bound_known_values() -> None:
    assert mantissa_bound(10) == "rel=0.00048828125"  # 2**-11
    assert mantissa_bound(12) == "rel=0.0001220703125"  # 2**-13
    assert mantissa_bound(6) == "rel=0.0078125"  # 2**-7
    for full in (FULL_PRECISION, 0, 23):
        assert mantissa_bound(full) == "exact"
    for bad in (-2, 24, 52):
        with pytest.raises(ValueError):
            mantissa_bound(bad)


# ------------------------------------------------------------------------------------------- lookups


def test_exact_name_beats_glob_in_nanoaod() -> None:
    got = preset_bounds("nanoaod", ["PuppiMET_pt", "PuppiMET_ptJERUp", "PuppiMET_phi", "PuppiMET_phiJESDown"])
    assert got == {
        "PuppiMET_pt": "exact",  # exact name, though "PuppiMET_pt*" matches too
        "PuppiMET_ptJERUp": mantissa_bound(10),
        "PuppiMET_phi": mantissa_bound(12),
        "PuppiMET_phiJESDown": mantissa_bound(10),
    }


def test_precedence_exact_then_most_specific_glob() -> None:
    preset = Preset("t", "test", {"Jet_*": 6, "Jet_pt*": 10, "Jet_ptRaw": 12, "*_pt": 8, "Jet_p?": 14})
    assert preset.bound_for("Jet_ptRaw") == mantissa_bound(12)  # exact name
    assert preset.bound_for("Jet_ptCorr") == mantissa_bound(10)  # "Jet_pt*" has more literal characters
    assert preset.bound_for("Jet_pt") == mantissa_bound(10)  # "Jet_pt*" (6 literal) beats "Jet_p?" (5) and "*_pt"
    assert preset.bound_for("Jet_px") == mantissa_bound(14)  # "Jet_p?" beats "Jet_*"
    assert preset.bound_for("Jet_eta") == mantissa_bound(6)
    assert preset.bound_for("Muon_pt") == mantissa_bound(8)
    assert preset.bound_for("Muon_eta") is None
    assert preset.bound_for("jet_pt") == mantissa_bound(8), "matching is case-sensitive: only '*_pt' matches"


def test_preset_bounds_keeps_order_and_leaves_out_uncovered() -> None:
    got = preset_bounds("nanoaod", ["Foo", "MET_phi", "nJet", "Jet_pt"])
    assert list(got) == ["MET_phi", "Jet_pt"]
    assert preset_bounds("nanoaod", []) == {}


def test_unknown_preset_raises_config_error_listing_known() -> None:
    with pytest.raises(BaleConfigError) as info:
        preset_bounds("miniaod", ["Jet_pt"])
    message = str(info.value)
    assert "miniaod" in message and "nanoaod" in message and "\n" not in message
    with pytest.raises(BaleConfigError):
        get_preset("")


def test_preset_name_ignores_case_and_blanks() -> None:
    assert get_preset(" NanoAOD ") is PRESETS["nanoaod"]


def test_presets_are_read_only() -> None:
    with pytest.raises(TypeError):
        PRESETS["x"] = PRESETS["nanoaod"]  # type: ignore[index]
    with pytest.raises(TypeError):
        PRESETS["nanoaod"].mantissa_bits["Jet_pt"] = 23  # type: ignore[index]


# ------------------------------------------------------------------------------- nanoaod vs CMSSW


def test_nanoaod_values_on_real_branch_names() -> None:
    got = preset_bounds("nanoaod", REAL_BRANCHES)
    assert {name: _value(spec) for name, spec in got.items() if name in EXPECTED} == EXPECTED
    for name in NOT_COVERED:
        assert name not in got, name
    assert set(got) == set(EXPECTED)


def test_nanoaod_lists_no_integer_branch_names() -> None:
    ints = ("_charge", "_pdgId", "Idx", "Idx1", "Idx2", "_jetId", "_puId", "_cutBased", "_nConstituents", "_status")
    for pattern in PRESETS["nanoaod"].mantissa_bits:
        assert not pattern.startswith(("n", "HLT_", "L1_", "Flag_")), pattern
        assert not pattern.endswith(ints), pattern


def test_nanoaod_each_spec_follows_from_its_bits() -> None:
    preset = PRESETS["nanoaod"]
    for pattern, bits in preset.mantissa_bits.items():
        assert bits == FULL_PRECISION or 1 <= bits <= 22, pattern
        assert preset.bounds[pattern] == mantissa_bound(bits)


@pytest.mark.parametrize("bits", sorted({b for b in PRESETS["nanoaod"].mantissa_bits.values() if b > 0}))
def test_nearest_rounding_fits_the_bound_and_the_bound_is_not_loose(bits: int) -> None:
    rng = np.random.default_rng(bits)
    x = _float32_sample(rng, 200_000, bits)
    bound = parse_bound(mantissa_bound(bits))
    rounded = _round_nearest(x, bits)
    assert _used_mantissa_bits(rounded) <= bits
    assert check_bound(x, rounded, bound) == 0
    rel = np.abs(rounded.astype(np.float64) - x.astype(np.float64)) / np.abs(x.astype(np.float64))
    assert rel.max() > 0.5 * bound.value, "the bound is more than twice the largest rounding error"


@pytest.mark.parametrize("bits", sorted({b for b in PRESETS["nanoaod"].mantissa_bits.values() if b > 0}))
def test_cmssw_rounding_differs_from_nearest_only_at_the_top_of_the_binade(bits: int) -> None:
    rng = np.random.default_rng(100 + bits)
    x = _float32_sample(rng, 200_000, bits)
    bound = parse_bound(mantissa_bound(bits))
    rounded = _round_cmssw(x, bits)
    assert _used_mantissa_bits(rounded) <= bits
    shift = 23 - bits
    u = x.view(np.uint32)
    code = (u & np.uint32(0x007FFFFF)) >> np.uint32(shift)
    rounds_up = (u & np.uint32(1 << (shift - 1))) != 0
    quirk = (code >= (1 << bits) - 2) & rounds_up  # CMSSW truncates these two mantissas instead of rounding up
    assert quirk.any()
    assert np.array_equal(rounded.view(np.uint32) != _round_nearest(x, bits).view(np.uint32), quirk)
    bad = check_bound(x[~quirk], rounded[~quirk], bound)
    assert bad == 0, "outside the quirk CMSSW's rounding honours rel=2**-(N+1)"
    rel = np.abs(rounded.astype(np.float64) - x) / np.abs(x.astype(np.float64))
    assert rel.max() < bound.value * 2 ** (bits + 1) / (2 ** (bits + 1) - 1)


@pytest.mark.parametrize("bits", range(1, 23))
def test_cmssw_quirk_exceeds_the_bound_only_up_to_11_bits(bits: int) -> None:
    # worst case: mantissa code 2**N - 2 (not rounded up by CMSSW) and every dropped bit set
    shift = 23 - bits
    u = np.uint32(127 << 23) | np.uint32(((1 << bits) - 2) << shift) | np.uint32((1 << shift) - 1)
    x = np.array([u], dtype=np.uint32).view(np.float32)
    rounded = _round_cmssw(x, bits)
    over = check_bound(x, rounded, parse_bound(mantissa_bound(bits)))
    # float32 has 23 - N dropped bits: past 11 kept bits they cannot get close enough to a full step
    assert over == (1 if bits <= 11 else 0)
    assert check_bound(x, _round_nearest(x, bits), parse_bound(mantissa_bound(bits))) == 0


# ------------------------------------------------------------------------------- nanoaod vs real file


@pytest.mark.skipif(not NANOAOD_FILE.exists(), reason=f"{NANOAOD_FILE} is not there")
def test_nanoaod_matches_the_real_file() -> None:
    uproot = pytest.importorskip("uproot")
    ak = pytest.importorskip("awkward")
    with uproot.open(NANOAOD_FILE) as f:
        tree = f["Events"]
        names = list(tree.keys())
        floats = [name for name, branch in tree.items() if "float" in branch.typename]
        assert set(preset_bounds("nanoaod", names)) <= set(floats), "the preset covers a non-float branch"
        covered = preset_bounds("nanoaod", floats)
        for collection in ("Jet", "Muon", "Electron", "MET", "Photon", "Tau"):
            members = [n for n in floats if n.startswith(collection + "_")]
            assert members and all(n in covered for n in members), collection
        assert len(covered) >= 280, f"only {len(covered)} of {len(floats)} float branches covered"
        arrays = tree.arrays(list(covered), library="ak")
    checked = 0
    for name, spec in covered.items():
        values = np.asarray(ak.flatten(arrays[name], axis=None), dtype=np.float32)
        bound = parse_bound(spec)
        if bound.mode == "exact" or not np.any(np.isfinite(values) & (values != 0)):
            continue
        bits = round(-np.log2(bound.value)) - 1
        assert _used_mantissa_bits(values) <= bits, f"{name} uses more than the {bits} bits the preset says"
        assert np.array_equal(_round_cmssw(values, bits).view(np.uint32), values.view(np.uint32)), name
        checked += 1
    assert checked >= 150


# ------------------------------------------------------------------------------- kinematic (name rules)

KINEMATIC_CASES = {
    # angles: absolute
    "eta": "abs=0.001", "phi": "abs=0.001", "Jet_eta": "abs=0.001", "jet_phi": "abs=0.001",
    "Muon_PHI": "abs=0.001", "eta1": "abs=0.001", "phi2": "abs=0.001", "lead.jet.eta": "abs=0.001",
    "Tau_theta": "abs=0.001",
    # momenta, energies, masses: relative
    "pt": "rel=0.001", "px": "rel=0.001", "Jet_Px": "rel=0.001", "pt1": "rel=0.001", "E1": "rel=0.001",
    "Jet_E": "rel=0.001", "energy": "rel=0.001", "mass": "rel=0.001", "M": "rel=0.001", "MET_px": "rel=0.001",
    "FatJet_msoftdrop": "rel=0.001", "jet_pz": "rel=0.001",
    # counts and flags: exact
    "n_constituents": "exact", "NJet": "exact", "nMuon": "exact", "Muon_charge": "exact", "Q1": "exact",
    "Jet_ID": "exact", "is_tight": "exact", "Jet_nConstituents": "exact",
}  # fmt: skip
KINEMATIC_UNCOVERED = ["width", "charged_ef", "Jet_btag", "Jet_hfsigmaEtaEta", "beta", "Type", "EventWeight",
                       "lead_pt_frac", "PV_y", "Jet_leadTkDeltaEtaX"]  # fmt: skip


def test_kinematic_rules_by_name() -> None:
    got = preset_bounds("kinematic", [*KINEMATIC_CASES, *KINEMATIC_UNCOVERED])
    assert got == KINEMATIC_CASES


def test_kinematic_bounds_parse_and_have_a_reason() -> None:
    preset = get_preset("Kinematic")
    assert isinstance(preset, RulePreset) and preset.name == "kinematic"
    assert [parse_bound(r.bound).mode for r in preset.rules] == ["exact", "abs", "rel"]
    assert all(r.why for r in preset.rules)


def test_kinematic_on_the_jet_table_and_describe() -> None:
    columns = ["pt", "eta", "phi", "mass", "energy", "px", "py", "pz", "n_constituents", "width"]
    lines = describe_preset("kinematic", columns, {"width": "rel=0.001"})
    assert lines == [
        "preset kinematic: counts and flags: exact: n_constituents",
        "preset kinematic: angles: abs=0.001: eta, phi",
        "preset kinematic: momenta, energies, masses: rel=0.001: pt, mass, energy, px, py, pz",
        "preset kinematic: no rule: default: rel=0.001: width",
    ]


def test_describe_nanoaod_groups_by_mantissa_bits() -> None:
    lines = describe_preset("nanoaod", ["Jet_pt", "Jet_eta", "Jet_phi", "foo"])
    assert lines[0].startswith("preset nanoaod: 10 mantissa bits: rel=0.00048828125: Jet_pt")
    assert lines[1].startswith("preset nanoaod: 12 mantissa bits: rel=0.0001220703125: Jet_eta, Jet_phi")
    assert lines[-1] == "preset nanoaod: no rule: default: foo"


def test_kinematic_preset_compresses_within_its_bounds(tmp_path: Path) -> None:
    import bale

    rng = np.random.default_rng(3)
    n = 3000
    table = {
        "pt": rng.exponential(40, n).astype(np.float32) + 20,
        "eta": rng.uniform(-2.5, 2.5, n).astype(np.float32),
        "phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        "n_constituents": rng.integers(1, 60, n).astype(np.float32),  # a count stored as float
        "width": rng.uniform(0, 0.3, n).astype(np.float32),
    }
    report = bale.compress(table, tmp_path / "k.bale", error="rel=1e-2", preset="kinematic")
    bounds = {c: report["per_column"][c]["bound"] for c in table}
    assert bounds == {"pt": "rel=0.001", "eta": "abs=0.001", "phi": "abs=0.001", "n_constituents": "exact",
                      "width": "rel=0.01"}  # fmt: skip
    back = bale.decompress(tmp_path / "k.bale").columns
    for column, values in table.items():
        assert check_bound(values, back[column], parse_bound(bounds[column])) == 0, column
