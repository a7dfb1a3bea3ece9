"""``bale train``, ``bale tune``, ``bale export``; ``bale init`` and ``bale schema`` for the configuration."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click

from bale.cli.app import main
from bale.cli.options import (
    _data_arguments,
    _data_options,
    _expand,
    _grid_config,
    _grid_options,
    _is_field,
    _refuse_overwrite,
    _split,
    _stages,
)
from bale.cli.support import GreedyCommand
from bale.fsutil import write_atomic
from bale.stages import show_stages, stage

log = logging.getLogger("bale")


@main.command(cls=GreedyCommand, short_help="Train a model once, to compress many files with --model.")
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Model file to write (safetensors, e.g. model.safetensors).",
)
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted training from its checkpoints (OUTPUT.checkpoints/)."
)
@click.option(
    "--train-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    help="At most this fraction of each file's rows (events) goes into the training sample.",
)
@_grid_options
@_data_options
def train(
    data: tuple[str, ...],
    output: str,
    force: bool,
    resume: bool,
    train_fraction: float | None,
    grid: bool,
    table: bool,
    block: int | None,
    predictor: str | None,
    **options: Any,
) -> None:
    """Train a model on DATA (files or quoted globs), to compress many files with `bale compress --model`.

    With several files, the sample (--max-rows in all) is drawn from each file in equal shares.

    Checkpoints go to OUTPUT.checkpoints/ while training and are removed when the model is
    written. Under torchrun, the processes share the batches (DDP); rank 0 writes the model.
    """
    import shutil

    from bale.api import save_model
    from bale.api import train as run
    from bale.models.bundle import DatasetModel

    if _is_field(data, grid, table):  # a conv model of grid tiles (docs/grids.md)
        from bale.grid.api import save_grid_model, train_grid

        _refuse_overwrite(Path(output), force)
        grid_model = train_grid(list(_expand(data)), config=_grid_config(options, block, predictor))
        digest = save_grid_model(grid_model, output, grid_model.record)
        click.echo(
            f"{output}: conv grid model, tile {grid_model.tile}, latent {grid_model.latent_dim}, sha256 {digest[:16]}…"
        )
        return
    if not resume:
        _refuse_overwrite(Path(output), force)
    checkpoints = Path(output + ".checkpoints")
    if resume and not checkpoints.is_dir():
        raise click.UsageError(f"nothing to resume: no {checkpoints}")
    arguments = _data_arguments(options, train__checkpoint_dir=str(checkpoints), train__resume=resume or None)
    paths = _expand(data)
    with show_stages(_stages(options["no_progress"])):
        stage("training a model on %s", ", ".join(map(str, paths)) if len(paths) <= 3 else f"{len(paths)} files")
        model = run(paths if len(paths) > 1 else paths[0], train_fraction=train_fraction, **arguments)
    if int(os.environ.get("RANK", "0")) > 0:  # torchrun: one writer
        return
    digest = save_model(model, output)
    shutil.rmtree(checkpoints, ignore_errors=True)
    from collections import Counter

    from bale.cli.info_text import counts_text

    for name, table_model in DatasetModel.of(model).tables.items():
        counts = Counter(c.predictor["kind"] for c in table_model.columns)
        where = f"collection {name}" if name else "table"
        log.info("%s: %s", where, {c.name: c.predictor["kind"] for c in table_model.columns})
        click.echo(f"{output}: {where}: {len(table_model.columns)} columns; predictors: {counts_text(counts)}")
    click.echo(f"{output}: sha256 {digest[:16]}…")


@main.command(cls=GreedyCommand, short_help="Search model settings for the smallest file (Optuna).")
@click.argument("data", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the best settings as a TOML config.")
@click.option("--trials", type=int, default=20, show_default=True, help="Settings to try.")
@click.option("--timeout", type=float, help="Stop starting trials after this many seconds.")
@click.option("--families", help="Comma-separated model families to try (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print every trial as JSON.")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@_data_options
def tune(
    data: str,
    output: str | None,
    trials: int,
    timeout: float | None,
    families: str | None,
    as_json: bool,
    force: bool,
    **options: Any,
) -> None:
    """Search model family, latent size, width, learning rate and schedule for the smallest file (Optuna).

    Each trial compresses the training sample with its settings, model embedded, at your bound.
    """
    from bale.tune import tune as run

    if output is not None:
        _refuse_overwrite(Path(output), force)
    arguments = _data_arguments(options)
    result = run(
        data, error=None, errors=arguments["errors"], config=arguments["config"], columns=arguments["columns"],
        tree=arguments["tree"], trials=trials, timeout=timeout, families=_split(families),
        progress=arguments["progress"], quantities=arguments["quantities"],
    )  # fmt: skip
    if output is not None:
        write_atomic(output, result.to_toml())
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    done = [t for t in result.trials if not t.get("pruned")]
    click.echo(f"{len(done)} trials completed, {len(result.trials) - len(done)} pruned")
    click.echo(f"best: ratio {result.best_ratio:.3f} ({result.best_bytes:,} B) with {result.best_params}")
    if output is not None:
        click.echo(f"wrote {output}: use it with --config")


@main.command("export", short_help="Export a model's network to ONNX.")
@click.argument("model_file", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="ONNX file to write; a collection's network goes beside it, as STEM.COLLECTION.onnx.",
)
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
def export(model_file: str, output: str, force: bool) -> None:
    """Export the network of MODEL (a model file, or a .bale file with an embedded model) to ONNX.

    The graph takes the fixed-point features and latents and gives every head's prediction,
    equal bit for bit to bale's own decoder (docs/onnx.md). Needs `pip install 'bale[onnx]'`.
    """
    from bale.api import load_model
    from bale.container import BaleReader
    from bale.errors import BaleInputError
    from bale.models.bundle import DatasetModel, model_from_bytes
    from bale.models.onnx_export import export_model, onnx_path

    if Path(model_file).suffix == ".bale":
        with BaleReader(model_file) as reader:
            embedded = reader.model()
        if embedded is None:
            raise BaleInputError(f"{model_file} was compressed with an external model: export that model file")
        model = model_from_bytes(embedded)
    else:
        model = load_model(model_file)
    tables = {name: m.network for name, m in DatasetModel.of(model).tables.items() if m.network is not None}
    for name in tables:
        _refuse_overwrite(onnx_path(output, name), force)
    export_model(model, output)
    for name, net in tables.items():
        where = f"collection {name}" if name else "table"
        click.echo(
            f"{onnx_path(output, name)}: {where}: {len(net.targets)} heads ({', '.join(net.targets)}), "
            f"latent_dim {net.latent_dim}"
        )
    click.echo(f"model sha256 {model.sha256[:16]}…")


@main.command(short_help="Write a commented configuration file (bale.toml).")
@click.argument("path", default="bale.toml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented configuration template (default: bale.toml)."""
    from bale.config import TEMPLATE

    _refuse_overwrite(Path(path), force)
    write_atomic(path, TEMPLATE)
    click.echo(f"wrote {path}")


@main.command(short_help="Print the JSON schema of the configuration file.")
def schema() -> None:
    """Print the JSON schema of the configuration file."""
    from bale.config import BaleConfig

    click.echo(json.dumps(BaleConfig.model_json_schema(), indent=2))
