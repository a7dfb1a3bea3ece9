"""Same input, same bytes: across runs, thread counts, block sizes and summation orders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import bale
from bale.config import BaleConfig
from bale.models import conditional
from bale.models.conditional import FEATURE_BITS, ConditionalNetwork


def random_network(
    seed: int = 0, columns: int = 9, latent: int = 2, hidden: int = 16, skip: bool = False, ensemble: int = 1
) -> ConditionalNetwork:
    rng = np.random.default_rng(seed)
    context = [f"c{i}" for i in range(columns)]
    targets = context[3:]
    net = ConditionalNetwork(context, ["linear"] * columns, [0.0] * columns, [1.0] * columns, targets,
                             [list(range(3 + j)) for j in range(len(targets))], latent, hidden,
                             skip=skip, ensemble=ensemble)
    j, k = len(targets) * ensemble, latent
    w1 = rng.normal(0, 0.5, (j, hidden, k + columns))
    for t, cols in enumerate(net.available):
        mask = np.zeros(columns, bool)
        mask[cols] = True
        for head in range(t * ensemble, (t + 1) * ensemble):
            w1[head][:, k:][:, ~mask] = 0.0
    net.set_float_weights({
        "head.w1": w1, "head.b1": rng.normal(0, 0.1, (j, hidden)), "head.w2": rng.normal(0, 0.3, (j, hidden, hidden)),
        "head.b2": rng.normal(0, 0.1, (j, hidden)), "head.w3": rng.normal(0, 0.3, (j, hidden)),
        "head.b3": rng.normal(0, 0.1, j), "enc.w1": rng.normal(0, 0.5, (hidden, columns)),
        "enc.b1": rng.normal(0, 0.1, hidden), "enc.w2": rng.normal(0, 2, (latent, hidden)),
        "enc.b2": rng.normal(0, 0.1, latent),
    })
    return net


def reference_predict(net: ConditionalNetwork, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """A target's prediction: its heads' mean (in head order), each head in exact integers."""
    heads = range(target * net.ensemble, (target + 1) * net.ensemble)
    total = sum(reference_head(net, head, features, latent) for head in heads)
    return total / net.ensemble if net.ensemble > 1 else total


def reference_head(net: ConditionalNetwork, target: int, features: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """The fixed-point forward pass written out with Python integers: no float rounding at all."""
    w, e = net.weights, net.exponents
    e1, e2, e3 = (e[f"head.{n}"][target] for n in ("w1", "w2", "w3"))
    out = []
    for row, lat in zip(features.astype(np.int64).tolist(), latent.tolist(), strict=True):
        inputs = [v << FEATURE_BITS for v in lat] + row
        h1 = []
        for unit in range(net.hidden):
            acc = sum(int(a) * int(b) for a, b in zip(inputs, w["head.w1"][target][unit], strict=True))
            acc += int(w["head.b1"][target][unit])
            h1.append(min(max(acc, 0) >> e1 if e1 >= 0 else max(acc, 0) << -e1, 2**22))
        h2 = []
        for unit in range(net.hidden):
            acc = sum(a * int(b) for a, b in zip(h1, w["head.w2"][target][unit], strict=True))
            acc += int(w["head.b2"][target][unit])
            h2.append(min(max(acc, 0) >> e2 if e2 >= 0 else max(acc, 0) << -e2, 2**22))
        if net.skip:  # residual connection: same scale, exact sum, clipped
            h2 = [min(a + b, 2**22) for a, b in zip(h1, h2, strict=True)]
        acc = sum(a * int(b) for a, b in zip(h2, w["head.w3"][target], strict=True)) + int(w["head.b3"][target])
        out.append(acc / 2.0 ** (conditional.HIDDEN_BITS + e3))
    return np.array(out)


def test_network_is_exact_integer_arithmetic() -> None:
    net = random_network()
    rng = np.random.default_rng(1)
    values = {name: rng.normal(0, 2, 3000) for name in net.context}
    features = net.features(values, 3000)
    results = []
    for threads in (1, 2):  # the encoder's products go through BLAS
        with threadpool_limits(threads, user_api="blas"):
            latent = net.encode(features)
            results.append(np.stack([net.predict(t, features, latent) for t in range(len(net.targets))]))
    assert results[1].tobytes() == results[0].tobytes()
    # row-major or column-major features, whole or in pieces: the same bits
    column_major = np.asfortranarray(features)
    pieces = np.stack([
        np.concatenate([net.predict(t, column_major[a:b], latent[a:b]) for a, b in ((0, 7), (7, 1000), (1000, 3000))])
        for t in range(len(net.targets))
    ])
    assert pieces.tobytes() == results[0].tobytes()
    # and it is the integer formula, evaluated without any rounding, on rows spanning kernel blocks
    rows = slice(200, 560)
    for t in range(len(net.targets)):
        np.testing.assert_array_equal(results[0][t][rows], reference_predict(net, t, features[rows], latent[rows]))


def test_same_bytes_with_any_worker_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 6000
    pt = rng.exponential(40, n).astype(np.float32) + 20
    data = {"pt": pt, "n": rng.poisson(pt / 5).astype(np.int32),
            "m": (pt * rng.uniform(0.05, 0.2, n)).astype(np.float32),
            "w": (np.log(pt) * rng.normal(1, 0.01, n)).astype(np.float32)}
    cfg = BaleConfig()
    cfg.train.epochs = 6
    cfg.model.latent_dim = 1
    cfg.compress.chunk_rows = 1000
    model = bale.train(data, config=cfg)
    files = []
    for workers in (1, 2):
        path = tmp_path / f"w{workers}.bale"
        bale.compress(data, path, model=model, config=cfg, workers=workers)
        files.append(path.read_bytes())
    assert files[0] == files[1]
    decoded = [bale.decompress(tmp_path / "w1.bale", model=model, workers=w) for w in (1, 2)]
    for name in data:
        assert decoded[0][name].tobytes() == decoded[1][name].tobytes()


@pytest.mark.parametrize(("skip", "ensemble"), [(True, 1), (False, 3), (True, 2)])
def test_skip_and_ensemble_heads_are_exact(skip: bool, ensemble: int) -> None:
    net = random_network(seed=3, skip=skip, ensemble=ensemble)
    rng = np.random.default_rng(2)
    values = {name: rng.normal(0, 2, 600) for name in net.context}
    features = net.features(values, 600)
    latent = net.encode(features)
    rows = slice(0, 300)
    for t in range(len(net.targets)):
        got = net.predict(t, features, latent)
        assert got.tobytes() == net.predict(t, np.asfortranarray(features), latent).tobytes()
        np.testing.assert_array_equal(got[rows], reference_predict(net, t, features[rows], latent[rows]))
    # the layout survives the model file, and keep_heads keeps a target's whole ensemble
    again = ConditionalNetwork.from_config(net.get_config(), net.storage())
    assert (again.skip, again.ensemble) == (skip, ensemble)
    assert again.predict(1, features, latent).tobytes() == net.predict(1, features, latent).tobytes()
    again.keep_heads([1])
    assert again.predict(0, features, latent).tobytes() == net.predict(1, features, latent).tobytes()
