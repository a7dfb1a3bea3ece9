"""Bounds on quantities of several columns: the rebuilt jet mass, pt, on every row (issue 20, part 1)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import bale
from bale.bounds import Bound, check_bound, parse_quantity, violations
from bale.cli import main
from bale.config import BaleConfig
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError
from bale.models import CompressionModel
from bale.models.quantities import quantity_values
from common import forge

JETS = Path(__file__).parent / "data" / "ttbar_jets_2k.parquet"
MASS = "mass(energy,px,py,pz):rel=1e-3"


def jets() -> dict[str, np.ndarray]:
    table = pq.read_table(JETS)
    return {c: table[c].to_numpy() for c in table.column_names}


def fast(learned: bool = False) -> BaleConfig:
    cfg = BaleConfig()
    cfg.model.learned = learned
    cfg.train.epochs = 2
    cfg.train.max_rows = 2048
    return cfg


def rebuilt(columns: dict[str, np.ndarray], function: str, inputs: list[str]) -> np.ndarray:
    return quantity_values(function, [columns[c] for c in inputs])


def assert_columns_within(original: dict[str, np.ndarray], decoded: dict[str, np.ndarray], rel: float) -> None:
    for name, values in original.items():
        bound = Bound("rel", rel) if values.dtype.kind == "f" else Bound("exact")
        assert decoded[name].dtype == values.dtype, name
        assert check_bound(values, decoded[name], bound) == 0, name


def test_rebuilt_jet_mass_holds_on_every_jet(tmp_path: Path) -> None:
    """The tt̄ jets with a declared rebuilt-mass bound: every jet's mass from (E, px, py, pz) within rel 1e-3."""
    data = jets()
    out = tmp_path / "jets.bale"
    report = bale.compress(JETS, out, error="rel=1e-3", quantities=[MASS], config=fast(learned=True))
    assert report["quantities"]["mass(energy,px,py,pz)"]["column"] == "energy"
    assert report["quantities"]["mass(energy,px,py,pz)"]["bytes"] == report["per_column"]["energy"]["bytes"]
    decoded = bale.decompress(out).columns
    assert_columns_within(data, decoded, 1e-3)
    inputs = ["energy", "px", "py", "pz"]
    before, after = rebuilt(data, "mass_epxpypz", inputs), rebuilt(decoded, "mass_epxpypz", inputs)
    assert not violations(before, after, Bound("rel", 1e-3)).any()
    assert np.nanmax(np.abs(after - before) / np.abs(before)) <= 1e-3
    # without the quantity, the same bounds leave many jets far off: the test is not vacuous
    plain = tmp_path / "plain.bale"
    bale.compress(JETS, plain, error="rel=1e-3", config=fast(learned=True))
    loose = rebuilt(bale.decompress(plain).columns, "mass_epxpypz", inputs)
    assert violations(before, loose, Bound("rel", 1e-3)).mean() > 0.3
    # reading one component alone gives the same values as the whole decode (its patches included)
    reader = bale.open(out)
    for name in inputs:
        assert np.array_equal(reader[name].array(), decoded[name]), name


def test_pt_and_tighter_mass_in_check_mode(tmp_path: Path) -> None:
    """pt(px,py) tighter than px and py: rows where it breaks are patched; the columns keep their bounds."""
    data = jets()
    out = tmp_path / "pt.bale"
    quantities = ["pt(px,py):rel=2e-4", "mass(energy,px,py,pz):rel=5e-4"]
    report = bale.compress(data, out, error="rel=1e-3", quantities=quantities, config=fast())
    assert report["quantities"]["pt(px,py)"]["mode"] == "check"
    decoded = bale.decompress(out).columns
    assert_columns_within(data, decoded, 1e-3)
    for text in quantities:
        spec = parse_quantity(text)
        inputs = list(spec.inputs)
        before, after = rebuilt(data, spec.function, inputs), rebuilt(decoded, spec.function, inputs)
        assert not violations(before, after, spec.bound).any(), text


