"""Reading needs no torch: decompress, info, compress with a model file and export run where torch cannot be imported.

Each test runs a fresh interpreter in which a meta-path finder makes ``import torch`` (and
``torch.*``) fail as if torch were not installed, and checks there that the same bytes
come out as in this process and that torch was never imported.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import bale
from bale.config import BaleConfig
from common import DATA, JETS, tiled_jets

FROZEN_MODEL = DATA / "frozen" / "jets_model_v2.safetensors"  # a network: 8 heads, 2 latents
FROZEN_FILE = DATA / "frozen" / "jets_external_v2.bale"  # compressed with it

NO_TORCH = """
import importlib.abc
import sys


class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch imported at start-up"
sys.meta_path.insert(0, NoTorch())


def torch_imported():
    return any(m == "torch" or m.startswith("torch.") for m in sys.modules)


def digest(table):
    import hashlib

    return {n: [str(v.dtype), hashlib.sha256(v.tobytes()).hexdigest()] for n, v in table.columns.items()}


def small_table():
    import numpy as np

    rng = np.random.default_rng(0)
    pt = rng.exponential(40, 2000).astype(np.float32) + 20
    return {"pt": pt, "m": (pt * rng.uniform(0.05, 0.2, pt.size)).astype(np.float32), "n": rng.poisson(5, pt.size)}
"""


def without_torch(code: str, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    script = NO_TORCH + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def digest(table: bale.Table) -> dict[str, list[str]]:
    return {n: [str(v.dtype), hashlib.sha256(v.tobytes()).hexdigest()] for n, v in table.columns.items()}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file with an embedded network model (2 latents), compressed here, where torch trains."""
    pytest.importorskip("torch")
    tiled = tiled_jets()  # enough rows to keep a network
    cfg = BaleConfig()
    cfg.train.epochs = 3
    cfg.model.latent_dim = 2
    cfg.compress.chunk_rows = 8000
    path = tmp_path_factory.mktemp("no_torch") / "jets.bale"
    report = bale.compress(tiled, path, config=cfg)
    assert report["model"]["embedded"]
    assert "learned" in {c["predictor"] for c in report["per_column"].values()}
    return path


def test_import_bale_does_not_import_torch() -> None:
    proc = without_torch("""
        import bale, bale.cli, bale.models.onnx_export
        print(torch_imported())
    """)
    assert proc.stdout.split() == ["False"]


@pytest.mark.slow
def test_decompress_and_info_of_an_embedded_network(embedded: Path) -> None:
    proc = without_torch(
        """
        import json
        import bale
        table = bale.decompress(sys.argv[1])
        print(json.dumps({"columns": digest(table), "info": bale.info(sys.argv[1]), "torch": torch_imported()}))
        """,
        embedded,
    )
    child = last_json(proc)
    assert child["torch"] is False
    assert child["columns"] == digest(bale.decompress(embedded))
    assert child["info"] == json.loads(json.dumps(bale.info(embedded)))


@pytest.mark.slow
def test_decompress_with_an_external_network_model() -> None:
    """No training at all: runs where torch is missing too."""
    proc = without_torch(
        """
        import json
        import bale
        table = bale.decompress(sys.argv[1], model=sys.argv[2])
        report = bale.info(sys.argv[1], model=sys.argv[2])
        print(json.dumps({"columns": digest(table), "info": report, "torch": torch_imported()}))
        """,
        FROZEN_FILE,
        FROZEN_MODEL,
    )
    child = last_json(proc)
    assert child["torch"] is False
    assert child["columns"] == digest(bale.decompress(FROZEN_FILE, model=FROZEN_MODEL))
    assert child["info"] == json.loads(json.dumps(bale.info(FROZEN_FILE, model=FROZEN_MODEL)))


