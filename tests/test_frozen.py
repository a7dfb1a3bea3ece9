"""Files written by earlier versions of bale must keep decoding, to the same values.

The files in tests/data/frozen were written once by make_frozen.py and are never
rewritten: a change of the format, the entropy coder, the predictors or the model
serialization that breaks them fails here.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import bale
from bale.bounds import Bound, check_bound
from common import FROZEN, JETS, NANOAOD

EVENT_BRANCHES = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_jetId", "Muon_pt", "Muon_charge", "MET_*", "run"]
VERSIONS = (1, 2, 3)  # every format version ever written; make_frozen.py adds the next
EXPECTED = {
    name: want
    for version in VERSIONS
    for name, want in json.loads((FROZEN / f"expected_v{version}.json").read_text()).items()
}
CASES = (
    {
        name: case
        for v in VERSIONS[:2]
        for name, case in {
            f"jets_v{v}": (JETS, None, {}),
            f"jets_external_v{v}": (JETS, f"jets_model_v{v}.safetensors", {}),
            f"special_v{v}": (FROZEN / f"special_v{v}_original.npz", None, {"y_abs": Bound("abs", 0.05)}),
        }.items()
    }
    | {"events_v2": (NANOAOD, None, {})}
    # version 3: residual contexts, only in files whose model has them (make_frozen.py)
    | {"jets_external_v3": (JETS, "jets_model_v3.safetensors", {}), "contexts_v3": (JETS, None, {"tiles": 4})}
    | {"counts_v3": (FROZEN / "counts_v3_original.npz", None, {})}
)


def _original(path: Path, tiles: int = 1) -> dict[str, np.ndarray]:
    if tiles > 1:
        return {k: np.tile(v, tiles) for k, v in _original(path).items()}
    if path.suffix == ".root":
        dataset = bale.as_dataset(path, columns=EVENT_BRANCHES)
        return {c: v for table in dataset.tables.values() for c, v in table.columns.items()}
    if path.suffix == ".npz":
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    return bale.api.as_table(path).columns


@pytest.mark.parametrize("name", sorted(CASES))
def test_frozen_file_decodes(name: str) -> None:
    source, model, overrides = CASES[name]
    data = bale.decompress(FROZEN / f"{name}.bale", model=FROZEN / model if model else None)
    tables = data.tables.values() if isinstance(data, bale.Dataset) else [data]
    decoded = {column: values for table in tables for column, values in table.columns.items()}
    original = _original(source, int(overrides.get("tiles", 1)))
    expected = EXPECTED[name]
    assert sorted(decoded) == sorted(expected)
    for column, values in decoded.items():
        want = expected[column]
        if values.dtype.kind == "f":
            bound = overrides.get(column, Bound("rel", 1e-3))
            assert isinstance(bound, Bound)
            assert check_bound(original[column], values, bound) == 0, column
            # the same values as when frozen, up to the few ulp another machine's libm may differ by
            head = np.array(want["head"], dtype=values.dtype)
            np.testing.assert_allclose(values[:8], head, rtol=1e-6, atol=0, equal_nan=True)
        else:
            assert values.tobytes() == original[column].tobytes(), column
            assert hashlib.sha256(values.tobytes()).hexdigest() == want["sha256"], column


@pytest.mark.parametrize("name", ["jets_v1", "jets_v2", "jets_external_v3"])
def test_frozen_info_is_stable(name: str) -> None:
    info = bale.info(FROZEN / f"{name}.bale")
    assert info["format_version"] == int(name[-1])
    assert info["rows"] == 2000
    assert info["file_bytes"] == (FROZEN / f"{name}.bale").stat().st_size


@pytest.mark.parametrize("name", ["contexts_v3", "counts_v3"])
def test_frozen_contexts_have_several_buckets(name: str) -> None:
    """The version 3 files code some column's residuals in more than one bucket of its context
    (``counts_v3``: an exact count in the context of another, the ``context`` kind)."""
    from bale.api.training import _open_model
    from bale.codec.varint import ByteReader
    from bale.container import BaleReader

    with BaleReader(FROZEN / f"{name}.bale") as reader:
        model = _open_model(reader, None)[0]
        sections = reader.chunk(0)
    edges = []
    for plan in model.columns:
        if plan.context and plan.predictor["kind"] == "exact":
            column = ByteReader(sections[plan.name])
            assert column.take(1)[0] == 4  # the context kind
            column.varint()  # the chunk's minimum
            assert column.varint() == len(plan.context)
            edges.append(column.varint())
        elif plan.context:
            column = ByteReader(sections[plan.name])
            column.block()  # classes
            symbols = ByteReader(column.block())
            assert symbols.varint() == len(plan.context)
            edges.append(symbols.varint())
    assert edges and max(edges) >= 1


def test_the_newest_frozen_version_is_the_one_written() -> None:
    """A new format version must come with its frozen files (make_frozen.py)."""
    from bale.codec.uint_stream import STREAM_VERSION
    from bale.container import FORMAT_VERSION

    assert max(VERSIONS) == FORMAT_VERSION == STREAM_VERSION


GRID_EXPECTED = json.loads((FROZEN / "expected_grids_v2.json").read_text())


@pytest.mark.parametrize("name", ["grid_v2", "grid_conv_v2"])
def test_frozen_grid_file_decodes(name: str) -> None:
    """Grid files (make_frozen_grids.py): the same values, bit for bit, and within the bound."""
    from bale.grid.api import decompress_grid, grid_info

    original = FROZEN / "grid_v2_original.npz" if name == "grid_v2" else FROZEN.parent / "CFD_still.npz"
    info = grid_info(FROZEN / f"{name}.bale")
    decoded = decompress_grid(FROZEN / f"{name}.bale")
    with np.load(original) as z:
        for grid, values in decoded.items():
            bound = Bound("abs", float(info["grids"][grid]["bound"].split("=")[1]))
            assert check_bound(z[grid], values, bound) == 0, grid
            # abs bounds: k·step is one IEEE multiplication, the same on every machine
            assert hashlib.sha256(values.tobytes()).hexdigest() == GRID_EXPECTED[f"{name}/{grid}"], grid


def test_v1_files_need_constriction_and_say_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runner: CliRunner
) -> None:
    """constriction is the ``v1`` extra: without it a version-1 file is a one-line error naming the extra,
    and version-2 files (all that bale writes) decode as before."""
    from bale.cli import main

    monkeypatch.setitem(sys.modules, "constriction", None)  # `import constriction` raises ImportError
    with pytest.raises(bale.BaleInputError, match=r"pip install 'bale\[v1\]'"):
        bale.decompress(FROZEN / "jets_v1.bale")
    result = runner.invoke(main, ["decompress", str(FROZEN / "jets_v1.bale"), "-o", str(tmp_path / "j.npz")])
    assert result.exit_code == 2 and "pip install 'bale[v1]'" in result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert bale.info(FROZEN / "jets_v1.bale")["format_version"] == 1  # the header needs no entropy decoder
    assert bale.decompress(FROZEN / "jets_v2.bale").num_rows == 2000


@pytest.mark.slow
def test_import_bale_does_not_import_constriction() -> None:
    code = "import sys, bale, bale.cli; bale.decompress(sys.argv[1]); print('constriction' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(FROZEN / "jets_v2.bale")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False"]


def test_frozen_quantity_file_decodes() -> None:
    """A file with declared quantities (make_frozen_quantities.py): the same values, bit for bit, every bound kept."""
    from bale.bounds import parse_quantity, violations
    from bale.models.quantities import quantity_values

    expected = json.loads((FROZEN / "expected_quantities_v2.json").read_text())
    decoded = bale.decompress(FROZEN / "jets_quantities_v2.bale").columns
    original = bale.api.as_table(FROZEN.parent / "ttbar_jets_2k.parquet").columns
    for column, values in decoded.items():
        assert hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest() == expected["sha256"][column], column
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
        assert check_bound(original[column], values, bound) == 0, column
    for text in expected["quantities"]:
        spec = parse_quantity(text)
        before = quantity_values(spec.function, [original[c] for c in spec.inputs])
        after = quantity_values(spec.function, [decoded[c] for c in spec.inputs])
        assert not violations(before, after, spec.bound).any(), text
