"""Fixtures shared by the test files (plain helpers and the test data's paths are in ``common.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import bale
from bale.config import BaleConfig
from common import JETS


@pytest.fixture
def runner() -> CliRunner:
    """Invokes the ``bale`` command line in this process."""
    return CliRunner()


@pytest.fixture(scope="session")
def jets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``JETS`` compressed at rel=1e-3 with classical coding (no network), in 4 chunks of 500 rows."""
    cfg = BaleConfig()
    cfg.model.learned = False
    cfg.compress.chunk_rows = 500
    path = tmp_path_factory.mktemp("jets") / "jets.bale"
    bale.compress(JETS, path, error="rel=1e-3", config=cfg)
    return path
