"""bale's ROOT output read by real CERN ROOT: PyROOT and RDataFrame, not uproot, judge the round trip.

ROOT lives in a virtual environment of its own (the ``root`` package from PyPI); this test
finds its Python in ``BALE_ROOT_PYTHON``, else ``.venv-root/bin/python`` or
``.venv-ci-root/bin/python`` at the repository root, and runs ``tests/pyroot_check.py``
with it in a subprocess. Without ROOT the tests skip, except where ``CI=true``: there a
missing ROOT fails them unless ``BALE_ALLOW_NO_ROOT=1`` (so CI cannot skip them silently).

    python3 -m venv .venv-root && .venv-root/bin/pip install root numpy
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

import bale
from bale.config import BaleConfig

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
CHECK = Path(__file__).parent / "pyroot_check.py"
ATLAS = DATA / "root" / "atlas_style.root"
REL = 1e-3
# ROOT's messages: "Error in <TFile::Init>: ...", "Warning in <TTree::...>: ...", and their kin
ROOT_NOISE = re.compile(r"^\s*(Error|Warning|Fatal|SysError|Break)\b|\b(Error|Warning) in <", re.MULTILINE)


def _candidates() -> list[str]:
    env = os.environ.get("BALE_ROOT_PYTHON")
    found = [env] if env else []
    return [*found, str(REPO / ".venv-root" / "bin" / "python"), str(REPO / ".venv-ci-root" / "bin" / "python")]


def _imports_root(python: str) -> bool:
    if not Path(python).exists():
        return False
    try:
        done = subprocess.run([python, "-c", "import ROOT; ROOT.gROOT.GetVersion()"], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def root_python() -> str:
    for python in _candidates():
        if _imports_root(python):
            return python
    reason = (
        "CERN ROOT not installed: no Python that can `import ROOT` among "
        + ", ".join(_candidates())
        + " (set BALE_ROOT_PYTHON, or: python3 -m venv .venv-root && .venv-root/bin/pip install root numpy)"
    )
    if os.environ.get("CI") == "true" and os.environ.get("BALE_ALLOW_NO_ROOT") != "1":
        pytest.fail(f"{reason}; CI=true requires ROOT (BALE_ALLOW_NO_ROOT=1 allows its absence)")
    pytest.skip(f"!!! SKIPPED: {reason}")


def run_check(python: str, original: Path, output: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """pyroot_check.py in a subprocess: exit status, its JSON summary, its stderr."""
    done = subprocess.run(
        [python, str(CHECK), str(original), str(output), "--rel", str(REL), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"pyroot_check.py gave no JSON (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.returncode, summary, done.stderr


def assert_clean(rc: int, summary: dict[str, Any], stderr: str) -> None:
    noise = [line for line in stderr.splitlines() if ROOT_NOISE.search(line)]
    assert not noise, "ROOT printed errors or warnings:\n" + "\n".join(noise[:20])
    assert summary["ok"] and rc == 0, "pyroot_check failed:\n" + "\n".join(summary["failures"][:40])


def fast_config() -> BaleConfig:
    """Classical coding only: these tests are about the ROOT file bale writes, not the model."""
    cfg = BaleConfig()
    cfg.model.learned = False
    cfg.model.relations = False
    return cfg


ROUND_TRIPS = {
    "uproot-HZZ": (DATA / "uproot-HZZ.root", ()),
    "nanoAOD-all-branches": (DATA / "nanoAOD_2015_CMS_Open_Data_ttbar.root", ()),
    # uproot writes no nested vectors: bale writes vector<vector<float>> as the values per
    # event and the inner sizes (jet_trk_pt_size), which --flattened checks (docs/root.md)
    "atlas-style": (ATLAS, ("--flattened", "jet_trk_pt")),
    "vectors-only": (DATA / "root" / "vectors_only.root", ()),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_round_trip_read_by_root(name: str, root_python: str, tmp_path: Path) -> None:
    original, extra = ROUND_TRIPS[name]
    bale.compress(original, tmp_path / "x.bale", error=f"rel={REL}", config=fast_config())
    bale.decompress(tmp_path / "x.bale", tmp_path / "x.root")
    rc, summary, stderr = run_check(root_python, original, tmp_path / "x.root", *extra)
    assert_clean(rc, summary, stderr)
    with uproot.open(original) as f:
        trees = {k for k, c in f.classnames(cycle=False).items() if c in ("TTree", "TNtuple")}
    assert set(summary["trees"]) == trees
    for tree in summary["trees"].values():
        assert tree["entries"][0] == tree["entries"][1] > 0
        assert tree["counts"].get("ok", 0) > 0


@pytest.mark.slow
def test_learned_model_round_trip_read_by_root(root_python: str, tmp_path: Path) -> None:
    """The trained network's predictions decoded: still within the bound, as ROOT sees them."""
    cfg = BaleConfig()
    cfg.train.epochs = 2
    cfg.train.max_rows = 2000
    bale.compress(ATLAS, tmp_path / "x.bale", error=f"rel={REL}", config=cfg)
    bale.decompress(tmp_path / "x.bale", tmp_path / "x.root")
    assert_clean(*run_check(root_python, ATLAS, tmp_path / "x.root", "--flattened", "jet_trk_pt"))


