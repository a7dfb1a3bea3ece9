"""The configuration: a TOML file validated by pydantic, overridable from the CLI.

``bale init`` writes :data:`TEMPLATE`; ``bale schema`` prints the JSON schema. Configs
are data, never code: nothing in them is executed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bale.bounds import parse_bound, parse_field_spec, parse_quantity
from bale.errors import BaleConfigError, BaleInputError

__all__ = [
    "TEMPLATE",
    "BaleConfig",
    "CompressConfig",
    "GridConfig",
    "ModelConfig",
    "TrainConfig",
    "load_config",
    "read_toml",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_bound(value: str) -> str:
    parse_bound(value)
    return value


class CompressConfig(_Section):
    error: str = Field("rel=1e-3", description="Default bound of float columns: rel=X, abs=X or exact.")
    errors: dict[str, str] = Field(default_factory=dict, description="Per-column bounds, overriding `error`.")
    chunk_rows: int = Field(262_144, ge=1, le=2**27, description="Rows per independently coded chunk.")
    quantities: list[str] = Field(
        default_factory=list,
        description="Bounds on quantities of several columns, held on every row like a column bound: "
        "mass(E,px,py,pz):rel=X, mass(pt,eta,phi,m):rel=X, pt(px,py):rel=X, pairmass(Muon_pt,Muon_eta,Muon_phi,"
        "Muon_mass):rel=X (the first two objects of each event, jagged collections) (docs/codec.md).",
    )

    @field_validator("quantities")
    @classmethod
    def _v_quantities(cls, value: list[str]) -> list[str]:
        for spec in value:
            parse_quantity(spec)
        return value

    _v_error = field_validator("error")(classmethod(lambda cls, v: _check_bound(v)))

    @field_validator("errors")
    @classmethod
    def _v_errors(cls, value: dict[str, str]) -> dict[str, str]:
        for spec in value.values():
            _check_bound(spec)
        return value


class ModelConfig(_Section):
    family: str = Field(
        "conditional",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Network family, by name: conditional, dense, skip, sparse, ensemble, vae (docs/models.md).",
    )
    latent_dim: int = Field(0, ge=0, le=64, description="Latent values stored per row (0: purely conditional).")
    hidden: int = Field(8, ge=4, le=1024, description="Width of the hidden layers of each head.")
    condition: bool | None = Field(
        None, description="Heads also see the columns decoded before them (default: only for `conditional`)."
    )
    heads: int = Field(5, ge=1, le=16, description="ensemble: decoder heads per column, averaged.")
    reg_param: float = Field(1e-3, ge=0, description="sparse: weight of the L1 activity penalty on the latents.")
    rho: float = Field(0.05, gt=0, lt=1, description="sparse: target mean activation of hidden units (KL penalty).")
    kl_weight: float = Field(1e-3, ge=0, description="vae: weight of the KL divergence of the latent posterior.")
    normalization: Literal["auto", "robust", "standard", "minmax"] = Field(
        "auto", description="Scaling of the network's inputs: robust (median, quantiles), standard, minmax; auto."
    )
    normalizations: dict[str, Literal["robust", "standard", "minmax", "periodic"]] = Field(
        default_factory=dict, description="Per-column scaling, overriding `normalization` (periodic: angles, x/pi)."
    )
    relations: bool = Field(True, description="Search closed-form relations between columns (px = pt*cos(phi)).")
    learned: bool = Field(True, description="Train the network; false keeps relations and classical coding.")
    contexts: bool = Field(
        True,
        description="Code a column's residuals with one histogram per range of earlier columns' integers, "
        "where that saves at least 2 % of its bits (docs/codec.md, residual contexts).",
    )
    max_closure: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Most columns decoding one column may need, itself included (its dependency closure): "
        "relations and network heads are chosen within it. 1: every column is independent. Unset: no limit.",
    )


class TrainConfig(_Section):
    seed: int = Field(0, description="Seed of every random number generator.")
    max_rows: int = Field(100_000, ge=16, description="Rows sampled from the data for training.")
    epochs: int = Field(40, ge=1, description="Upper limit of training epochs.")
    batch_size: int = Field(
        2048,
        ge=8,
        description="Rows of one optimizer step (2048 with learning_rate 1e-2: docs/models.md, default training).",
    )
    learning_rate: float = Field(1e-2, gt=0)
    validation_fraction: float = Field(0.15, gt=0, lt=0.9)
    patience: int = Field(5, ge=1, description="Epochs without validation gain before stopping early.")
    latent_penalty: float = Field(0.02, ge=0, description="Weight of the latent rate term (L1 on latents).")
    loss: Literal["bits", "l1", "mse", "huber"] = Field(
        "bits", description="bits: sum of log2 mean |residual| (the coded size); or l1, mse, huber."
    )
    huber_delta: float = Field(1.0, gt=0, description="Huber loss threshold, in standardized units.")
    scheduler: Literal["plateau", "step", "cosine", "none"] = Field("plateau", description="Learning-rate schedule.")
    step_size: int = Field(25, ge=1, description="StepLR: epochs between learning-rate cuts.")
    gamma: float = Field(0.5, gt=0, le=1, description="StepLR: factor of each cut.")
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="ReduceLROnPlateau: factor of each cut.")
    plateau_patience: int | None = Field(None, ge=0, description="ReduceLROnPlateau: epochs (default patience // 2).")
    min_lr: float = Field(1e-5, ge=0, description="Lower limit of the learning rate (plateau, cosine).")
    min_delta: float = Field(1e-4, ge=0, description="Validation gain that counts as progress for early stopping.")
    checkpoint_every: int = Field(5, ge=1, description="Epochs between checkpoints (when a checkpoint dir is set).")
    checkpoint_dir: str | None = Field(None, description="Where to keep checkpoints; `bale train` sets one.")
    resume: bool = Field(False, description="Continue from the checkpoint in checkpoint_dir, if there is one.")
    threads: int = Field(1, ge=1, description="Torch CPU threads; fixed so results are reproducible.")
    device: Literal["cpu", "cuda", "mps", "auto"] = Field(
        "cpu", description="Training device; auto: cuda, else mps, else cpu. Decoding always runs on the CPU."
    )
    amp: bool = Field(False, description="Mixed precision (bfloat16 autocast) on a GPU; ignored on the CPU.")


class GridConfig(_Section):
    """Grid mode (``--grid``, docs/grids.md): 1-D to N-D float arrays coded as (frames, H, W)."""

    error: str = Field("range=1e-3", description="Bound of grids: range=X (X times max-min), abs=X or rel=X.")
    block: int = Field(32, ge=2, le=4096, description="Block edge: each block gets the cheapest predictor.")
    predictor: Literal["auto", "lorenzo", "interp", "conv"] = Field(
        "auto", description="auto: the cheapest of Lorenzo, interpolation and (with a conv model) conv, per block."
    )
    learned: bool = Field(False, description="Train a conv model when compressing without --model (it is embedded).")
    tile: int = Field(16, ge=4, le=256, multiple_of=4, description="conv: tile edge the autoencoder sees.")
    latent_dim: int = Field(8, ge=1, le=256, description="conv: latent values stored per tile.")
    channels: int = Field(8, ge=1, le=64, description="conv: channels of the convolutions.")
    latent_bits: int = Field(4, ge=0, le=12, description="conv: latents are stored in steps of 2^-latent_bits.")
    epochs: int = Field(60, ge=1, description="conv: training epochs.")
    max_tiles: int = Field(20_000, ge=16, description="conv: tiles sampled for training.")

    @field_validator("error")
    @classmethod
    def _v_error(cls, value: str) -> str:
        parse_field_spec(value)  # the codec's own parser: both accept and refuse the same spellings
        return value


class BaleConfig(_Section):
    compress: CompressConfig = Field(default_factory=CompressConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    grid: GridConfig = Field(default_factory=GridConfig)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tables of a TOML file; a missing file or invalid TOML is a one-line bale error."""
    p = Path(path)
    if not p.is_file():
        raise BaleInputError(f"no such config file: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BaleConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | os.PathLike[str] | None, overrides: dict[str, Any] | None = None) -> BaleConfig:
    """Read and validate a TOML config (or the defaults), then apply ``section.key`` overrides."""
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    try:
        return BaleConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BaleConfigError(f"config {where}: {first['msg']}" if where else f"config: {first['msg']}") from None


TEMPLATE = """\
# bale configuration. Every key is optional; the values shown are the defaults.
# CLI flags override these. `bale schema` prints the JSON schema of this file.

[compress]
# Default error bound of float columns: "rel=1e-3" (|x'-x| <= 1e-3*|x|),
# "abs=0.01" (|x'-x| <= 0.01) or "exact". Integer and bool columns are always exact.
error = "rel=1e-3"
# Rows per chunk. Chunks are coded independently: memory stays bounded.
chunk_rows = 262144

# Bounds on quantities computed from several columns, held on every row like a column
# bound (docs/codec.md): the invariant mass of (E, px, py, pz) or (pt, eta, phi, m), pt, and
# in jagged collections the mass of each event's first two objects, pairmass(...).
# quantities = ["mass(energy,px,py,pz):rel=1e-3", "pt(px,py):rel=1e-3"]
quantities = []

[compress.errors]
# Per-column bounds, for example:
# mass = "rel=1e-4"
# event = "exact"

[model]
# Predictor family; see docs/models.md: "conditional" (each column's head sees the
# columns decoded before it), or Baler's autoencoders, whose heads see only the latent:
# "dense", "skip" (residual connections), "sparse" (L1 + KL activity penalties),
# "ensemble" (several heads per column, averaged), "vae" (variational encoder).
family = "conditional"
# Heads also see the columns decoded before them (default: true for conditional only).
# condition = true
# ensemble: heads per column. sparse: reg_param (L1 on latents), rho (KL target of the
# mean hidden activation). vae: kl_weight.
heads = 5
reg_param = 0.001
rho = 0.05
kl_weight = 0.001
# Scaling of the network's inputs: "robust" (median and 68% quantile spread),
# "standard" (mean, std), "minmax", or "auto" (robust; angles with an abs bound: periodic).
# Columns with a rel bound are seen as log|x|, the domain their residuals are coded in.
normalization = "auto"

# Latent values stored per row. 0 = predict each column from the columns decoded
# before it in the same row only. Measured on the Pythia tt-bar jets: a latent of 2
# saves 11.6 bits/row of residuals but costs 13.3 bits/row to store.
latent_dim = 0
# Hidden width of each column's prediction head (8 measured best: docs/models.md).
hidden = 8
# Search closed-form relations between columns (px = pt*cos(phi), ...).
relations = true
# Train the network at all (false: relations and classical coding only).
learned = true
# Code a column's residuals with one histogram per range of earlier columns' integers
# (an exact count, or an earlier column's quantized residual), where it saves >= 2 %.
contexts = true
# Most columns that reading one column decodes, itself included (its dependency
# closure: relation inputs, the columns its network head sees, and theirs). Relations
# and heads are chosen within it; 1 makes every column independent. Unset: no limit
# (the best ratio; docs/models.md measures what a limit costs).
# max_closure = 5

[model.normalizations]
# Per-column scaling: robust, standard, minmax or periodic (x/pi, for angles), e.g.
# phi = "periodic"

[train]
seed = 0
# Rows sampled from the input for training.
max_rows = 100000
epochs = 40
# Rows of one optimizer step; large steps with a high rate train 2-3x faster at the same ratio.
batch_size = 2048
learning_rate = 0.01
validation_fraction = 0.15
# Stop after this many epochs without validation gain; the best epoch is kept.
patience = 5
# Weight of the rate term on the latents (bits cost bytes).
latent_penalty = 0.02
# Training loss: "bits" (sum over columns of log2 mean |residual|: the coded size),
# or "l1", "mse", "huber" (with huber_delta, in standardized units).
loss = "bits"
huber_delta = 1.0
# Learning-rate schedule: "plateau" (cut by plateau_factor after plateau_patience
# epochs without gain; default patience // 2), "step" (times gamma every step_size
# epochs), "cosine" (to min_lr over `epochs`) or "none".
scheduler = "plateau"
step_size = 25
gamma = 0.5
plateau_factor = 0.5
# plateau_patience = 2
min_lr = 1e-05
# Validation gain that counts as progress for early stopping.
min_delta = 0.0001
# Checkpoints every checkpoint_every epochs into checkpoint_dir (`bale train` keeps them
# beside its output); resume = true (or `bale train --resume`) continues from there.
checkpoint_every = 5
# checkpoint_dir = "model.checkpoints"
resume = false
# Torch threads. Fixed, so that the same seed gives the same model and bytes; one
# thread is fastest for these small networks and robust on a busy machine.
threads = 1
# "cpu", "cuda", "mps" or "auto" (cuda, else mps, else cpu). Only training runs there:
# the model is quantized to exact fixed point, so files decode the same on any CPU.
device = "cpu"
# Mixed precision (bfloat16 autocast) on a GPU.
amp = false

[grid]
# Grid mode (bale compress --grid; docs/grids.md). Bound of grids: "range=1e-3"
# (1e-3 times max-min of the finite values), "abs=X" or "rel=X".
error = "range=1e-3"
# Block edge; each block is coded by its cheapest predictor.
block = 32
# "auto" (cheapest of Lorenzo, interpolation and, with a conv model, conv), or one of
# "lorenzo", "interp", "conv".
predictor = "auto"
# Train a conv autoencoder when compressing without --model (it is embedded).
learned = false
# conv model: tile edge, latents per tile, channels, latent step 2^-latent_bits, training.
tile = 16
latent_dim = 8
channels = 8
latent_bits = 4
epochs = 60
max_tiles = 20000
"""
