"""Export the heads of a :class:`~bale.models.conditional.ConditionalNetwork` to ONNX.

The graph computes, for every head ``j`` of the network, exactly what
:meth:`ConditionalNetwork.predict` returns: the prediction of target ``j`` in its bound's
domain (``log|x|`` or ``x``), after the final ``standardized * std + mean``.

- input ``features``: float64 ``[N, len(context)]``, the fixed-point features that
  :meth:`ConditionalNetwork.features` builds (integers: standardized values clipped to
  ±``FEATURE_CLIP`` times ``2**FEATURE_BITS``, rounded); head ``j`` reads only the columns
  ``available[j]``, so the columns decoded after its target may hold anything;
- input ``latent``: float64 ``[N, latent_dim]``, the integer latent codes of
  :meth:`ConditionalNetwork.encode` (or as stored in a ``.bale`` file); absent when
  ``latent_dim == 0``;
- output ``predictions``: float64 ``[N, len(targets)]``.

The feature transform (``log|x|``, standardization) stays outside the graph: it is the one
step with a transcendental function, whose last ulp depends on the maths library, and
bale's codec tolerates that (see ``docs/codec.md``). The transform, the normalization and
the fixed-point layout travel in the model's ``metadata_props`` (``bale_*`` keys), so the
file alone says how to build its inputs. The encoder is not exported: decoding reads the
latents from the file.

**Exactness.** Every tensor before the last two nodes holds integers, or integers times a
power of two, far below 2**53 in float64: integer weights (``|w| <= 2**WEIGHT_BITS``),
integer biases, fixed-point features and latents, hidden activations floored and clipped to
``2**22``. Products and sums of such numbers are exact in float64, whatever order,
blocking, threading or fused multiply-add onnxruntime's MatMul uses; scaling by a power of
two (``Mul``) is exact; ``Floor`` and ``Clip`` are exact. So each head's integer output is
the same number in ONNX as in bale's compiled kernel. The last two nodes are one ``Mul``
(by ``std``) and one ``Add`` (of ``mean``): the same two correctly rounded IEEE operations
NumPy performs in ``standardized * std + mean``, so the predictions are equal bit for bit
(tested in ``tests/test_onnx_export.py``). Biases are exported as ``b + 0.0`` so that a
head whose sum is exactly zero gives ``+0.0`` in both, whatever the sign of zero a MatMul
kernel returns.

Operators (opset 17): Gather, MatMul, Add, Mul, Floor, Clip, Concat; onnxruntime's CPU
provider runs each of them on ``tensor(double)`` (Clip has a double kernel from opset 12
on, hence opset 17; Floor from opset 6). ``onnx`` is imported only when exporting:
``pip install 'bale[onnx]'``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bale._version import __version__
from bale.errors import BaleInputError
from bale.fsutil import atomic_target
from bale.models import conditional
from bale.models.bundle import DatasetModel
from bale.models.conditional import FEATURE_BITS, FEATURE_CLIP, HIDDEN_BITS, WEIGHT_BITS, ConditionalNetwork
from bale.models.plan import KIND_LEARNED, CompressionModel

__all__ = [
    "IR_VERSION",
    "ONNX_FORMAT_VERSION",
    "OPSET",
    "export_model",
    "export_onnx",
    "network_metadata",
    "onnx_path",
]

OPSET = 17  # Clip on double needs opset >= 12 in onnxruntime's CPU provider
IR_VERSION = 8  # the IR of opset 17, not onnx's newest, so that older onnxruntime releases read it too
ONNX_FORMAT_VERSION = 1  # of the graph's inputs, outputs and bale_* metadata


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError:
        raise BaleInputError("exporting to ONNX needs the onnx package: pip install 'bale[onnx]'") from None
    return onnx


class _Builder:
    """Nodes and initializers of one graph, with generated names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self._name(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self._name(stem or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=f"{out}_node", **attrs))
        return out

    def requantize(self, acc: str, scale: float, stem: str) -> str:
        """``min(max(floor(acc * scale), 0), clip)``, as the kernel's ``_requantize``."""
        scaled = self.op("Mul", [acc, self.const(f"{stem}_scale", np.array(scale, np.float64))])
        floored = self.op("Floor", [scaled])
        low = self.const(f"{stem}_min", np.array(0.0, np.float64))
        high = self.const(f"{stem}_max", np.array(conditional._HIDDEN_CLIP, np.float64))
        return self.op("Clip", [floored, low, high], stem=stem)


