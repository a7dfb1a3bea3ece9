"""Thread counts, processes and long runs: the same bytes and values whatever runs them.

* A file encoded under one thread (BLAS, OpenMP, bale's chunk workers) decodes under two, and
  the other way round: the same file, the same decoded bytes, exact columns bit for bit, bounds
  held. The model is a network with random fixed-point weights and latents (no training: torch
  takes no part in coding with a model, and training pins its own thread count, train.threads).
* Several processes compressing and decompressing the same table at once write identical
  files and identical values.
* A short soak (benchmarks/soak.py): round trips of random tables, every value checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import bale
from bale.bounds import Bound, check_bound
from bale.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

TABLE = r"""
import numpy as np
def table():
    rng = np.random.default_rng(11)
    n = 1500
    base = {f"c{i}": rng.normal(0, 2, n) for i in range(9)}
    for i in range(3, 9):  # targets of the network's heads
        base[f"c{i}"] = np.tanh(base[f"c{i - 3}"]) * 3 + rng.normal(0, 0.1, n)
    return {**base, "n": rng.poisson(5, n).astype(np.int16), "flag": rng.random(n) < 0.2,
            "f32": rng.normal(0, 1, n).astype(np.float32)}
"""

CHILD = (
    TABLE
    + r"""
import hashlib, json, os, sys
import bale
from bale.config import load_config
threads, work, how = int(sys.argv[1]), sys.argv[2], sys.argv[3]
from threadpoolctl import threadpool_limits
threadpool_limits(threads)  # and OMP_NUM_THREADS etc. from the parent
def digest(t):
    return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in t.columns.items()}
out = {}
model = os.path.join(work, "m.safetensors")
if how == "threads":  # encode here with the shared model, and decode the parent's file
    path = os.path.join(work, f"enc{threads}.bale")
    bale.compress(table(), path, model=model, config=load_config(None, {"compress.chunk_rows": 700}), workers=threads)
    out["file"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    out["own"] = digest(bale.decompress(path, model=model, workers=threads))
    out["parent"] = digest(bale.decompress(os.path.join(work, "enc1.bale"), model=model, workers=threads))
else:  # a process among several: compress with the shared model, decompress, decode the shared file
    path = os.path.join(work, f"p{sys.argv[4]}.bale")
    bale.compress(table(), path, model=model, workers=threads)
    out["file"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    out["own"] = digest(bale.decompress(path, model=model, workers=threads))
    out["shared"] = digest(bale.decompress(os.path.join(work, "shared.bale"), model=model))
print(json.dumps(out))
"""
)

namespace: dict[str, object] = {}
exec(compile(TABLE, "table", "exec"), namespace)  # the same table as the children's
table = namespace["table"]


def _child(threads: int, work: Path, how: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(threads), str(work), how, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(child: subprocess.Popen[str]) -> dict[str, dict[str, str] | str]:
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _digest(t: bale.Table) -> dict[str, str]:
    return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in t.columns.items()}


def _check(data: dict[str, np.ndarray], decoded: bale.Table) -> None:
    for name, values in data.items():
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
        assert decoded[name].dtype == values.dtype
        assert check_bound(values, decoded[name], bound) == 0, name
        if bound.mode == "exact":
            assert decoded[name].tobytes() == values.tobytes(), name


def network_model(path: Path) -> None:
    """A model whose network (2 latents, heads for c3..c8) has random fixed-point weights: no training."""
    from bale.models import ColumnPlan, CompressionModel
    from test_determinism import random_network  # type: ignore[import-not-found]

    net = random_network(seed=4, columns=9, latent=2)
    data = table()  # type: ignore[operator]
    plans = [ColumnPlan(n, str(data[n].dtype), Bound("exact"), {"kind": "exact"}) for n in ("n", "flag")]
    plans += [ColumnPlan(f"c{i}", "float64", Bound("rel", 1e-3), {"kind": "grid"}) for i in range(3)]
    rel = Bound("rel", 1e-3)
    plans += [ColumnPlan(f"c{i}", "float64", rel, {"kind": "learned", "head": i - 3}) for i in range(3, 9)]
    plans += [ColumnPlan("f32", "float32", Bound("rel", 1e-3), {"kind": "delta"})]
    bale.save_model(CompressionModel(plans, net), path)


def test_decoding_does_not_depend_on_thread_counts(tmp_path: Path) -> None:
    """Encode with 1 thread here, with 2 in another process: the same file; each decodes the other's the same."""
    data = table()  # type: ignore[operator]
    model = tmp_path / "m.safetensors"
    network_model(model)
    cfg = load_config(None, {"compress.chunk_rows": 700})
    with threadpool_limits(1):  # BLAS and OpenMP; torch does not take part in coding with a model
        bale.compress(data, tmp_path / "enc1.bale", model=model, config=cfg, workers=1)
        mine = bale.decompress(tmp_path / "enc1.bale", model=model, workers=1)
    kinds = {c["predictor"] for c in bale.info(tmp_path / "enc1.bale")["per_column"].values()}
    assert kinds == {"learned", "grid", "delta", "exact"} and bale.info(tmp_path / "enc1.bale")["bytes"]["latents"] > 0
    other = _result(_child(2, tmp_path, "threads"))
    assert other["file"] == hashlib.sha256((tmp_path / "enc1.bale").read_bytes()).hexdigest()
    assert other["parent"] == _digest(mine)  # one file, decoded under 1 and 2 threads: the same bytes
    _check(data, mine)
    with threadpool_limits(1):
        theirs = bale.decompress(tmp_path / "enc2.bale", model=model, workers=1)  # encoded under 2 threads
    assert other["own"] == _digest(theirs)
    _check(data, theirs)


@pytest.mark.slow
def test_many_processes_give_identical_results(tmp_path: Path) -> None:
    data = table()  # type: ignore[operator]
    network_model(tmp_path / "m.safetensors")
    bale.compress(data, tmp_path / "shared.bale", model=tmp_path / "m.safetensors", workers=1)
    reference = bale.decompress(tmp_path / "shared.bale", model=tmp_path / "m.safetensors")
    _check(data, reference)
    children = [_child(1 + i % 2, tmp_path, "process", str(i)) for i in range(3)]  # all at once
    results = [_result(c) for c in children]
    expected = hashlib.sha256((tmp_path / "shared.bale").read_bytes()).hexdigest()
    for result in results:
        assert result["file"] == expected
        assert result["own"] == result["shared"] == _digest(reference)


def test_short_soak(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.soak import soak

    summary = soak(10, seed=3, learned_every=10, folder=tmp_path)
    assert summary["rounds"] == 10 and summary["lost"] == 0 and summary["rows"] > 0
    assert list(tmp_path.iterdir()) == []
