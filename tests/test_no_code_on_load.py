"""Nothing bale reads can run code: pickles (plain, in a torch.save file, in a .bale) are refused.

Each payload, if unpickled, would create a marker directory; the tests check the clear error
and that the marker never appears. Configs are TOML data; the source never unpickles.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zstandard
from click.testing import CliRunner

import bale
from bale.cli import main
from bale.config import load_config
from bale.errors import BaleConfigError, BaleFormatError, BaleInputError
from common import FROZEN

SRC = Path(__file__).resolve().parents[1] / "src" / "bale"
FAST = load_config(None, {"model.learned": False})


class Payload:
    """Unpickling this calls ``os.mkdir(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def pickles(marker: Path) -> dict[str, bytes]:
    plain = pickle.dumps(Payload(marker))
    buffer = io.BytesIO()  # the layout of a torch.save file: a zip holding data.pkl
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("archive/data.pkl", plain)
        z.writestr("archive/version", "3\n")
    return {"pickle": plain, "torch_zip": buffer.getvalue(), "protocol0": pickle.dumps(Payload(marker), protocol=0)}


def test_torch_save_file_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3), "payload": Payload(marker)}, path)
    with pytest.raises(BaleFormatError, match="not a valid bale model"):
        bale.load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch_zip", "protocol0"])
@pytest.mark.parametrize("suffix", [".pkl", ".pt", ".safetensors"])
def test_pickled_model_file_is_refused(tmp_path: Path, kind: str, suffix: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickles(marker)[kind])
    with pytest.raises(BaleFormatError):
        bale.load_model(path)
    data = {"x": np.linspace(0, 1, 50)}
    with pytest.raises(BaleFormatError):
        bale.compress(data, tmp_path / "o.bale", model=path)
    assert not (tmp_path / "o.bale").exists()
    result = CliRunner().invoke(main, ["decompress", str(FROZEN / "jets_external_v2.bale"), "-m", str(path),
                                       "-o", str(tmp_path / "o.parquet")])  # fmt: skip
    assert result.exit_code == 2 and result.output.startswith("bale: error:")
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch_zip"])
def test_pickle_in_the_model_section_is_refused(tmp_path: Path, kind: str) -> None:
    """A .bale whose embedded model is a pickle, every CRC and the SHA-256 forged to match."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import fuzz_container as fz

    marker = tmp_path / "ran"
    payload = pickles(marker)[kind]
    seed = fz.parse_seed("jets", (FROZEN / "jets_v2.bale").read_bytes(), None)
    header = dict(seed.header, model={**seed.header["model"], "sha256": hashlib.sha256(payload).hexdigest()})
    path = tmp_path / "p.bale"
    path.write_bytes(fz.build(seed, header=header, model=payload))
    for run in (bale.decompress, bale.api.verify):
        with pytest.raises(BaleFormatError, match="not a valid bale model"):
            run(path)
    frame = zstandard.ZstdCompressor().compress(payload)  # and as a raw frame, no safetensors around it
    path.write_bytes(fz.build(seed, header=header, model_frame=frame))
    with pytest.raises(BaleFormatError):
        bale.decompress(path)
    assert not marker.exists()


def test_object_arrays_in_npz_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    np.savez(tmp_path / "o.npz", x=np.arange(3.0), o=np.array([Payload(marker)], dtype=object))
    with pytest.raises(BaleInputError, match=r"cannot read|pickle|object"):
        bale.compress(tmp_path / "o.npz", tmp_path / "o.bale", config=FAST)
    assert not marker.exists() and not (tmp_path / "o.bale").exists()


def test_config_is_toml_data_not_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.toml"
    path.write_text("__import__('os').mkdir('ran')\n")
    with pytest.raises(BaleConfigError):
        load_config(path)
    path.write_text('[compress]\nerror = "__import__(\'os\').mkdir(\'ran\')"\n')
    with pytest.raises(BaleConfigError):
        load_config(path)
    assert not (tmp_path / "ran").exists() and not Path("ran").exists()


def test_the_source_never_unpickles_or_evaluates() -> None:
    """No pickle, torch.load, eval or exec anywhere in bale; NumPy loads with allow_pickle=False."""
    banned = re.compile(
        r"\bpickle\b|torch\.load\(|(?<![.\w])eval\(|(?<![.\w])exec\(|allow_pickle=True|marshal|shelve|dill"
    )
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if banned.search(code) and "no pickle" not in line.lower():
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
            if "np.load(" in code and "allow_pickle=False" not in code:
                found.append(f"{path.relative_to(SRC)}:{number}: np.load without allow_pickle=False")
    assert not found, "\n".join(found)