def test_mass_of_pt_eta_phi_m_is_a_bound_on_m(tmp_path: Path) -> None:
    data = jets()
    out = tmp_path / "m.bale"
    report = bale.compress(data, out, error="rel=1e-3", quantities=["mass(pt,eta,phi,mass):rel=1e-4"], config=fast())
    assert report["per_column"]["mass"]["bound"] == "rel=0.0001"  # tightened to the quantity's bound
    decoded = bale.decompress(out).columns
    assert check_bound(data["mass"], decoded["mass"], Bound("rel", 1e-4)) == 0


def test_special_values_and_abs_bound() -> None:
    """NaN, zero-mass and spacelike rows, an abs bound: the section codes and decodes them exactly as checked."""
    from bale.chunks import decode_chunk, encode_chunk
    from bale.training import fit_model

    rng = np.random.default_rng(3)
    n = 3000
    p = rng.normal(0, 50, (n, 3)).astype(np.float32)
    m = rng.exponential(5, n).astype(np.float32)
    e = np.sqrt(m.astype(np.float64) ** 2 + (p.astype(np.float64) ** 2).sum(1)).astype(np.float32)
    e[:5] = np.nan
    e[5:10] = np.sqrt((p[5:10].astype(np.float64) ** 2).sum(1)).astype(np.float32)  # massless, maybe spacelike
    e[10:15] = -e[10:15]
    columns = {"E": e, "px": p[:, 0], "py": p[:, 1], "pz": p[:, 2]}
    bounds = {k: Bound("rel", 1e-3) for k in columns}
    for spec in ("mass(E,px,py,pz):abs=0.01", "mass(E,px,py,pz):rel=1e-3"):
        q = parse_quantity(spec)
        from bale.table import Table

        model = fit_model(Table(columns), bounds, fast(), progress=False, quantities=[q])
        model = CompressionModel.from_bytes(model.to_bytes())
        decoded = decode_chunk(encode_chunk(columns, model), n, model)
        for name, values in columns.items():
            assert check_bound(values, decoded[name], bounds[name]) == 0, name
        before, after = rebuilt(columns, q.function, list(q.inputs)), rebuilt(decoded, q.function, list(q.inputs))
        assert not violations(before, after, q.bound).any(), spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("massive(energy,px,py,pz):rel=1e-3", "unknown function 'massive'"),
        ("mass(energy,px,py):rel=1e-3", "mass takes 4 column names, got 3"),
        ("pt(px,py)", "no bound"),
        ("pt(px,py):exact", "rel=X or abs=X"),
        ("pt px py", "expected FUNCTION(COLUMN,...):BOUND"),
        ("pt(px,px):rel=1e-3", "named twice"),
    ],
)
def test_bad_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(BaleConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_quantity(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("pt(px,nope):rel=1e-3", "no column 'nope'"), ("pt(px,n_charged):rel=1e-3", "not a float column")],
)
def test_specs_checked_against_the_table_before_training(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(BaleInputError, match=message):
        bale.compress(JETS, tmp_path / "x.bale", quantities=[spec], config=fast())
    result = CliRunner().invoke(main, ["compress", str(JETS), "-o", str(tmp_path / "y.bale"), "-q", spec])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_cli_config_info_and_evaluate(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "bale.toml"
    config.write_text('[compress]\nquantities = ["mass(energy,px,py,pz):rel=1e-3"]\n[model]\nlearned = false\n')
    out = tmp_path / "jets.bale"
    result = runner.invoke(main, ["compress", str(JETS), "-o", str(out), "-c", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "quantity mass(energy,px,py,pz) rel=0.001: in the section of energy" in result.output
    info = json.loads(runner.invoke(main, ["info", str(out), "--json"]).output)
    assert info["quantities"]["mass(energy,px,py,pz)"]["bytes"] > 0
    report = tmp_path / "report"
    command = ["evaluate", str(out), "--against", str(JETS), "-o", str(report), "--no-plots", "--no-progress"]
    result = runner.invoke(main, [*command, "-q", "pt(px,py):rel=1e-3"])
    assert result.exit_code == 0, result.output
    assert "quantity mass(energy,px,py,pz) rel=0.001: 0 violation(s) in 2,000 rows" in result.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["quantities"]) == {"mass(energy,px,py,pz)", "pt(px,py)"}
    assert metrics["summary"]["quantities_failed"] == []
    # a plain decompression judged for the rebuilt mass fails it, with status 1
    plain, plain_config = tmp_path / "plain.bale", tmp_path / "plain.toml"
    plain_config.write_text("[model]\nlearned = false\n")
    result = runner.invoke(main, ["compress", str(JETS), "-o", str(plain), "-c", str(plain_config), "--no-progress"])
    assert result.exit_code == 0, result.output
    command = ["evaluate", str(plain), "--against", str(JETS), "-o", str(tmp_path / "r2"), "--no-plots"]
    result = runner.invoke(main, [*command, "--no-progress", "-q", MASS])
    assert result.exit_code == 1, result.output
    assert "quantities break their bound" in result.output


def test_external_model_carries_its_quantities(tmp_path: Path) -> None:
    model = bale.train(JETS, quantities=[MASS], config=fast())
    path = tmp_path / "m.safetensors"
    bale.save_model(model, path)
    loaded = bale.load_model(path)
    assert isinstance(loaded, CompressionModel) and loaded.quantities[0].derived == "energy"
    out = tmp_path / "ext.bale"
    bale.compress(JETS, out, model=path, quantities=["mass(energy,px,py,pz):rel=2e-3"])
    data, decoded = jets(), bale.decompress(out, model=path).columns
    inputs = ["energy", "px", "py", "pz"]
    before, after = rebuilt(data, "mass_epxpypz", inputs), rebuilt(decoded, "mass_epxpypz", inputs)
    assert not violations(before, after, Bound("rel", 2e-3)).any()
    assert violations(before, after, Bound("rel", 1e-3)).any()  # coded with the file's bound, not the model's
    with pytest.raises(BaleInputError, match="trained without it"):
        bale.compress(JETS, tmp_path / "x.bale", model=path, quantities=["pt(px,py):rel=1e-3"])


def test_forged_quantity_plans_are_refused() -> None:
    model = bale.train(JETS, quantities=[MASS], config=fast())
    meta = model.metadata()
    for edit in (
        lambda m: m["quantities"][0].update(inputs=["energy", "px", "py", "nope"]),
        lambda m: m["quantities"][0].update(derived="px"),
        lambda m: m["quantities"][0].update(function="massive"),
        lambda m: m["quantities"][0]["predictor"].update(kind="exact"),
        lambda m: m["quantities"].clear(),
        lambda m: m["quantities"][0].update(mode="value", function="pt", inputs=["px", "py"]),
    ):
        forged = json.loads(json.dumps(meta))
        edit(forged)
        with pytest.raises(BaleFormatError):
            CompressionModel.from_parts(forged, model.tensors())


HZZ = Path(__file__).parent / "data" / "uproot-HZZ.root"
HZZ_COLUMNS = ["Jet_*", "Muon_*", "NJet", "NMuon"]


def test_pair_mass_of_a_collection_holds_on_every_event(tmp_path: Path) -> None:
    """The dimuon and dijet mass of the leading two objects of each event, in a jagged ROOT tree."""
    from bale.api import as_dataset
    from bale.models.quantities import pair_starts

    specs = ["pairmass(Muon_E,Muon_Px,Muon_Py,Muon_Pz):rel=1e-3", "pairmass(Jet_E,Jet_Px,Jet_Py,Jet_Pz):rel=1e-3"]
    out = tmp_path / "hzz.bale"
    report = bale.compress(HZZ, out, tree="events", columns=HZZ_COLUMNS, error="rel=1e-3", quantities=specs,
                           config=fast())  # fmt: skip
    assert set(report["quantities"]) == {s.split(":")[0] for s in specs}
    original = as_dataset(HZZ, tree="events", columns=HZZ_COLUMNS)
    decoded = bale.decompress(out)
    for text in specs:
        spec = parse_quantity(text)
        table = spec.inputs[0].split("_")[0]
        starts = pair_starts(original.main.columns[original.counters[table]], original.tables[table].num_rows)
        assert len(starts) > 100
        before = quantity_values(spec.function, [original.tables[table].columns[c] for c in spec.inputs], starts)
        after = quantity_values(spec.function, [decoded.tables[table].columns[c] for c in spec.inputs], starts)
        assert not violations(before, after, spec.bound).any(), text
        for c in spec.inputs:  # every column within its own bound too
            x, y = original.tables[table].columns[c], decoded.tables[table].columns[c]
            assert check_bound(x, y, Bound("rel", 1e-3)) == 0, c
    # the jet pairs do break without the bound (the test is not vacuous), and evaluate says so
    plain = tmp_path / "plain.bale"
    bale.compress(HZZ, plain, tree="events", columns=HZZ_COLUMNS, error="rel=1e-3", config=fast())
    from bale.evaluate import evaluate

    loose = evaluate(original, bale.decompress(plain), tmp_path / "r", plots=False, quantities=specs)
    assert "pairmass(Jet_E,Jet_Px,Jet_Py,Jet_Pz)" in loose["summary"]["quantities_failed"]
    tight = evaluate(original, decoded, tmp_path / "r2", plots=False, quantities=specs)
    assert tight["summary"]["quantities_failed"] == [] and tight["summary"]["quantities"] == 2
    assert tight["quantities"]["pairmass(Muon_E,Muon_Px,Muon_Py,Muon_Pz)"]["rows"] == 1413  # pairs, not muons


def test_pair_mass_needs_a_collection(tmp_path: Path) -> None:
    with pytest.raises(BaleInputError, match="a pair mass is of a collection's objects"):
        bale.compress(JETS, tmp_path / "x.bale", quantities=["pairmass(energy,px,py,pz):rel=1e-3"], config=fast())


def test_damaged_quantity_sections_fail_cleanly() -> None:
    """A damaged quantity section (bytes flipped, cut, grown) is a BaleFormatError or decodes: nothing else."""
    from bale.chunks import decode_chunk, encode_chunk
    from bale.table import Table
    from bale.training import fit_model

    data = {k: v[:600] for k, v in jets().items()}
    bounds = {k: Bound("rel", 1e-3) if v.dtype.kind == "f" else Bound("exact") for k, v in data.items()}
    quantities = [parse_quantity(MASS), parse_quantity("pt(px,py):rel=1e-4")]
    model = fit_model(Table(data), bounds, fast(), progress=False, quantities=quantities)
    sections = encode_chunk(data, model)
    rng = np.random.default_rng(0)
    for name in ("energy", "py"):
        good = sections[name]
        for trial in range(150):
            damaged = bytearray(good)
            if trial % 3 == 0:
                damaged = damaged[: rng.integers(0, len(damaged))]
            elif trial % 3 == 1:
                damaged += bytes(rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8))
            else:
                for _ in range(rng.integers(1, 4)):
                    damaged[rng.integers(0, len(damaged))] ^= 1 << int(rng.integers(0, 8))
            with contextlib.suppress(BaleFormatError):
                decode_chunk({**sections, name: bytes(damaged)}, 600, model)


FROZEN_QUANTITIES = Path(__file__).parent / "data" / "frozen" / "jets_quantities_v2.bale"


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h["tables"][0].pop("quantities"),
        lambda h: h["tables"][0]["quantities"].pop(),
        lambda h: h["tables"][0]["quantities"][0].update(bound="abs=0.01"),
        lambda h: h["tables"][0]["quantities"][0].update(bound="rel=nope"),
        lambda h: h["tables"][0]["quantities"][0].update(quantity="pt(py,px)"),
        lambda h: h["tables"][0].update(quantities="mass"),
    ],
)
def test_forged_quantity_headers_are_refused(tmp_path: Path, edit: object) -> None:
    path = tmp_path / "forged.bale"
    path.write_bytes(forge(FROZEN_QUANTITIES.read_bytes(), header=edit))  # type: ignore[arg-type]
    with pytest.raises(BaleFormatError):
        bale.decompress(path)
