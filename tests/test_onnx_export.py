"""The ONNX export of the conditional network predicts what bale's own decoder does, bit for bit."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bale
from bale.config import BaleConfig
from bale.errors import BaleInputError
from bale.models import conditional
from bale.models.bundle import DatasetModel
from bale.models.conditional import FEATURE_BITS, FEATURE_CLIP, ConditionalNetwork
from bale.models.onnx_export import export_model, export_onnx, onnx_path
from common import DATA, tiled_jets

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FROZEN_MODEL = DATA / "frozen" / "jets_model_v2.safetensors"  # a network with latent_dim 2, 8 heads
FROZEN_FILE = DATA / "frozen" / "jets_external_v2.bale"
# 2k rows are too few for the network to pay for its bytes; 12 copies are enough (as in test_training.py)
TILED = tiled_jets()


def session(data: bytes, optimize: bool = True) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def run_onnx(sess: Any, net: ConditionalNetwork, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
    feeds = {"features": np.ascontiguousarray(features, np.float64)}
    if net.latent_dim:
        feeds["latent"] = np.ascontiguousarray(latent, np.float64)
    return sess.run(["predictions"], feeds)[0]


def inputs(net: ConditionalNetwork, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = len(next(iter(columns.values())))
    features = net.features(columns, n)
    latent = net.encode(features) if net.latent_dim else np.zeros((n, 0), np.int64)
    return features, latent


@pytest.fixture(scope="module", params=[0, 2], ids=["latent0", "latent2"])
def trained(request: pytest.FixtureRequest) -> bale.CompressionModel:
    pytest.importorskip("torch")
    cfg = BaleConfig()
    cfg.train.epochs = 3
    cfg.model.latent_dim = request.param
    model = bale.train(TILED, config=cfg)
    assert isinstance(model, bale.CompressionModel)
    assert model.network is not None
    assert model.network.latent_dim == request.param
    return model


def assert_same_bits(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.dtype == expected.dtype == np.float64, what
    assert np.array_equal(got, expected), f"{what}: max |diff| {np.max(np.abs(got - expected))}"
    assert got.tobytes() == expected.tobytes(), f"{what}: same values, other signs of zero"


def test_every_head_equals_predict_bit_for_bit(trained: bale.CompressionModel) -> None:
    net = trained.network
    assert net is not None
    features, latent = inputs(net, TILED)
    data = export_onnx(net)
    for optimize in (True, False):
        got = run_onnx(session(data, optimize), net, features, latent)
        assert got.shape == (len(features), len(net.targets))
        for j, target in enumerate(net.targets):
            assert_same_bits(got[:, j], net.predict(j, features, latent), f"head {j} ({target}), optimize={optimize}")


def test_a_head_reads_only_its_available_columns(trained: bale.CompressionModel) -> None:
    """As in the decoder, where the columns after a head's target are not decoded yet."""
    net = trained.network
    assert net is not None
    features, latent = inputs(net, TILED)
    sess = session(export_onnx(net))
    for j, columns in enumerate(net.available):
        partial = np.zeros_like(features)
        partial[:, columns] = features[:, columns]
        garbage = np.full_like(features, 12345.0)
        garbage[:, columns] = features[:, columns]
        expected = net.predict(j, partial, latent)
        assert_same_bits(run_onnx(sess, net, partial, latent)[:, j], expected, f"head {j}, later columns zero")
        assert_same_bits(run_onnx(sess, net, garbage, latent)[:, j], expected, f"head {j}, later columns garbage")


def random_network(seed: int, latent: int, hidden: int = 12, columns: int = 7) -> ConditionalNetwork:
    """Weights up to the fixed-point limits, a head that sees no column, biases of -0.0."""
    rng = np.random.default_rng(seed)
    context = [f"c{i}" for i in range(columns)]
    targets = context[2:]
    available = [[], *[list(range(1 + j)) for j in range(1, len(targets))]]
    net = ConditionalNetwork(context, ["log", "linear"] * 3 + ["log"], list(rng.normal(0, 2, columns)),
                             list(rng.uniform(0.1, 5, columns)), targets, available, latent, hidden)  # fmt: skip
    j, k = len(targets), latent
    w1 = rng.normal(0, 2.0, (j, hidden, k + columns))
    for t, cols in enumerate(available):
        mask = np.zeros(columns, bool)
        mask[cols] = True
        w1[t][:, k:][:, ~mask] = 0.0
    weights = {
        "head.w1": w1, "head.b1": rng.normal(0, 3, (j, hidden)), "head.w2": rng.normal(0, 1, (j, hidden, hidden)),
        "head.b2": rng.normal(0, 3, (j, hidden)), "head.w3": rng.normal(0, 1, (j, hidden)),
        "head.b3": rng.normal(0, 1, j),
    }  # fmt: skip
    if k:
        weights.update({"enc.w1": rng.normal(0, 1, (hidden, columns)), "enc.b1": rng.normal(0, 0.1, hidden),
                        "enc.w2": rng.normal(0, 3, (k, hidden)), "enc.b2": rng.normal(0, 0.1, k)})  # fmt: skip
    net.set_float_weights(weights)
    net.weights["head.b3"][0] = -0.0
    net.weights["head.b1"][1, :3] = -0.0
    return net


