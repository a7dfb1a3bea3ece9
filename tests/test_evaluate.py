"""`bale.evaluate`: the metrics against independent NumPy computations, the report, and the page in a browser.

The physics formulas are written out here by hand (no `vector`), so that the checks do
not share code with what they check.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("mplhep")
pytest.importorskip("scipy")
pytest.importorskip("vector")

from bale.api import as_dataset, as_table, compress
from bale.bounds import Bound
from bale.config import BaleConfig
from bale.evaluate import evaluate, evaluate_files
from bale.evaluate.inputs import (
    EMBEDDED_WITHOUT_RECORD,
    parse_four_vector_options,
    read_options,
    training_records,
)
from bale.evaluate.physics import detect_four_vectors, fit_peak, numbered_pairs
from bale.evaluate.stats import ks_distance
from bale.models import ColumnPlan, CompressionModel
from bale.table import Dataset, Table
from common import DATA, JETS, NANOAOD

ZMUMU = DATA / "uproot-Zmumu.root"
SECTIONS = ["summary", "physics", "correlations", "training", "columns", "method"]


def perturb(values: np.ndarray, rel: float, seed: int) -> np.ndarray:
    """Each value moved by a uniform relative error of at most ``rel``, in the column's dtype."""
    u = np.random.default_rng(seed).uniform(-rel, rel, values.size)
    return (values.astype(np.float64) * (1 + u)).astype(values.dtype)


def spread68(values: np.ndarray) -> float:
    q16, q84 = np.quantile(values, [0.16, 0.84])
    return float((q84 - q16) / 2)


def mass_from_e_p(e: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """m = sqrt(E² − p²), negative (−sqrt|m²|) where m² < 0."""
    m2 = (
        e.astype(np.float64) ** 2 - px.astype(np.float64) ** 2 - py.astype(np.float64) ** 2 - pz.astype(np.float64) ** 2
    )
    return np.sign(m2) * np.sqrt(np.abs(m2))


def four_momentum(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, ...]:
    pt, eta, phi, m = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, m))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz


