"""The demo shows bale at work: relations and the network, not only classical coding (issue 20)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_shows_the_network_relations_and_where_the_bytes_go() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True, timeout=600, check=True
    )
    lines = result.stdout.splitlines()
    by_kind = {line.split()[0]: line for line in lines if line.startswith("  ") and "columns" in line}
    assert "learned" in by_kind and "relation" in by_kind, result.stdout
    violations = [line.split()[-2] for line in lines if line.endswith(("(rel)", "(abs)"))]
    assert len(violations) == 17 and set(violations) == {"0"}, result.stdout
