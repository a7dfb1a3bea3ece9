"""The development tools have one set of pins: requirements-dev.txt (what CI installs) and pyproject.toml's
dependency groups (``pip install --group dev``) name the same versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        requirement = line.split("#")[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert version, f"not pinned: {requirement!r}"
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def _group(groups: dict[str, list[object]], name: str) -> list[str]:
    out: list[str] = []
    for item in groups[name]:
        out += _group(groups, item["include-group"]) if isinstance(item, dict) else [str(item)]
    return out


def test_requirements_dev_and_the_dev_group_pin_the_same_versions() -> None:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    requirements = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert _pins(_group(groups, "dev")) == _pins(requirements)