def relative(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    keep = np.isfinite(before) & np.isfinite(after) & (before > 0)
    return (after[keep] - before[keep]) / before[keep]


def strict_json(path: Path) -> dict:
    def refuse(value: str) -> None:
        raise ValueError(f"non-standard JSON constant {value}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# ----------------------------------------------------------------------------- per-column metrics


def test_residual_and_response_statistics_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(10, 3, 2000)
    x[:5] = 0.0  # zeros have no response; they must come back exact
    u = rng.uniform(-4e-4, 4e-4, x.size)
    y = x * (1 + u)
    z = rng.exponential(2.0, x.size)
    z_out = z + 0.01
    z_out[7] += 0.05  # one value breaks abs=0.02
    metrics = evaluate(
        {"x": x, "z": z}, {"x": y, "z": z_out}, tmp_path, bounds={"x": "rel=1e-3", "z": "abs=0.02"}, plots=False
    )
    col = metrics["columns"]["x"]
    r = y - x
    q = r[x != 0] / x[x != 0]
    assert col["residual"]["n"] == x.size
    assert col["residual"]["mean"] == pytest.approx(np.mean(r), rel=1e-12, abs=1e-15)
    assert col["residual"]["rms"] == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-12)
    assert col["residual"]["max_abs"] == pytest.approx(np.max(np.abs(r)), rel=1e-12)
    assert col["response"]["n"] == x.size - 5
    assert col["response"]["mean"] == pytest.approx(np.mean(q), rel=1e-9)
    assert col["response"]["rms"] == pytest.approx(np.sqrt(np.mean(q**2)), rel=1e-9)
    assert col["max_error_over_bound"] == pytest.approx(np.max(np.abs(q)) / 1e-3, rel=1e-9)
    assert col["violations"] == 0 and col["pass"] is True
    bad = metrics["columns"]["z"]
    assert bad["violations"] == 1 and bad["pass"] is False
    assert bad["max_error_over_bound"] == pytest.approx(0.06 / 0.02, rel=1e-9)
    assert metrics["summary"]["failed"] == ["z"]
    corr = metrics["correlation"][""]
    expected = np.corrcoef(np.stack([y, z_out]))[0, 1] - np.corrcoef(np.stack([x, z]))[0, 1]
    assert corr["max_abs_diff"] == pytest.approx(abs(expected), rel=1e-6, abs=1e-15)


# ----------------------------------------------------------------------------- physics


def test_rebuilt_mass_difference_from_e_px_py_pz_by_hand(tmp_path: Path) -> None:
    jets = as_table(JETS, columns=["energy", "px", "py", "pz"]).columns
    decoded = {name: perturb(values, 1e-4, seed) for seed, (name, values) in enumerate(jets.items())}
    metrics = evaluate(jets, decoded, tmp_path, plots=False)
    (mass,) = metrics["physics"][""]["masses"]
    assert mass["source"] == "rebuilt from (E,px,py,pz)"
    m0 = mass_from_e_p(jets["energy"], jets["px"], jets["py"], jets["pz"])
    m1 = mass_from_e_p(decoded["energy"], decoded["px"], decoded["py"], decoded["pz"])
    rel = relative(m0, m1)
    assert mass["n"] == rel.size
    assert mass["mean"] == pytest.approx(np.mean(rel), rel=1e-6)
    assert mass["std"] == pytest.approx(np.std(rel), rel=1e-6)
    assert mass["spread68"] == pytest.approx(spread68(rel), rel=1e-6)
    assert mass["unphysical"] == int(np.count_nonzero((m1 < 0) & (m0 > 0)))
    e2m2 = (jets["energy"].astype(np.float64) / m0) ** 2
    assert mass["conditioning"] == pytest.approx(np.median(e2m2[m0 > 0]), rel=1e-9)


def test_mass_column_and_leading_dijet_from_pt_eta_phi_m_by_hand(tmp_path: Path) -> None:
    jets = as_table(JETS, columns=["pt", "eta", "phi", "mass", "event"]).columns
    decoded = dict(jets)
    decoded["pt"] = perturb(jets["pt"], 5e-4, 1)
    decoded["mass"] = perturb(jets["mass"], 5e-4, 2)
    metrics = evaluate(jets, decoded, tmp_path, bounds={"pt": "rel=1e-3", "mass": "rel=1e-3"}, plots=False)
    physics = metrics["physics"][""]
    (mass,) = physics["masses"]
    assert mass["source"] == "column mass"
    rel = relative(jets["mass"].astype(np.float64), decoded["mass"].astype(np.float64))
    assert mass["mean"] == pytest.approx(np.mean(rel), rel=1e-9)
    assert mass["spread68"] == pytest.approx(spread68(rel), rel=1e-9)
    # the two leading jets (by original pt) of each event with two or more
    first, second = [], []
    events = jets["event"]
    for event in np.unique(events):
        rows = np.flatnonzero(events == event)
        if rows.size >= 2:
            order = rows[np.argsort(-jets["pt"][rows], kind="stable")]
            first.append(order[0])
            second.append(order[1])
    a, b = np.array(first), np.array(second)

    def dijet(cols: dict[str, np.ndarray]) -> np.ndarray:
        p = four_momentum(cols["pt"], cols["eta"], cols["phi"], cols["mass"])
        e, px, py, pz = (v[a] + v[b] for v in p)
        return mass_from_e_p(e, px, py, pz)

    (pair,) = physics["pairs"]
    assert pair["label"] == "leading two object (pt,eta,phi,m)"
    assert pair["pairs"] == a.size
    rel = relative(dijet(jets), dijet(decoded))
    assert pair["relative_difference"]["mean"] == pytest.approx(np.mean(rel), rel=1e-6)
    assert pair["relative_difference"]["spread68"] == pytest.approx(spread68(rel), rel=1e-6)
    assert metrics["tables"][""]["event_column"] == "event"
    # response of pt in bins of original pt: the overall mean is the mean over bins weighted by their counts
    response = physics["response_vs_pt"][0]["bins"]["pt"]
    pt_rel = relative(jets["pt"].astype(np.float64), decoded["pt"].astype(np.float64))
    weighted = np.nansum(np.array(response["mean"]) * np.array(response["n"])) / np.sum(response["n"])
    assert weighted == pytest.approx(np.mean(pt_rel), rel=1e-6, abs=1e-12)


def test_dimuon_mass_is_the_m_column_of_zmumu(tmp_path: Path) -> None:
    events = as_dataset(ZMUMU).main.columns
    decoded = {k: perturb(v, 2e-4, i) if v.dtype.kind == "f" else v for i, (k, v) in enumerate(events.items())}
    metrics = evaluate(events, decoded, tmp_path, plots=False)
    pairs = {p["label"]: p for p in metrics["physics"][""]["pairs"]}
    assert list(pairs) == ["object1 + object2 (E,px,py,pz)"]  # numbered muons pair up; no per-event pairing
    dimuon = pairs["object1 + object2 (E,px,py,pz)"]
    # the dimuon mass from the muons' (E, px, py, pz) is the M column: so must be its fitted peak
    e, px, py, pz = (events[f"{c}1"] + events[f"{c}2"] for c in ("E", "px", "py", "pz"))
    by_hand = mass_from_e_p(e, px, py, pz)
    assert np.max(np.abs(by_hand - events["M"])) < 1e-6
    fit = fit_peak(events["M"])
    assert fit is not None
    assert dimuon["fit"]["original"]["mean"] == pytest.approx(fit["mean"], rel=1e-6)
    assert dimuon["fit"]["original"]["sigma"] == pytest.approx(fit["sigma"], rel=1e-5)
    assert 89 < fit["mean"] < 93 and 1 < fit["sigma"] < 5  # the Z
    e1, px1, py1, pz1 = (decoded[f"{c}1"] + decoded[f"{c}2"] for c in ("E", "px", "py", "pz"))
    rel = relative(by_hand, mass_from_e_p(e1, px1, py1, pz1))
    assert dimuon["relative_difference"]["mean"] == pytest.approx(np.mean(rel), rel=1e-6)
    assert abs(dimuon["fit"]["peak_shift"]) < 3 * dimuon["fit"]["peak_shift_error"]


def test_four_vectors_are_found_by_name_or_given() -> None:
    names = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_hfsigmaPhiPhi", "MET_pt", "MET_phi", "M"]
    names += [f"{c}{i}" for i in (1, 2) for c in ("E", "px", "py", "pz", "pt", "eta", "phi")]
    found = {(v.name, v.kind): v.columns for v in detect_four_vectors(names)}
    assert found == {
        ("Jet", "pt,eta,phi,m"): {"pt": "Jet_pt", "eta": "Jet_eta", "phi": "Jet_phi", "mass": "Jet_mass"},
        ("object1", "E,px,py,pz"): {"energy": "E1", "px": "px1", "py": "py1", "pz": "pz1"},
        ("object2", "E,px,py,pz"): {"energy": "E2", "px": "px2", "py": "py2", "pz": "pz2"},
    }
    pairs = numbered_pairs(detect_four_vectors(names))
    assert [(a.name, b.name) for a, b in pairs] == [("object1", "object2")]
    given = parse_four_vector_options(["mu1:pt=a,eta=b,phi=c,m=d", "jet:w,x,y,z"])
    assert given == {"mu1": {"pt": "a", "eta": "b", "phi": "c", "m": "d"}, "jet": ["w", "x", "y", "z"]}


def test_four_vectors_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "bale.toml"
    config.write_text(
        '[compress]\nerror = "rel=1e-3"\n[evaluate]\nseed = 3\n[evaluate.four_vectors]\n'
        'jet = { pt = "a", eta = "b", phi = "c", mass = "d" }\n'
    )
    options = read_options(config)
    assert options.seed == 3 and options.four_vectors == {"jet": {"pt": "a", "eta": "b", "phi": "c", "mass": "d"}}
    rng = np.random.default_rng(4)
    cols = {
        "a": rng.exponential(30, 300) + 20,
        "b": rng.normal(0, 1, 300),
        "c": rng.uniform(-3, 3, 300),
        "d": rng.exponential(5, 300) + 1,
    }
    metrics = evaluate(
        cols, {k: v * 1.0001 for k, v in cols.items()}, tmp_path / "out", four_vectors=options.four_vectors, plots=False
    )
    (mass,) = metrics["physics"][""]["masses"]
    assert mass["object"] == "jet" and mass["mean"] == pytest.approx(1e-4, rel=1e-6)


# ----------------------------------------------------------------------------- statistics


def test_ks_flags_a_shifted_column_and_not_an_untouched_one(tmp_path: Path) -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, 4000)
    b = rng.exponential(1, 4000)
    c = rng.normal(5, 1, 4000)
    decoded = {"a": a + 0.2, "b": perturb(b, 1e-3, 6), "c": c}
    metrics = evaluate({"a": a, "b": b, "c": c}, decoded, tmp_path, plots=False)
    shifted, smeared, untouched = (metrics["columns"][k]["distribution"] for k in "abc")
    assert shifted["flag"] and shifted["cause"] == "shape"
    assert not smeared["flag"] and not untouched["flag"]
    assert untouched["ks"] == 0 and untouched["chi2_ndf"] == 0
    assert shifted["ks"] == pytest.approx(ks_2samp(a, a + 0.2, method="asymp").statistic, abs=1e-12)
    assert smeared["ks"] == pytest.approx(ks_2samp(b, decoded["b"], method="asymp").statistic, abs=1e-12)
    assert ks_distance(a, a) == 0
    # the baseline is about what statistics give for two independent samples of 4000: ~0.87·sqrt(2/4000)
    assert 0.3 * math.sqrt(2 / 4000) < shifted["ks_split"] < 3 * math.sqrt(2 / 4000)
    assert metrics["summary"]["flagged"] == ["a"]