@pytest.mark.parametrize("latent", [0, 3])
def test_random_networks_at_the_fixed_point_limits(latent: int) -> None:
    net = random_network(seed=latent, latent=latent)
    rng = np.random.default_rng(7)
    n = 3000
    limit = FEATURE_CLIP * 2**FEATURE_BITS
    features = np.rint(rng.uniform(-limit, limit, (n, len(net.context))))
    features[:100] = rng.choice([-limit, limit, 0.0, -0.0], (100, len(net.context)))  # the clip values
    lat = rng.integers(-(2**10), 2**10 + 1, (n, latent))
    got = run_onnx(session(export_onnx(net)), net, features, lat)
    for j in range(len(net.targets)):
        assert_same_bits(got[:, j], net.predict(j, features, lat), f"head {j}")
    if latent == 0:  # head 0 sees nothing: a constant
        assert np.unique(got[:, 0]).size == 1


def test_export_is_deterministic_and_checked(tmp_path: Path) -> None:
    net = random_network(seed=1, latent=2)
    data = export_onnx(net, tmp_path / "net.onnx")
    assert (tmp_path / "net.onnx").read_bytes() == data == export_onnx(net)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    assert [i.name for i in model.graph.input] == ["features", "latent"]
    assert [o.name for o in model.graph.output] == ["predictions"]
    assert {n.op_type for n in model.graph.node} <= {"Gather", "MatMul", "Add", "Mul", "Floor", "Clip", "Concat"}
    assert all(t.data_type == onnx.TensorProto.DOUBLE for t in model.graph.initializer if "columns" not in t.name)
    no_latent = onnx.load_from_string(export_onnx(random_network(seed=1, latent=0)))
    assert [i.name for i in no_latent.graph.input] == ["features"]


def test_metadata_says_how_to_build_the_inputs(trained: bale.CompressionModel, tmp_path: Path) -> None:
    digest = bale.save_model(trained, tmp_path / "m.safetensors")
    written = export_model(bale.load_model(tmp_path / "m.safetensors"), tmp_path / "m.onnx")
    assert written == [tmp_path / "m.onnx"]
    props = {p.key: json.loads(p.value) for p in onnx.load(str(written[0])).metadata_props}
    net = trained.network
    assert net is not None
    assert props["bale_model_sha256"] == digest == trained.sha256
    assert props["bale_table"] == ""
    assert props["bale_version"] == bale.__version__
    assert props["bale_latent_dim"] == net.latent_dim
    assert props["bale_targets"] == net.targets
    assert props["bale_context"] == net.context
    assert props["bale_network"] == json.loads(json.dumps(net.get_config()))
    assert props["bale_fixed_point"] == {
        "feature_bits": FEATURE_BITS, "hidden_bits": conditional.HIDDEN_BITS, "weight_bits": conditional.WEIGHT_BITS,
        "feature_clip": FEATURE_CLIP, "hidden_clip": 2.0**22,
    }  # fmt: skip
    learned = {c.name: c.predictor["head"] for c in trained.columns if c.predictor["kind"] == "learned"}
    assert props["bale_learned_columns"] == learned
    # the features, from the metadata alone, as the docstring of the graph says
    fixed = props["bale_fixed_point"]
    mean, std = props["bale_norm_mean"], props["bale_norm_std"]
    features = np.zeros((len(TILED["pt"]), len(net.context)))
    with np.errstate(all="ignore"):
        for i, (name, transform) in enumerate(zip(props["bale_context"], props["bale_transforms"], strict=True)):
            x = TILED[name].astype(np.float64)
            x = np.log(np.abs(x)) if transform == "log" else x
            f = (x - mean[i]) / std[i]
            f[~np.isfinite(f)] = 0.0
            f = np.clip(f, -fixed["feature_clip"], fixed["feature_clip"])
            features[:, i] = np.rint(f * 2 ** fixed["feature_bits"])
    assert features.tobytes() == net.features(TILED, len(TILED["pt"])).tobytes()


