"""Imports point one way: each layer of bale imports only the layers below it."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "bale"

# lower number = lower layer; a module may import its own top-level part and lower layers
LAYERS = {
    "_version": 0,
    "_lazy": 0,
    "errors": 0,
    "safejson": 0.5,  # JSON read from files, bounded before parsing
    "fsutil": 1,
    "stages": 1,  # stage lines on stderr (bale.stage logger): used from training up to the CLI
    "table": 1,
    "bounds": 1,
    "reports": 1,  # the typed reports of info, verify and compress (TypedDicts: imports nothing of bale)
    "frames": 1.5,  # pandas, polars and pyarrow tables in memory
    "config": 2,
    "preset_rules": 1.5,
    "presets": 2,
    "io": 2,
    "codec": 3,
    "models": 4,
    "training": 5,
    "chunks": 6,
    "container": 6,
    "grid": 6.5,  # grids (docs/grids.md): codec, files and API glue, under the table API
    "api": 7,
    "batch": 8,
    "dask": 8,  # bale.dask.from_bale: dask_awkward arrays over bale.open
    "numcodecs_codec": 8,
    "numcodecs_chunk": 7.5,  # the codec's chunks, decoded from memory
    "evaluate": 8,
    "bench": 8,
    "tune": 8,
    "cli": 9,
    "__init__": 10,
}


def _readme_rows() -> list[list[str]]:
    """The modules of each row of the README's layer table (under "How it works"), top row first."""
    text = (SRC.parents[1] / "README.md").read_text()
    table = text[text.index("| layer | folder | what it does |") :].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        folder = line.split("|")[2]
        rows.append([token.removesuffix(".py").removesuffix("/") for token in re.findall(r"`([^`]+)`", folder)])
    return rows


def test_readme_layer_table_is_the_same_truth_as_layers() -> None:
    """Every module is in exactly one row of the README's table, and the rows go down LAYERS (issue 17)."""
    rows = _readme_rows()
    listed = [m for row in rows for m in row]
    assert sorted(listed) == sorted(set(listed)), "a module is listed twice in the README's layer table"
    assert set(listed) == set(LAYERS), (
        f"README only: {set(listed) - set(LAYERS)}; LAYERS only: {set(LAYERS) - set(listed)}"
    )
    for upper, lower in itertools.pairwise(rows):
        assert max(LAYERS[m] for m in upper) < min(LAYERS[m] for m in lower), f"README rows {upper} / {lower}"
    on_disk = {_part(_name(p)) for p in _modules()}
    assert on_disk <= set(LAYERS), f"modules missing from LAYERS and the README: {on_disk - set(LAYERS)}"


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1 and parts[:-1] != ["bale"]:
        parts = parts[:-1]
    return ".".join(parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    importer = _part(_name(path))
    assert importer in LAYERS, f"{importer} has no layer: add it to LAYERS and the README's table"
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if not target.startswith("bale.") and target != "bale":
                continue
            imported = _part(target) if target != "bale" else "__init__"
            if imported == importer:
                continue
            assert LAYERS[imported] < LAYERS[importer], f"{_name(path)} imports {target}: that points up"


def test_no_pickle_anywhere() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n and n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names), path
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert isinstance(node.value, ast.Constant) and node.value.value is False, path


def test_architecture_doc_names_only_modules_that_exist() -> None:
    """docs/architecture.md shows where each change belongs: every path it names must exist."""
    root = SRC.parents[1]
    text = (root / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"((?:src|tests|docs)/[\w./]+\w/?)", text))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (root / p).exists())
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"