def test_values_pushed_over_a_hard_edge_are_counted(tmp_path: Path) -> None:
    frac = np.concatenate([np.linspace(0.1, 0.9, 500), np.ones(300)])
    decoded = frac * (1 + np.where(np.arange(frac.size) % 2 == 0, 4e-4, -4e-4))
    metrics = evaluate({"frac": frac}, {"frac": decoded}, tmp_path, bounds={"frac": "rel=1e-3"}, plots=False)
    col = metrics["columns"]["frac"]
    assert col["range"]["beyond_edge"] == int(np.count_nonzero(decoded > 1))
    assert col["distribution"]["flag"] and col["distribution"]["cause"] == "levels"


# ----------------------------------------------------------------------------- files, datasets, history


def test_nanoaod_jets_as_a_dataset(tmp_path: Path) -> None:
    original = as_dataset(NANOAOD, columns=["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"])
    jets = original.tables["Jet"].columns
    decoded_jets = {k: perturb(v, 5e-4, i) for i, (k, v) in enumerate(jets.items())}
    decoded = Dataset({"": original.main, "Jet": Table(decoded_jets)}, dict(original.counters))
    metrics = evaluate(original, decoded, tmp_path, bounds=dict.fromkeys(jets, "rel=1e-3"), plots=False)
    assert metrics["tables"]["Jet"]["counter"] == "nJet"
    assert metrics["summary"]["passed"] == 4 and not metrics["summary"]["failed"]
    (pair,) = metrics["physics"]["Jet"]["pairs"]
    counts = original.main.columns["nJet"].astype(np.int64)
    assert pair["label"] == "leading two Jet (pt,eta,phi,m)"
    assert pair["pairs"] == int(np.count_nonzero(counts >= 2))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts >= 2]
    lead, sub = [], []
    for start, n in zip(starts, counts[counts >= 2], strict=True):
        order = start + np.argsort(-jets["Jet_pt"][start : start + n], kind="stable")
        lead.append(order[0])
        sub.append(order[1])

    def dijet(cols: dict[str, np.ndarray]) -> np.ndarray:
        p = four_momentum(cols["Jet_pt"], cols["Jet_eta"], cols["Jet_phi"], cols["Jet_mass"])
        return mass_from_e_p(*(v[lead] + v[sub] for v in p))

    rel = relative(dijet(jets), dijet(decoded_jets))
    assert pair["relative_difference"]["mean"] == pytest.approx(np.mean(rel), rel=1e-6)


