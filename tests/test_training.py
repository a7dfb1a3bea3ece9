"""Training: reproducible, resumable from checkpoints, the losses and schedules, DDP on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bale
from bale.config import BaleConfig
from bale.errors import BaleInputError
from common import JETS, tiled_jets

# enough rows for the network to pay for its bytes, so that there are weights to compare
TILED = tiled_jets()


def config(**train: object) -> BaleConfig:
    cfg = BaleConfig()
    cfg.train.epochs = 4
    cfg.train.patience = 50  # no early stop: every epoch runs
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def weights(model: bale.CompressionModel) -> dict[str, bytes]:
    assert model.network is not None
    return {k: v.tobytes() for k, v in model.network.weights.items()}


def test_same_seed_same_weights_other_seed_others() -> None:
    a = bale.train(TILED, config=config())
    b = bale.train(TILED, config=config())
    c = bale.train(TILED, config=config(seed=1))
    assert weights(a) == weights(b)
    assert weights(a) != weights(c)


def test_resumed_training_ends_where_uninterrupted_training_does(tmp_path: Path) -> None:
    whole = bale.train(TILED, config=config(epochs=6))
    # "interrupted" after 3 epochs: a checkpoint at epoch 3, then resumed up to 6
    first = bale.train(TILED, config=config(epochs=3, checkpoint_dir=str(tmp_path), checkpoint_every=3))
    assert list(tmp_path.iterdir())
    resumed = bale.train(TILED, config=config(epochs=6, checkpoint_dir=str(tmp_path), checkpoint_every=3, resume=True))
    assert resumed.info["training"]["resumed_from"] == 3
    assert len(resumed.info["training"]["history"]) == len(whole.info["training"]["history"]) == 6
    assert weights(resumed) == weights(whole)
    assert weights(first) != weights(whole)


def test_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    bale.train(TILED, config=config(epochs=2, checkpoint_dir=str(tmp_path), checkpoint_every=1))
    with pytest.raises(BaleInputError, match="other data or settings"):
        bale.train(TILED, config=config(epochs=3, checkpoint_dir=str(tmp_path), resume=True, learning_rate=1e-2))


@pytest.mark.parametrize(
    ("loss", "scheduler"), [("l1", "step"), ("mse", "cosine"), ("huber", "none"), ("bits", "plateau")]
)
def test_losses_and_schedules_train_and_decode(tmp_path: Path, loss: str, scheduler: str) -> None:
    cfg = config(epochs=3, loss=loss, scheduler=scheduler, step_size=1, gamma=0.5)
    model = bale.train(TILED, error="rel=1e-3", config=cfg)
    history = model.info["training"]["history"]
    assert len(history) == 3
    if scheduler == "step":  # halved every epoch
        assert [round(h["lr"] / cfg.train.learning_rate, 6) for h in history] == [0.5, 0.25, 0.125]
    if scheduler == "none":
        assert {h["lr"] for h in history} == {cfg.train.learning_rate}
    report = bale.compress(JETS, tmp_path / "x.bale", model=model, error="rel=1e-3")
    assert report["ratio"] > 2


def test_cli_train_resume(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bale.cli import main

    out = tmp_path / "m.safetensors"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(JETS), "-o", str(out), "--resume", "--no-progress"])
    assert result.exit_code != 0 and "nothing to resume" in result.output
    result = runner.invoke(main, ["train", str(JETS), "-o", str(out), "--epochs", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not Path(str(out) + ".checkpoints").exists()  # removed once the model is written


@pytest.mark.slow
def test_ddp_on_cpu_with_two_processes(tmp_path: Path) -> None:
    """torchrun with two processes on the gloo backend: one model, written once, that decodes."""
    import socket

    data, out = tmp_path / "tiled.npz", tmp_path / "ddp.safetensors"
    np.savez(data, **TILED)
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m",
           "bale.cli", "train", str(data), "-o", str(out), "--epochs", "2", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = bale.load_model(out)
    assert model.network is not None
    assert model.info["training"]["world_size"] == 2
    report = bale.compress(TILED, tmp_path / "x.bale", model=out, error="rel=1e-3")
    table = bale.decompress(tmp_path / "x.bale", model=out)
    assert table.num_rows == len(TILED["pt"]) and report["ratio"] > 2
    json.dumps(model.info)  # the training record stays plain data
    assert np.isfinite([h["val"] for h in model.info["training"]["history"]]).all()


def test_training_sample_drawn_from_many_files(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bale.cli import main

    table = bale.api.as_table(JETS).columns
    for i in range(4):
        np.savez(tmp_path / f"part{i}.npz", **{k: v[i * 500 : (i + 1) * 500] for k, v in table.items()})
    cfg = config(epochs=1, max_rows=400)
    files = sorted(tmp_path.glob("part*.npz"))
    model = bale.train(files, config=cfg, train_fraction=0.5)
    assert model.info["sample_rows"] == 400  # 100 from each file (at most half of each)
    result = CliRunner().invoke(main, ["train", str(tmp_path / "part*.npz"), "-o", str(tmp_path / "m.safetensors"),
                                       "--max-rows", "400", "--train-fraction", "0.1", "--epochs", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert bale.load_model(tmp_path / "m.safetensors").info["sample_rows"] == 200  # 50 from each
    (tmp_path / "odd.npz").write_bytes((tmp_path / "part0.npz").read_bytes())
    np.savez(tmp_path / "odd.npz", x=np.zeros(10))
    with pytest.raises(BaleInputError, match="other columns"):
        bale.train([*files, tmp_path / "odd.npz"], config=cfg)


@pytest.mark.parametrize(
    ("family", "options"),
    [("dense", {"latent_dim": 2}), ("skip", {"condition": True}), ("sparse", {"latent_dim": 2}),
     ("ensemble", {"condition": True, "heads": 2}), ("vae", {"latent_dim": 2})],
)
def test_every_family_trains_and_codes_within_the_bound(tmp_path: Path, family: str, options: dict) -> None:
    from bale.bounds import Bound, check_bound

    cfg = config(epochs=2)
    cfg.model.family = family
    for key, value in options.items():
        setattr(cfg.model, key, value)
    model = bale.train(TILED, error="rel=1e-3", config=cfg)
    assert model.info["training"]["epochs"] == 2
    bale.save_model(model, tmp_path / "m.safetensors")
    bale.compress(TILED, tmp_path / "x.bale", model=tmp_path / "m.safetensors", error="rel=1e-3")
    back = bale.decompress(tmp_path / "x.bale", model=tmp_path / "m.safetensors").columns
    for name, values in TILED.items():
        bound = Bound("rel", 1e-3) if values.dtype.kind == "f" else Bound("exact")
        assert check_bound(values, back[name], bound) == 0, name


def test_autoencoder_families_need_a_latent(tmp_path: Path) -> None:
    from bale.config import load_config
    from bale.errors import BaleConfigError

    with pytest.raises(BaleConfigError, match="latent"):
        bale.compress(TILED, tmp_path / "x.bale", config=load_config(None, {"model.family": "dense"}))
    with pytest.raises(BaleConfigError, match="unknown; known: conditional, dense"):
        bale.train(TILED, config=load_config(None, {"model.family": "desne", "model.latent_dim": 3}))
    assert not (tmp_path / "x.bale").exists()


def test_a_family_is_one_module_and_one_registry_line() -> None:
    import importlib

    from bale.training.families import _MODULES, FAMILIES

    assert list(FAMILIES) == ["conditional", "dense", "skip", "sparse", "ensemble", "vae"]
    for module in _MODULES:
        family = importlib.import_module(f"bale.training.families.{module}").FAMILY
        assert FAMILIES[family.name] is family and family.summary and family.source


def test_normalizations() -> None:
    from bale.bounds import Bound
    from bale.models.plan import ColumnPlan
    from bale.training.fit import _network_inputs

    rng = np.random.default_rng(0)
    cols = {"pt": rng.exponential(30, 5000) + 1, "phi": rng.uniform(-np.pi, np.pi, 5000), "x": rng.normal(3, 2, 5000)}
    plans = [ColumnPlan("pt", "float64", Bound("rel", 1e-3), {"kind": "grid"}),
             ColumnPlan("phi", "float64", Bound("abs", 1e-3), {"kind": "grid"}),
             ColumnPlan("x", "float64", Bound("abs", 1e-3), {"kind": "grid"})]

    def norms(**model: object) -> dict[str, tuple[float, float]]:
        cfg = BaleConfig()
        for key, value in model.items():
            setattr(cfg.model, key, value)
        net = _network_inputs(cols, plans, cfg)
        return {n: (m, s) for n, m, s in zip(net.context, net.norm_mean, net.norm_std, strict=True)}

    auto = norms()
    assert auto["phi"] == (0.0, float(np.pi))  # an angle with an abs bound: periodic
    assert auto["x"][0] == pytest.approx(np.median(cols["x"]))
    assert norms(normalization="standard")["x"] == pytest.approx((cols["x"].mean(), cols["x"].std()))
    lo, hi = cols["x"].min(), cols["x"].max()
    assert norms(normalization="minmax")["x"] == pytest.approx(((lo + hi) / 2, (hi - lo) / 2))
    logs = np.log(cols["pt"])  # a rel bound: the column is seen as log|x|
    assert norms(normalization="standard")["pt"] == pytest.approx((logs.mean(), logs.std()))
    assert norms(normalizations={"x": "periodic"})["x"] == (0.0, float(np.pi))


@pytest.mark.slow
def test_tune_finds_settings_and_writes_a_config(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    from click.testing import CliRunner

    from bale.cli import main
    from bale.config import load_config

    data = tmp_path / "tiled.npz"
    np.savez(data, **{k: v[:12000] for k, v in TILED.items()})
    out = tmp_path / "best.toml"
    result = CliRunner().invoke(main, ["tune", str(data), "--trials", "3", "--families", "conditional,skip",
                                       "--epochs", "2", "-o", str(out), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    done = [t for t in report["trials"] if not t.get("pruned")]
    assert done and report["best_bytes"] == min(t["bytes"] for t in done)
    assert report["best_params"]["model.family"] in ("conditional", "skip")
    cfg = load_config(out)  # the best settings, as a config bale reads
    assert cfg.model.family == report["best_params"]["model.family"]
    assert cfg.train.learning_rate == pytest.approx(report["best_params"]["train.learning_rate"])


def test_a_missing_gpu_is_an_error_not_a_silent_fallback() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BaleInputError, match="no such device"):
        bale.train(TILED, config=config(epochs=1, device="cuda"))
    assert bale.train(TILED, config=config(epochs=1, device="auto")).info["training"]["epochs"] == 1


def test_tune_holds_the_declared_quantities_in_every_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bale tune -q ...` passes the quantity to each trial's compression instead of dropping it."""
    pytest.importorskip("optuna")
    from click.testing import CliRunner

    import bale.tune
    from bale.cli import main

    seen: list[object] = []

    def trial(sample: object, out: object, **kwargs: object) -> dict[str, float]:
        seen.append(kwargs.get("quantities"))
        return {"file_bytes": 1000.0, "ratio": 2.0}

    monkeypatch.setattr(bale.tune, "compress_data", trial)
    data = tmp_path / "tiled.npz"
    np.savez(data, **{k: v[:2000] for k, v in TILED.items()})
    spec = "pt(px,py):rel=1e-3"
    result = CliRunner().invoke(main, ["tune", str(data), "--trials", "2", "-q", spec, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen == [[spec], [spec]]
