"""One sampler of training rows across files: ``bale train`` on many files and ``bale.batch.sample_rows``."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import bale
from bale.api.training import _sample_files
from bale.batch import sample_rows
from bale.config import BaleConfig
from bale.errors import BaleInputError
from bale.io import write_table
from bale.training.sampling import draw_events, sample_files, sample_row_blocks

SRC = Path(__file__).resolve().parents[1] / "src" / "bale"


def _files(tmp_path: Path, sizes: list[int]) -> list[Path]:
    rng = np.random.default_rng(11)
    paths = []
    for i, n in enumerate(sizes):
        path = tmp_path / f"part{i}.npz"
        columns = {"x": rng.normal(size=n).astype(np.float32), "k": np.arange(n, dtype=np.int32) + 1000 * i}
        write_table(bale.Table(columns), path)
        paths.append(path)
    return paths


@pytest.mark.parametrize(("sizes", "fraction"), [([10, 400, 400], None), ([400, 25, 400, 300], 0.5), ([300], 0.2)])
def test_train_and_batch_draw_the_same_rows(tmp_path: Path, sizes: list[int], fraction: float | None) -> None:
    """``bale train`` on many files learns from exactly the rows ``bale.batch.sample_rows`` gives (same seed)."""
    paths = _files(tmp_path, sizes)
    cfg = BaleConfig()
    cfg.train.max_rows = 300
    cfg.train.seed = 5
    trained, exact = _sample_files(paths, cfg, None, None, False, fraction)
    batch = sample_rows(paths, max_rows=300, seed=5, train_fraction=fraction)
    assert exact == []
    assert isinstance(batch, bale.Table)
    assert trained.main.names == batch.names == ["x", "k"]
    for name in batch.names:
        np.testing.assert_array_equal(trained.main[name], batch[name])
    # a small file leaves the rest of its share to the files after it
    expected = min(300, sum(n if fraction is None else round(fraction * n) for n in sizes))
    assert batch.num_rows == expected


def test_sample_files_shares_and_checks(tmp_path: Path) -> None:
    paths = _files(tmp_path, [50, 50, 50])

    def read(path: Path, rows: int) -> bale.Dataset:
        return bale.api.as_dataset(path)

    sample = sample_files(paths, read, max_rows=90, seed=1)
    assert np.bincount(sample.main["k"] // 1000).tolist() == [30, 30, 30]  # an equal share from each file
    assert (np.diff(sample.main["k"]) > 0).all()  # rows kept in file order
    with pytest.raises(BaleInputError, match="max_rows"):
        sample_files(paths, read, max_rows=0)
    with pytest.raises(BaleInputError, match="train_fraction"):
        sample_files(paths, read, max_rows=10, train_fraction=0.0)
    with pytest.raises(BaleInputError, match="no input files"):
        sample_files([], read, max_rows=10)
    one = bale.api.as_dataset(paths[0])
    assert draw_events(one, 0.001, np.random.default_rng(0)).num_events == 1  # at least one row


def test_row_blocks_within_a_table() -> None:
    rows = sample_row_blocks(10_000, 2048, seed=0)
    assert len(rows) == 2048 and (np.diff(rows) > 0).all()
    assert len(np.unique(rows // 1024)) == 2  # two whole blocks of 1024 rows
    np.testing.assert_array_equal(sample_row_blocks(100, 2048, seed=0), np.arange(100))


def test_no_two_samplers_share_a_name() -> None:
    """Functions about sampling are defined once in src/bale: one name, one meaning (issue 17)."""
    names: Counter[str] = Counter()
    for path in SRC.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and "sampl" in node.name:
                names[node.name] += 1
    assert names["sample_rows"] == 1
    assert not [name for name, count in names.items() if count > 1]