def test_evaluate_a_bale_file_against_its_original(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = as_table(JETS, columns=["pt", "eta", "phi", "mass"])
    source = tmp_path / "jets.parquet"
    pq.write_table(pa.table({k: v[:600] for k, v in table.columns.items()}), source)
    cfg = BaleConfig()
    cfg.model.learned = False
    packed = tmp_path / "jets.bale"
    compress(source, packed, error="rel=1e-3", config=cfg)
    one = evaluate_files(packed, out_dir=tmp_path / "a", against=source, plots=False)
    two = evaluate_files(source, packed, tmp_path / "b", plots=False)
    assert one["summary"] == two["summary"]
    assert one["summary"]["with_bound"] == 4 and one["summary"]["passed"] == 4
    assert one["columns"]["pt"]["bound"] == "rel=0.001"
    assert 0 < one["columns"]["pt"]["max_error_over_bound"] <= 1
    assert one["training"]["note"] == EMBEDDED_WITHOUT_RECORD
    assert strict_json(tmp_path / "a" / "metrics.json")["summary"]["passed"] == 4


def test_training_records_from_a_model() -> None:
    plans = [ColumnPlan("x", "float32", Bound("rel", 1e-3), {"kind": "grid"})]
    history = [
        {"epoch": 0, "train": -1.0, "val": -1.1, "lr": 3e-3},
        {"epoch": 1, "train": -1.5, "val": -1.4, "lr": 3e-3},
    ]
    trained = CompressionModel(plans, None, {"training": {"history": history, "best_epoch": 1, "epochs": 2}})
    records, note = training_records(trained)
    assert note is None and records[""]["history"] == history and records[""]["best_epoch"] == 1
    assert training_records(CompressionModel(plans))[1] == EMBEDDED_WITHOUT_RECORD
    assert "No network was trained" in str(training_records(CompressionModel(plans, None, {"schema": []}))[1])


# ----------------------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A report with every kind of figure, from 400 jets: built once for the structure and browser tests."""
    out = tmp_path_factory.mktemp("report")
    cols = as_table(JETS, columns=["pt", "eta", "phi", "mass", "n_constituents", "event"]).columns
    cols = {k: v[:400] for k, v in cols.items()}
    cols["pt"] = cols["pt"].copy()
    cols["pt"][3] = np.nan  # NaN must survive into valid JSON
    decoded = {k: perturb(v, 5e-4, i) if v.dtype.kind == "f" else v for i, (k, v) in enumerate(cols.items())}
    decoded["pt"][3] = np.nan
    history = [{"epoch": i, "train": -1 - 0.1 * i, "val": -1.05 - 0.09 * i, "lr": 3e-3} for i in range(5)]
    bounds = dict.fromkeys(["pt", "eta", "phi", "mass"], "rel=1e-3") | dict.fromkeys(
        ["n_constituents", "event"], "exact"
    )
    metrics = evaluate(cols, decoded, out, bounds=bounds, history=history, pdf=True)
    return out, metrics


@pytest.mark.slow
def test_report_structure_and_metrics_json(small_report: tuple[Path, dict]) -> None:
    out, metrics = small_report
    written = strict_json(out / "metrics.json")
    assert written["summary"] == metrics["summary"]
    assert written["columns"]["pt"]["range"]["original"][0] is not None
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.index('id="summary"') < page.index('id="physics"') < page.index('id="columns"')
    # four float columns, the correlations, mass and response of one object, one pair, the training history
    expected = 4 + 1 + 2 + 1 + 1
    assert len(metrics["figures"]) == expected
    assert page.count('<img src="data:image/png;base64,') == expected
    assert len(list((out / "plots").glob("*.png"))) == expected
    assert "n_constituents" in page and "bit-exact" in page
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "http" not in page.replace("http://www.w3.org", "")  # self-contained: nothing fetched


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (apt-get install chromium chromium-driver)")
def test_report_in_a_headless_browser(small_report: tuple[Path, dict]) -> None:
    out, metrics = small_report
    url = (out / "report.html").resolve().as_uri()
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("no chromedriver installed (apt-get install chromium-driver)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(_chromium())
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(url)
        for section in SECTIONS:
            assert driver.find_element(By.ID, section).is_displayed()
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == len(metrics["figures"])
        decoded = driver.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert all(decoded)  # every embedded PNG was decoded by the browser
        rows = driver.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
        assert len(rows) == len(metrics["columns"])
        assert "keep it" in driver.find_element(By.CSS_SELECTOR, "#summary .verdict").text
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium installed")
def test_report_dom_dump(small_report: tuple[Path, dict]) -> None:
    """The same page through plain `chromium --headless --dump-dom` (no driver needed)."""
    out, metrics = small_report
    url = (out / "report.html").resolve().as_uri()
    command = [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom
    assert dom.count("<img ") == len(metrics["figures"])


def test_figures_speak_physics(tmp_path: Path) -> None:
    """Units on axes, what a cut range leaves out, collection names, the loss in words (issue 20)."""
    from bale.evaluate.physics_plots import mass_difference_figure
    from bale.evaluate.plots import column_figure, history_figure
    from bale.evaluate.units import unit_of

    assert (unit_of("Jet_pt"), unit_of("Muon_phi"), unit_of("eta"), unit_of("n_constituents")) == ("GeV", "rad", "", "")
    rng = np.random.default_rng(1)
    x = rng.exponential(30, 5000).astype(np.float32)
    y = x * (1 + rng.uniform(-1e-3, 1e-3, x.size)).astype(np.float32)
    metrics = {
        "residual": {"mean": 0.0, "rms": 0.0, "max_abs": 0.0},
        "response": {"mean": 0.0, "rms": 0.0, "max_abs": 0.0},
    }
    fig = column_figure("Jet_pt", x, y, Bound("rel", 1e-3), metrics)
    labels = [ax.get_xlabel() for ax in fig.axes]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Jet_pt [GeV]" in labels and any("[GeV]" in label and "−" in label for label in labels)
    assert any(t.startswith("outside the axis:") for t in texts)  # an exponential's tail is beyond the central 99 %
    stats = {"mean": 0.0, "spread68": 0.0, "rms": 0.0, "n": 3, "source": "from (E, p)"}
    fig = mass_difference_figure("Muon", np.array([0.0, 1e-3, -1e-3]), stats)
    assert fig.axes[0].get_ylabel() == "Muons"
    history = {"": {"history": [{"epoch": 0, "train": 3.0, "val": 3.1}], "best_epoch": 0, "loss": "bits"}}
    assert "bits to code a row" in history_figure(history).axes[0].get_ylabel()