def test_one_file_per_table_with_a_network(trained: bale.CompressionModel, tmp_path: Path) -> None:
    plain = bale.CompressionModel(columns=trained.columns[:1])
    dataset = DatasetModel({"": plain, "Jet": trained, "Muon": plain, "Fat Jet/x": trained})
    written = export_model(dataset, tmp_path / "events.onnx")
    assert written == [tmp_path / "events.Jet.onnx", tmp_path / "events.Fat_Jet_x.onnx"]
    assert onnx_path(tmp_path / "events.onnx", "") == tmp_path / "events.onnx"
    for path, table in zip(written, ["Jet", "Fat Jet/x"], strict=True):
        props = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
        assert props["bale_table"] == table
        assert props["bale_model_sha256"] == dataset.sha256
    with pytest.raises(BaleInputError, match="no network"):
        export_model(plain, tmp_path / "none.onnx")
    assert not (tmp_path / "none.onnx").exists()


def test_missing_onnx_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(BaleInputError, match=r"pip install 'bale\[onnx\]'"):
        export_onnx(random_network(seed=0, latent=0))
    with pytest.raises(BaleInputError, match=r"pip install 'bale\[onnx\]'"):
        export_model(bale.CompressionModel(columns=[]), tmp_path / "x.onnx")


class OnnxPredict:
    """``ConditionalNetwork.predict`` answered by onnxruntime, one session per network."""

    def __init__(self) -> None:
        self.sessions: dict[int, tuple[ConditionalNetwork, Any]] = {}
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, net: ConditionalNetwork, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
        with self.lock:
            if id(net) not in self.sessions:
                self.sessions[id(net)] = (net, session(export_onnx(net)))
            sess = self.sessions[id(net)][1]
            self.calls += 1
        return run_onnx(sess, net, features, latent)[:, target]


def decompress_both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[bale.Table, bale.Table, OnnxPredict]:
    normal = bale.decompress(path, **kwargs)
    fake = OnnxPredict()
    with monkeypatch.context() as m:
        m.setattr(ConditionalNetwork, "predict", lambda self, *a: fake(self, *a))
        via_onnx = bale.decompress(path, **kwargs)
    assert isinstance(normal, bale.Table) and isinstance(via_onnx, bale.Table)
    return normal, via_onnx, fake


def assert_same_table(a: bale.Table, b: bale.Table) -> None:
    assert list(a.columns) == list(b.columns)
    for name in a.columns:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].tobytes() == b[name].tobytes(), name


def test_decompressing_with_onnx_predictions_gives_the_same_bytes(
    trained: bale.CompressionModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = BaleConfig()
    cfg.compress.chunk_rows = 5000  # several chunks, decoded in two threads
    path = tmp_path / "jets.bale"
    bale.compress(TILED, path, model=trained, config=cfg)
    assert "learned" in {c["predictor"] for c in bale.info(path)["per_column"].values()}
    normal, via_onnx, fake = decompress_both_ways(path, monkeypatch, model=trained, workers=2)
    learned = sum(c.predictor["kind"] == "learned" for c in trained.columns)
    assert fake.calls == learned * 5  # every learned column of every chunk went through onnxruntime
    assert_same_table(normal, via_onnx)


def test_frozen_file_decodes_the_same_through_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """No training: the model of a frozen v2 file (8 heads, 2 latents), decoded with onnxruntime."""
    model = bale.load_model(FROZEN_MODEL)
    normal, via_onnx, fake = decompress_both_ways(FROZEN_FILE, monkeypatch, model=model, workers=1)
    assert fake.calls == 8
    assert_same_table(normal, via_onnx)


def test_cli_export(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bale.cli import main

    if "export" not in main.commands:
        pytest.skip("`bale export` is not in bale.cli yet")
    runner = CliRunner()
    out = tmp_path / "m.onnx"
    result = runner.invoke(main, ["export", str(FROZEN_MODEL), "-o", str(out)])
    assert result.exit_code == 0, result.output
    export_model(bale.load_model(FROZEN_MODEL), tmp_path / "ref.onnx")
    assert out.read_bytes() == (tmp_path / "ref.onnx").read_bytes()
    assert runner.invoke(main, ["export", str(FROZEN_MODEL), "-o", str(out)]).exit_code == 2  # exists: --force
    no_network = runner.invoke(main, ["export", str(DATA / "frozen" / "jets_v2.bale"), "-o", str(tmp_path / "x.onnx")])
    assert no_network.exit_code == 2 and "no network" in no_network.output
