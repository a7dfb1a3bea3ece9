"""The decode path: the compiled passes give the encoder's values bit for bit, and decoding imports little.

- :func:`bale.codec.lossy.decode_lossy` (compiled census, dequantization and final pass around
  NumPy's ``exp``) returns exactly what :func:`bale.codec.lossy.encode_lossy` said the decoder
  would produce, for every value class, both bound modes, deltas, clipping, and each float dtype;
- the fixed-point feature pass (:func:`bale.models.kernels.standardize`) equals the NumPy passes
  it replaced, ties, infinities, NaN and signed zeros included;
- the head kernel keeps the order of its sums: with a bias so large that the sums round, it
  still equals one product per pass (the kernel before four inputs shared a pass), and a
  head's output goes into the prediction with the NumPy passes' roundings;
- ``import bale`` imports none of the API, and decompressing a table to memory imports neither
  the training code, the file readers and writers, nor their libraries.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import bale
from bale.bounds import Bound
from bale.codec.lossy import Prediction, decode_lossy, encode_lossy
from bale.models.kernels import add_head, head_forward, standardize
from common import FROZEN, same_bits


def _values(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    with np.errstate(over="ignore"):  # float16 tops out at 65504: a few values become ±inf, on purpose
        x = (rng.lognormal(2.0, 2.0, n) * rng.choice([-1.0, 1.0], n)).astype(dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(dtype).tiny / 4, np.finfo(dtype).max]
    x[rng.choice(n, 40, replace=False)] = rng.choice(np.array(specials, dtype=dtype), 40)
    payload = {4: 0x7FC00123, 8: 0x7FF8000000000ABC, 2: 0x7E01}[dtype.itemsize]
    x[5] = np.array([payload], dtype=f"u{dtype.itemsize}").view(dtype)[0]  # a NaN with a payload: kept bit for bit
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("mode", ["rel", "abs"])
@pytest.mark.parametrize("kind", ["none", "value", "signed", "delta"])
def test_decode_lossy_gives_the_encoders_values(dtype: type, mode: str, kind: str) -> None:
    # the same values on every run (hash() of strings changes with each process)
    rng = np.random.default_rng(zlib.crc32(f"{np.dtype(dtype).name}-{mode}-{kind}".encode()))
    n = 3001
    x = _values(np.dtype(dtype), n, rng)
    if kind == "delta":
        x = np.sort(rng.uniform(-50, 50, n)).astype(dtype)
    bound = Bound(mode, 1e-3 if mode == "rel" else 0.01)
    guess = np.log(np.abs(x.astype(np.float64)) + 0.3) if mode == "rel" else x.astype(np.float64) + 0.02
    guess[::97] = np.nan  # a prediction that is not finite is treated as 0
    sign = np.where(rng.random(n) < 0.1, -1, 1).astype(np.int8) * np.where(x < 0, -1, 1).astype(np.int8)
    prediction = {
        "none": Prediction(),
        "value": Prediction(value=guess),
        "signed": Prediction(value=guess, sign=sign),
        "delta": Prediction(delta=True),
    }[kind]
    payload, expected = encode_lossy(x, bound, prediction)
    got = decode_lossy(payload, n, np.dtype(dtype), bound, prediction)
    assert got.dtype == expected.dtype
    assert same_bits(got, expected)


def test_decode_lossy_clips_to_the_stored_range() -> None:
    # values near the top of their range, predicted above it: reconstructions past it are clipped
    x = np.linspace(0.9, 1.0, 500).astype(np.float32)
    prediction = Prediction(value=np.full(500, np.log(1.0009)))
    payload, expected = encode_lossy(x, Bound("rel", 1e-3), prediction)
    got = decode_lossy(payload, 500, np.dtype(np.float32), Bound("rel", 1e-3), prediction)
    assert same_bits(got, expected)
    assert got.max() <= 1.0


def test_standardize_equals_the_numpy_passes() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.normal(0, 5, 20_000), (np.arange(-9000, 9000) + 0.5) / 1024, [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308]]
    )
    for mean, std in ((0.0, 1.0), (0.3, 0.7), (-1.25, 3.3)):
        expected = x.copy()
        with np.errstate(all="ignore"):
            expected -= mean
            expected /= std
        expected[~np.isfinite(expected)] = 0.0
        np.clip(expected, -8.0, 8.0, out=expected)
        expected *= 1024.0
        np.rint(expected, out=expected)
        got = x.copy()
        standardize(got, mean, std, 8.0, 1024.0)
        assert same_bits(got, expected)


def _one_product_per_pass(args: tuple, n: int) -> np.ndarray:
    """The head in plain NumPy, one input's products added per pass, in the kernel's order."""
    features, columns, latent, w1f, w1l, b1, scale1, w2, b2, scale2, w3, clip, skip = args
    h1 = np.empty((len(b1), n))
    for u in range(len(b1)):
        acc = np.full(n, b1[u])
        for j, c in enumerate(columns):
            acc += features[c] * w1f[u, j]
        for j in range(len(latent)):
            acc += latent[j] * w1l[u, j]
        h1[u] = np.minimum(np.maximum(np.floor(acc * scale1), 0.0), clip)
    out = np.zeros(n)
    for u in range(len(b2)):
        acc = np.full(n, b2[u])
        for i in range(len(b2)):
            acc += h1[i] * w2[u, i]
        h2 = np.minimum(np.maximum(np.floor(acc * scale2), 0.0), clip)
        if skip:
            h2 = np.minimum(h2 + h1[u], clip)
        out += h2 * w3[u]
    return out


@pytest.mark.parametrize("columns", [1, 6, 13])
def test_head_kernel_keeps_the_order_of_its_sums(columns: int) -> None:
    rng = np.random.default_rng(columns)
    n, hidden, latents = 1000, 8, 3
    features = np.rint(rng.normal(0, 2000, (16, n)))
    latent = np.rint(rng.normal(0, 500, (latents, n)))
    w1f = rng.integers(-2048, 2049, (hidden, columns)).astype(np.float64)
    w1l = rng.integers(-2048, 2049, (hidden, latents)).astype(np.float64)
    b1 = np.full(hidden, 2.0**53 - 3)  # sums round here: only the same order gives the same bits
    w2 = rng.integers(-2048, 2049, (hidden, hidden)).astype(np.float64)
    b2 = rng.integers(-(2**20), 2**20, hidden).astype(np.float64)
    w3 = rng.integers(-2048, 2049, hidden).astype(np.float64)
    index = np.arange(columns, dtype=np.int64)[::-1].copy()
    args = (features, index, latent, w1f, w1l, b1, 2.0**-40, w2, b2, 2.0**-11, w3, 2.0**22, True)
    out = np.empty(n)
    head_forward(*args, out)
    assert same_bits(out, _one_product_per_pass(args, n))


@pytest.mark.parametrize("ensemble", [1, 3])
def test_add_head_equals_the_numpy_passes(ensemble: int) -> None:
    rng = np.random.default_rng(ensemble)
    n, std, mean = 5000, 0.7312345, -1.2345678
    outs = [np.rint(rng.normal(0, 2.0**30, n)) for _ in range(ensemble)]
    biases = [float(b) for b in rng.integers(-(2**20), 2**20, ensemble)]
    scales = [2.0**-21, 2.0**-17, 2.0**-25][:ensemble]
    expected = np.zeros(n)
    for out, bias, scale in zip(outs, biases, scales, strict=True):  # the passes predict() made before
        expected += np.ldexp(out + bias, int(np.log2(scale)))
    if ensemble > 1:
        expected /= ensemble
    expected = expected * std + mean
    standardized, result = np.zeros(n), np.empty(n)
    for h, (out, bias, scale) in enumerate(zip(outs, biases, scales, strict=True)):
        add_head(out, bias, scale, standardized, h == ensemble - 1, ensemble, std, mean, result)
    assert same_bits(result, expected)  # a fused multiply-add in * std + mean would differ somewhere


def test_public_names_resolve() -> None:
    for name in bale.__all__:
        assert getattr(bale, name) is not None, name
    api = importlib.import_module("bale.api")
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert set(bale.__all__) <= set(dir(bale))
    with pytest.raises(AttributeError):
        bale.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        bale.__no_such_dunder__  # noqa: B018


def test_submodules_resolve_as_attributes() -> None:
    code = textwrap.dedent("""
        import bale
        import bale.api
        assert bale.chunks.decode_chunk and bale.api.compressing.compress and bale.codec.lossy.decode_lossy
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


HEAVY = ("torch", "bale.training", "bale.api.inputs", "bale.config", "bale.grid.api", "bale.io.parquet", "bale.io.root")


def test_decoding_imports_no_training_and_no_file_formats() -> None:
    code = textwrap.dedent(f"""
        import sys
        import bale
        assert "bale.api" not in sys.modules, "import bale imported the API"
        table = bale.decompress({str(FROZEN / "jets_v2.bale")!r})
        assert table.num_rows > 0
        print(",".join(m for m in {HEAVY!r} if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_info_of_a_table_loads_no_compiled_kernels() -> None:
    """`bale info` reads a header and an index: numba (0.2 s to import, more with its extensions) is not needed."""
    code = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from bale.cli import main
        result = CliRunner().invoke(main, ["info", {str(FROZEN / "jets_v2.bale")!r}])
        assert result.exit_code == 0, result.output
        print(",".join(m for m in ("numba", "torch", "bale.grid.kernels") if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
