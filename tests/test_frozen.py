"""Files written by earlier versions of bale must keep decoding, to the same values.

The files in tests/data/frozen were written once by make_frozen.py and are never
rewritten: a change of the format, the entropy coder, the predictors or the model
serialization that breaks them fails here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import bale
from bale.bounds import Bound, check_bound

FROZEN = Path(__file__).parent / "data" / "frozen"
JETS = Path(__file__).parent / "data" / "ttbar_jets_2k.parquet"
EXPECTED = json.loads((FROZEN / "expected_v1.json").read_text())

CASES = {
    "jets_v1": (JETS, None, {}),
    "jets_external_v1": (JETS, "jets_model_v1.safetensors", {}),
    "special_v1": (FROZEN / "special_v1_original.npz", None, {"y_abs": Bound("abs", 0.05)}),
}


def _original(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    return bale.api.as_table(path).columns


@pytest.mark.parametrize("name", sorted(CASES))
def test_frozen_file_decodes(name: str) -> None:
    source, model, overrides = CASES[name]
    table = bale.decompress(FROZEN / f"{name}.bale", model=FROZEN / model if model else None)
    original = _original(source)
    expected = EXPECTED[name]
    assert sorted(table.columns) == sorted(expected)
    for column, values in table.columns.items():
        want = expected[column]
        if values.dtype.kind == "f":
            bound = overrides.get(column, Bound("rel", 1e-3))
            assert check_bound(original[column], values, bound) == 0, column
            # the same values as when frozen, up to the few ulp another machine's libm may differ by
            head = np.array(want["head"], dtype=values.dtype)
            np.testing.assert_allclose(values[:8], head, rtol=1e-6, atol=0, equal_nan=True)
        else:
            assert values.tobytes() == original[column].tobytes(), column
            assert hashlib.sha256(values.tobytes()).hexdigest() == want["sha256"], column


def test_frozen_info_is_stable() -> None:
    info = bale.info(FROZEN / "jets_v1.bale")
    assert info["format_version"] == 1
    assert info["rows"] == 2000
    assert info["file_bytes"] == (FROZEN / "jets_v1.bale").stat().st_size