@pytest.mark.slow
def test_cli_decompress_and_info(embedded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    proc = without_torch(
        """
        import contextlib, io, json
        from bale.cli import main
        main(["decompress", sys.argv[1], "-o", sys.argv[2], "--no-progress"], standalone_mode=False)
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            main(["info", sys.argv[1], "--json"], standalone_mode=False)
        print(json.dumps({"info": json.loads(buffer.getvalue()), "torch": torch_imported()}))
        """,
        embedded,
        out,
    )
    child = last_json(proc)
    assert child["torch"] is False
    assert child["info"] == json.loads(json.dumps(bale.info(embedded)))
    assert digest(bale.api.as_table(out)) == digest(bale.decompress(embedded))


@pytest.mark.slow
def test_compress_with_a_model_file_and_export(tmp_path: Path) -> None:
    """Compressing with a trained model needs no torch either, and gives the same bytes."""
    ours, theirs = tmp_path / "ours.bale", tmp_path / "theirs.bale"
    bale.compress(JETS, ours, model=FROZEN_MODEL)
    code = """
        import json
        import bale
        bale.compress(sys.argv[1], sys.argv[2], model=sys.argv[3])
        exported = None
        try:
            import onnx  # noqa: F401
        except ImportError:
            pass
        else:
            from bale.models.onnx_export import export_model
            exported = [str(p) for p in export_model(bale.load_model(sys.argv[3]), sys.argv[4])]
        print(json.dumps({"torch": torch_imported(), "exported": exported}))
    """
    child = last_json(without_torch(code, JETS, theirs, FROZEN_MODEL, tmp_path / "m.onnx"))
    assert child["torch"] is False
    assert theirs.read_bytes() == ours.read_bytes()
    assert child["exported"] in (None, [str(tmp_path / "m.onnx")])


@pytest.mark.slow
def test_training_without_the_network_needs_no_torch() -> None:
    """``model.learned = false``: relations and classical predictors only, trained without torch."""
    proc = without_torch(
        """
        import json
        import bale
        from bale.config import BaleConfig
        cfg = BaleConfig()
        cfg.model.learned = False
        model = bale.train(small_table(), config=cfg)
        print(json.dumps({"network": model.network is not None, "torch": torch_imported()}))
        """
    )
    assert last_json(proc) == {"network": False, "torch": False}


@pytest.mark.slow
def test_training_the_network_without_torch_says_what_to_install(tmp_path: Path) -> None:
    proc = without_torch(
        """
        import bale
        try:
            bale.train(small_table())
        except bale.BaleInputError as exc:
            print(exc)
        """,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pip install 'bale[train]'" in proc.stdout
    cli = without_torch(
        """
        from bale.cli import main
        main(["train", sys.argv[1], "-o", sys.argv[2], "--no-progress"])
        """,
        JETS,
        tmp_path / "m.safetensors",
        check=False,
    )
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert cli.stderr.strip().count("\n") == 0 and "pip install 'bale[train]'" in cli.stderr


@pytest.mark.slow
def test_grids_decode_and_compress_with_a_conv_model_without_torch(tmp_path: Path) -> None:
    """A grid file with an embedded conv model decodes, and compresses with the model, where torch is missing."""
    frozen = DATA / "frozen" / "grid_conv_v2.bale"
    out = tmp_path / "again.bale"
    proc = without_torch(
        """
        import hashlib, json
        import numpy as np
        import bale
        from bale.container import BaleReader
        from bale.grid.api import compress_grid
        from bale.models.conv import ConvGridModel
        grids = bale.decompress(sys.argv[1])
        model = ConvGridModel.from_bytes(BaleReader(sys.argv[1]).model())
        report = compress_grid(grids, sys.argv[2], error="range=1e-2", model=model)
        again = bale.decompress(sys.argv[2], model=model)
        print(json.dumps({"sha": hashlib.sha256(grids["data"].tobytes()).hexdigest(),
                          "predictors": report["grids"]["data"]["predictors"],
                          "again": float(np.abs(again["data"] - grids["data"]).max()), "torch": torch_imported()}))
        """,
        frozen,
        out,
    )
    child = last_json(proc)
    assert child["torch"] is False
    expected = json.loads((DATA / "frozen" / "expected_grids_v2.json").read_text())["grid_conv_v2/data"]
    assert child["sha"] == expected
    assert sum(child["predictors"].values()) >= 1  # blocks coded (conv allowed, the cheapest kept)
    assert child["again"] <= 0.0066  # range=1e-2 of the frame's range (0.065)