# -- the checker itself -----------------------------------------------------------------


def test_checker_passes_a_file_against_itself(root_python: str) -> None:
    rc, summary, stderr = run_check(root_python, ATLAS, ATLAS, "--strict-types")
    assert_clean(rc, summary, stderr)
    assert summary["trees"]["events"]["counts"] == {"ok": 26}
    assert summary["trees"]["ntuple"]["counts"] == {"ok": 3}
    objects = {n: o["status"] for n, o in summary["objects"].items()}
    assert objects == dict.fromkeys(("h_jet_pt", "info", "generator"), "ok")


def _perturbed_copy(path: Path) -> None:
    """The events tree of ATLAS rewritten by uproot with known faults (and without the rest)."""
    with uproot.open(ATLAS) as f:
        events = f["events"]
        arrays = {b.name: events[b.name].array(library="ak") for b in events.branches if b.name != "jet_trk_pt"}
    arrays["jet_pt"] = arrays["jet_pt"] * np.float32(1 + 5e-4)  # within rel=1e-3: fine
    arrays["el_pt"] = arrays["el_pt"] * (1 + 3e-3)  # outside the bound
    arrays["lep_q"] = -arrays["lep_q"]  # integers changed
    bcid = np.asarray(arrays["bcid"]).copy()
    assert bcid[0] != bcid[1]
    bcid[[0, 1]] = bcid[[1, 0]]  # two events swapped: same sum, other positions
    arrays["bcid"] = bcid
    arrays["quality"] = np.asarray(arrays["quality"]).astype(np.float32)  # an integer became a float
    with uproot.recreate(path) as out:
        columns = {k: (ak.to_numpy(v) if v.ndim == 1 or k == "w" else v) for k, v in arrays.items()}
        types = {k: v.type if isinstance(v, ak.Array) else (v.dtype, v.shape[1:]) for k, v in columns.items()}
        out.mktree("events", types)  # a TTree: uproot writes a dict assigned to a key as an RNTuple
        out["events"].extend(columns)


def test_checker_finds_every_planted_fault(root_python: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.root"
    _perturbed_copy(bad)
    rc, summary, stderr = run_check(root_python, ATLAS, bad, "--allow-missing", "ntuple", "h_jet_pt", "generator")
    assert rc == 1 and not summary["ok"]
    assert not [line for line in stderr.splitlines() if ROOT_NOISE.search(line)]
    branches = summary["trees"]["events"]["branches"]
    status = {name: b["status"] for name, b in branches.items()}
    assert status.pop("el_pt") == "mismatch" and "fsum" in branches["el_pt"]["fields"]
    assert status.pop("lep_q") == "mismatch" and "isum" in branches["lep_q"]["fields"]
    assert status.pop("bcid") == "mismatch" and set(branches["bcid"]["fields"]) == {"iwsum"}
    assert status.pop("quality") == "type-mismatch"
    assert status.pop("jet_trk_pt") == "missing"
    assert set(status.values()) == {"ok"} and "jet_pt" in status and "mu_d32" in status
    assert summary["trees"]["ntuple"]["status"] == "allowed-missing"
    assert summary["objects"]["info"]["status"] == "missing"
    assert summary["objects"]["h_jet_pt"]["status"] == "allowed-missing"
    assert len(summary["failures"]) == 6


def test_checker_reports_root_errors(root_python: str, tmp_path: Path) -> None:
    """A truncated output: ROOT complains, and the complaint alone fails the check."""
    broken = tmp_path / "truncated.root"
    shutil.copyfile(ATLAS, broken)
    with broken.open("r+b") as f:
        f.truncate(ATLAS.stat().st_size * 2 // 3)
    rc, summary, stderr = run_check(root_python, ATLAS, broken)
    assert rc == 1 and not summary["ok"]
    assert summary["root_messages"], summary["failures"]
    assert ROOT_NOISE.search(stderr)