def _positive_zero(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float64) + 0.0  # -0.0 + 0.0 == +0.0; every other value unchanged


def _js(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def network_metadata(network: ConditionalNetwork) -> dict[str, str]:
    """The ``bale_*`` metadata of an exported network: how to build its inputs, what it predicts.

    Every value is JSON (strings quoted), so ``{k: json.loads(v)}`` reads them all.
    """
    js = _js
    return {
        "bale_onnx_format": js(ONNX_FORMAT_VERSION),
        "bale_version": js(__version__),
        "bale_targets": js(network.targets),
        "bale_context": js(network.context),
        "bale_available": js(network.available),
        "bale_transforms": js(network.transforms),
        "bale_norm_mean": js(network.norm_mean),  # JSON floats round-trip exactly
        "bale_norm_std": js(network.norm_std),
        "bale_latent_dim": js(network.latent_dim),
        "bale_hidden": js(network.hidden),
        "bale_fixed_point": js(
            {
                "feature_bits": FEATURE_BITS,
                "hidden_bits": HIDDEN_BITS,
                "weight_bits": WEIGHT_BITS,
                "feature_clip": FEATURE_CLIP,
                "hidden_clip": conditional._HIDDEN_CLIP,
            }
        ),
        "bale_network": js(network.get_config()),
    }


_DOC = (
    "bale conditional network heads. features[N, C]: fixed-point features, per context column i "
    f"f = rint(clip((T_i(x) - mean_i) / std_i, -{FEATURE_CLIP}, {FEATURE_CLIP}) * 2**{FEATURE_BITS}), "
    "T_i = log|x| or x (bale_transforms), non-finite -> 0, columns not decoded yet -> 0. "
    "latent[N, K]: integer latent codes. "
    "predictions[N, J]: head j's prediction of bale_targets[j] in its bound's domain (log|x| for rel bounds)."
)


def export_onnx(
    network: ConditionalNetwork,
    path: str | os.PathLike[str] | None = None,
    *,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The ONNX model of ``network``'s heads, as bytes; also written (atomically) to ``path`` when given.

    ``metadata`` adds string entries to the model's ``metadata_props`` (after the ``bale_*``
    entries of :func:`network_metadata`, whose values are JSON).
    """
    onnx = _import_onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    network.validate()
    n_heads, n_context, k, hidden = len(network.targets), len(network.context), network.latent_dim, network.hidden
    if n_heads == 0:
        raise BaleInputError("the network has no heads to export")
    if network.skip or network.ensemble != 1:
        raise BaleInputError(
            f"ONNX export covers the conditional and dense heads; this network was trained as {network.family!r} "
            "(skip connections or an ensemble), which is not exported yet"
        )
    w, e = network.weights, network.exponents
    g = _Builder(onnx)
    inputs = [helper.make_tensor_value_info("features", tp.DOUBLE, ["N", n_context])]
    latent_fixed = None
    if k:
        inputs.append(helper.make_tensor_value_info("latent", tp.DOUBLE, ["N", k]))
        latent_scale = g.const("latent_scale", np.array(2.0**FEATURE_BITS))
        latent_fixed = g.op("Mul", ["latent", latent_scale], stem="latent_fixed")  # exact: a power of two
    heads = []
    for j in range(n_heads):
        w1 = w["head.w1"][j]  # (hidden, k + context): latent weights first
        columns = network.available[j]
        terms = []
        if columns:
            seen = g.op("Gather", ["features", g.const(f"h{j}_columns", np.array(columns, np.int64))], axis=1)
            terms.append(g.op("MatMul", [seen, g.const(f"h{j}_w1_features", w1[:, k:][:, columns].T)]))
        if latent_fixed is not None:
            terms.append(g.op("MatMul", [latent_fixed, g.const(f"h{j}_w1_latent", w1[:, :k].T)]))
        if not terms:  # a head with neither columns nor latents: its bias alone, broadcast to N rows
            terms.append(g.op("MatMul", ["features", g.const(f"h{j}_w1_none", np.zeros((n_context, hidden)))]))
        acc = terms[0]
        for term in terms[1:]:
            acc = g.op("Add", [acc, term])
        acc = g.op("Add", [acc, g.const(f"h{j}_b1", _positive_zero(w["head.b1"][j]))])
        h1 = g.requantize(acc, 2.0 ** (HIDDEN_BITS - FEATURE_BITS - e["head.w1"][j]), f"h{j}_hidden1")
        acc = g.op("MatMul", [h1, g.const(f"h{j}_w2", w["head.w2"][j].T)])
        acc = g.op("Add", [acc, g.const(f"h{j}_b2", _positive_zero(w["head.b2"][j]))])
        h2 = g.requantize(acc, 2.0 ** (-e["head.w2"][j]), f"h{j}_hidden2")
        acc = g.op("MatMul", [h2, g.const(f"h{j}_w3", w["head.w3"][j][:, None])])
        heads.append(g.op("Add", [acc, g.const(f"h{j}_b3", _positive_zero(w["head.b3"][j : j + 1]))], stem=f"h{j}_out"))
    out = heads[0] if n_heads == 1 else g.op("Concat", heads, stem="heads", axis=1)  # exact integers, [N, J]
    index = [network.context.index(t) for t in network.targets]
    scale = np.array([2.0 ** (-HIDDEN_BITS - e["head.w3"][j]) for j in range(n_heads)])
    standardized = g.op("Mul", [out, g.const("output_scale", scale)], stem="standardized")  # exact: powers of two
    scaled = g.op("Mul", [standardized, g.const("norm_std", np.array([network.norm_std[i] for i in index]))])
    g.nodes.append(
        helper.make_node(
            "Add", [scaled, g.const("norm_mean", np.array([network.norm_mean[i] for i in index]))], ["predictions"]
        )
    )
    graph = helper.make_graph(
        g.nodes,
        "bale_conditional_heads",
        inputs,
        [helper.make_tensor_value_info("predictions", tp.DOUBLE, ["N", n_heads])],
        initializer=g.initializers,
        doc_string=_DOC,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="bale",
        producer_version=__version__,
        doc_string=_DOC,
    )
    helper.set_model_props(model, {**network_metadata(network), **dict(metadata or {})})
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    if path is not None:
        target = Path(path)
        with atomic_target(target) as tmp:
            tmp.write_bytes(data)
    return data


def onnx_path(path: str | os.PathLike[str], table: str) -> Path:
    """Where :func:`export_model` writes ``table``'s network: ``path`` for the main table,
    ``STEM.TABLE.onnx`` beside it for a collection."""
    path = Path(path)
    if table == "":
        return path
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", table)
    return path.with_name(f"{path.stem}.{safe}{path.suffix or '.onnx'}")


def export_model(model: CompressionModel | DatasetModel, path: str | os.PathLike[str]) -> list[Path]:
    """Write one ``.onnx`` file per table whose model has a network; returns the paths written.

    The main table's network goes to ``path``, a collection's to ``STEM.COLLECTION.onnx``
    (:func:`onnx_path`). Each file's metadata also names its table (``bale_table``) and the
    SHA-256 of the bale model (``bale_model_sha256``, as ``bale.save_model`` returns it).
    """
    _import_onnx()  # the missing-package error before any other
    tables = DatasetModel.of(model).tables
    chosen = {name: m.network for name, m in tables.items() if m.network is not None}
    if not chosen:
        raise BaleInputError("the model has no network to export: no column is coded with the learned predictor")
    targets = {name: onnx_path(path, name) for name in chosen}
    if len(set(targets.values())) != len(targets):
        raise BaleInputError(f"two tables of the model map to the same ONNX file name: {sorted(chosen)}")
    digest = model.sha256
    written = []
    for name, network in chosen.items():
        if not isinstance(network, ConditionalNetwork):
            raise BaleInputError(
                f"table {name!r}: only conditional networks export to ONNX, not {type(network).__name__}"
            )
        heads = {c.name: c.predictor.get("head") for c in tables[name].columns if c.predictor["kind"] == KIND_LEARNED}
        extra = {"bale_table": _js(name), "bale_model_sha256": _js(digest), "bale_learned_columns": _js(heads)}
        export_onnx(network, targets[name], metadata=extra)
        written.append(targets[name])
    return written
