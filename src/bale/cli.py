"""The ``bale`` command line: train, tune, compress, decompress, info, verify, evaluate, bench, export, init, schema.

Errors that bale raises on purpose print as one line and exit with status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from bale._version import __version__
from bale.cli_support import GreedyCommand, check_out_dir, check_output, decompressed_name
from bale.errors import BaleError
from bale.fsutil import forbid_overwrite, write_atomic
from bale.presets import preset_names
from bale.stages import show_stages, stage

log = logging.getLogger("bale")

_FORMAT_EXT = {"parquet": ".parquet", "npz": ".npz", "npy": ".npy", "hdf5": ".h5", "csv": ".csv", "root": ".root"}


class _Group(click.Group):
    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """As click's, but a usage error is one line (``bale: error: ...``), not a usage block."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # plain `bale`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "bale"
            click.echo(f"bale: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:  # a context of its own: --force (no_overwrite) holds for this command only
            return contextvars.copy_context().run(super().invoke, ctx)
        except BaleError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"bale: error: {exc}", err=True)
            sys.exit(2)
        except (OSError, MemoryError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"bale: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bale")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-v", "--verbose", is_flag=True, help="Log what bale decides (predictors, training).")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """bale: error-bounded learned compression of scientific tables.

    \b
    Start with:
      bale compress jets.parquet -o jets.bale -e rel=1e-3     # train, compress, print the ratio
      bale compress jets.parquet -o jets.bale --preset kinematic
      bale decompress jets.bale -o jets_out.parquet
      bale evaluate jets.bale --against jets.parquet          # what compression did to the physics

    Each command has its own --help.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if threading.current_thread() is threading.main_thread():  # a kill unwinds like Ctrl-C: no temporary files left
        previous = signal.signal(signal.SIGTERM, _terminate)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bale").setLevel(level)


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _overrides(**values: Any) -> dict[str, Any]:
    return {k.replace("__", "."): v for k, v in values.items() if v is not None}


def _config(path: str | None, **values: Any) -> Any:
    from bale.config import load_config

    return load_config(path, _overrides(**values))


def _terminal() -> bool:
    return sys.stderr.isatty()


def _progress(no_progress: bool) -> bool:
    return not no_progress and _terminal()


def _stages(no_progress: bool) -> bool:
    """Say on stderr what each step does: on a terminal, unless --no-progress (-v logs them anyway)."""
    return not no_progress and _terminal()


def _expand(patterns: tuple[str, ...]) -> list[Path]:
    """Files and quoted globs (sorted) as paths."""
    import glob

    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise click.UsageError(f"no file matches {pattern!r}")
        paths += [Path(m) for m in matches]
    return paths


def _refuse_overwrite(path: Path, force: bool) -> None:
    """Before any work: ``path`` can be written (its folder exists and takes files) and is new, or ``force``."""
    check_output(path, force)
    forbid_overwrite(path, not force)  # and if it appears meanwhile (another run), the final link fails, atomically


_common_data = [
    click.option(
        "--error",
        "-e",
        "errors",
        multiple=True,
        metavar="BOUND",
        help="Error bound: rel=X, abs=X or exact (with --grid: range=X, of max - min); COLUMN:BOUND for one "
        "column. Repeatable. Default rel=1e-3.",
    ),
    click.option(
        "--quantity",
        "-q",
        "quantities",
        multiple=True,
        metavar="FUNCTION(COLUMNS):BOUND",
        help="Bound a quantity of several columns on every row, like a column: 'mass(energy,px,py,pz):rel=1e-3', "
        "'mass(pt,eta,phi,m):rel=1e-3', 'pt(px,py):rel=1e-3', 'pairmass(Muon_pt,Muon_eta,Muon_phi,Muon_mass):rel=1e-3' "
        "(each event's first two objects) (docs/codec.md). Repeatable.",
    ),
    click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="TOML config file."),
    click.option("--columns", help="Comma-separated columns to keep (default: all)."),
    click.option(
        "--branches",
        multiple=True,
        metavar="NAME_OR_GLOB...",
        help="ROOT branches to compress, by name or glob ('Jet_*' 'MET_*'); counters come along.",
    ),
    click.option("--tree", help="ROOT tree to read (default: Events, or the only one)."),
    click.option("--keep-rest", is_flag=True, help="ROOT: also keep every other branch, losslessly."),
    click.option(
        "--preset",
        type=click.Choice(preset_names(), case_sensitive=False),
        help="Bounds per column from a preset (docs/presets.md): kinematic (by name: abs on eta/phi, rel on "
        "momenta, exact on counts) or nanoaod (CMS NanoAOD's own precision); -e COLUMN:BOUND overrides it.",
    ),
    click.option("--seed", type=int, help="Random seed (overrides train.seed)."),
    click.option("--epochs", type=int, help="Maximum training epochs (overrides train.epochs)."),
    click.option("--max-rows", type=int, help="Rows sampled for training (overrides train.max_rows)."),
    click.option("--latent-dim", type=int, help="Latent values per row (overrides model.latent_dim)."),
    click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda", "mps"]),
        help="Training device (overrides train.device); decoding always runs on the CPU.",
    ),
    click.option("--family", help="Model family (overrides model.family; docs/models.md)."),
    click.option(
        "--max-closure",
        type=int,
        help="Most columns reading one column may decode, itself included (overrides model.max_closure).",
    ),
    click.option("--no-progress", is_flag=True, help="No progress bars and no step-by-step lines on stderr."),
]


_common_grid = [
    click.option("--grid", is_flag=True, help="Grid mode: float arrays as 2-D/3-D fields (docs/grids.md)."),
    click.option("--block", type=int, help="Grid mode: block edge (overrides grid.block)."),
    click.option(
        "--predictor",
        type=click.Choice(["auto", "lorenzo", "interp", "conv"]),
        help="Grid mode: predictor (overrides grid.predictor).",
    ),
]


def _grid_options(fn: Any) -> Any:
    for option in reversed(_common_grid):
        fn = option(fn)
    return fn


def _data_options(fn: Any) -> Any:
    for option in reversed(_common_data):
        fn = option(fn)
    return fn


def _split(columns: str | None) -> list[str] | None:
    return [c.strip() for c in columns.split(",") if c.strip()] if columns else None


def _data_arguments(options: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The API arguments for the options of :data:`_common_data`, config overrides applied."""
    cfg = _config(
        options["config_path"],
        train__seed=options["seed"],
        train__epochs=options["epochs"],
        train__max_rows=options["max_rows"],
        model__latent_dim=options["latent_dim"],
        train__device=options["device"],
        model__family=options["family"],
        model__max_closure=options["max_closure"],
        **overrides,
    )
    columns = _split(options["columns"]) or []
    columns += [b for value in options["branches"] for b in value.split(",") if b.strip()]
    return {
        "errors": options["errors"] or None,
        "quantities": list(options["quantities"]) or None,
        "config": cfg,
        "columns": columns or None,
        "tree": options["tree"],
        "keep_rest": options["keep_rest"],
        "preset": options["preset"],
        "progress": _progress(options["no_progress"]),
    }


@main.command(cls=GreedyCommand, short_help="Compress a table file (or many, with --out-dir) into .bale.")
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output .bale file (default: DATA.bale).")
@click.option("--model", "-m", "model_path", type=click.Path(dir_okay=False), help="Use a trained model file.")
@click.option("--chunk-rows", type=int, help="Rows per chunk (overrides compress.chunk_rows).")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    help="Compress many files (DATA: files or quoted globs) into this folder, on Dask; re-runs skip what is done.",
)
@click.option("--scheduler", metavar="ADDRESS", help="With --out-dir: an existing Dask scheduler (default: local).")
@click.option("--jobs", type=int, default=2, show_default=True, help="With --out-dir: local Dask worker processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@_grid_options
@_data_options
def compress(
    data: tuple[str, ...],
    output: str | None,
    model_path: str | None,
    chunk_rows: int | None,
    out_dir: str | None,
    scheduler: str | None,
    jobs: int,
    as_json: bool,
    force: bool,
    grid: bool,
    block: int | None,
    predictor: str | None,
    **options: Any,
) -> None:
    """Compress DATA (Parquet, NumPy, HDF5, CSV, ROOT) into a .bale file, or many files into --out-dir.

    Put DATA first: --branches takes every value that follows it. With --grid, the float
    arrays of DATA (.npz, .npy, HDF5, zarr) are coded as 2-D/3-D grids (docs/grids.md).
    """
    with show_stages(_stages(options["no_progress"])):
        if grid:
            _compress_grid(data, output, model_path, as_json, force, block, predictor, options)
            return
        arguments = _data_arguments(options, compress__chunk_rows=chunk_rows)
        if out_dir is not None or len(data) > 1:
            _compress_many(data, out_dir, model_path, scheduler, jobs, as_json, arguments, output)
            return
        from bale.api import compress as run

        out = Path(output) if output else Path(data[0]).with_suffix(".bale")
        _refuse_overwrite(out, force)
        stage("compressing %s into %s%s", data[0], out, "" if model_path else " (training a model first)")
        report = run(data[0], out, model=model_path, **arguments)
    _print_info(report, as_json)


def _grid_config(options: dict[str, Any], block: int | None, predictor: str | None) -> Any:
    return _config(
        options["config_path"],
        grid__block=block,
        grid__predictor=predictor,
        grid__epochs=options["epochs"],
        grid__latent_dim=options["latent_dim"],
        train__seed=options["seed"],
    )


def _compress_grid(
    data: tuple[str, ...],
    output: str | None,
    model_path: str | None,
    as_json: bool,
    force: bool,
    block: int | None,
    predictor: str | None,
    options: dict[str, Any],
) -> None:
    from bale.grid.api import compress_grid

    if len(data) != 1:
        raise click.UsageError("--grid compresses one file at a time")
    if len(options["errors"]) > 1 or any(":" in e for e in options["errors"]):
        raise click.UsageError("--grid takes one bound for all grids: --error range=X, abs=X or rel=X")
    out = Path(output) if output else Path(data[0]).with_suffix(".bale")
    _refuse_overwrite(out, force)
    report = compress_grid(
        data[0],
        out,
        error=options["errors"][0] if options["errors"] else None,
        model=model_path,
        config=_grid_config(options, block, predictor),
        names=_split(options["columns"]),
    )
    _print_info(report, as_json)


def _compress_many(
    data: tuple[str, ...],
    out_dir: str | None,
    model_path: str | None,
    scheduler: str | None,
    jobs: int,
    as_json: bool,
    arguments: dict[str, Any],
    output: str | None,
) -> None:
    from bale.batch import compress_many

    if out_dir is None:
        raise click.UsageError("several inputs need --out-dir")
    if output is not None:
        raise click.UsageError("--output names one file; with --out-dir each input gets DIR/NAME.bale")
    paths = _expand(data)
    check_out_dir(out_dir)
    progress = arguments.pop("progress")
    report = compress_many(
        paths, Path(out_dir), model=model_path, scheduler=scheduler, workers=jobs, progress=progress, **arguments
    )
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    if not report.ok:
        sys.exit(1)


@main.command(short_help="Decompress a .bale file back to a table file.")
@click.argument("file", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Output file; its extension picks the format "
    "(default: FILE.decompressed.EXT beside FILE, in the original's format, so the original is never hit).",
)
@click.option(
    "--model",
    "-m",
    "model_path",
    type=click.Path(dir_okay=False),
    help="The model the file was compressed with, if not embedded.",
)
@click.option("--format", "fmt", type=click.Choice(sorted(_FORMAT_EXT)), help="Output format (overrides extension).")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def decompress(
    file: str, output: str | None, model_path: str | None, fmt: str | None, force: bool, no_progress: bool
) -> None:
    """Decompress a .bale FILE back to a table file."""
    from bale.api import decompress as run
    from bale.container import BaleReader
    from bale.table import Dataset, Forest

    with BaleReader(file) as reader:
        is_grid = reader.header.get("kind") == "grid"
    if is_grid:
        _decompress_grid(file, output, model_path, force)
        return
    named = output is not None
    if output is None:
        with BaleReader(file) as reader:
            source_format = (reader.header.get("source") or {}).get("format", "parquet")
        output = str(decompressed_name(file, _FORMAT_EXT.get(fmt or source_format, ".parquet")))
        named = False
    _refuse_overwrite(Path(output), force)
    data = run(file, output, model=model_path, format=fmt, progress=_progress(no_progress))
    if not named:
        click.echo(f"bale: no -o given: wrote {output} (beside FILE, never over the original)", err=True)
    if isinstance(data, Forest):
        click.echo(f"{output}: trees {', '.join(data.trees)}; objects {', '.join(data.objects) or 'none'}")
    elif isinstance(data, Dataset):
        with BaleReader(file) as reader:
            events = reader.num_rows
        click.echo(f"{output}: {events} events, collections {', '.join(data.counters) or 'none'}")
    else:
        click.echo(f"{output}: {data.num_rows} rows, {len(data.columns)} columns")


def _decompress_grid(file: str, output: str | None, model_path: str | None, force: bool) -> None:
    from bale.container import BaleReader
    from bale.grid.api import decompress_grid

    named = output is not None
    if output is None:
        with BaleReader(file) as reader:
            fmt = (reader.header.get("source") or {}).get("format")
        output = str(decompressed_name(file, {"npy": ".npy", "hdf5": ".h5", "zarr": ".zarr"}.get(fmt, ".npz")))
    _refuse_overwrite(Path(output), force)
    grids = decompress_grid(file, output, model=model_path)
    click.echo(f"{output}: grids {', '.join(f'{n} {list(a.shape)}' for n, a in grids.items())}")
    if not named:
        click.echo(f"bale: no -o given: wrote {output} (beside FILE, never over the original)", err=True)


@main.command(short_help="Show a .bale file's bytes per part and its honest ratio.")
@click.argument("file", type=click.Path())
@click.option(
    "--model",
    "-m",
    "model_path",
    type=click.Path(dir_okay=False),
    help="The external model, to show the ratio with its bytes counted too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(file: str, model_path: str | None, as_json: bool) -> None:
    """Show a .bale file's byte breakdown and honest compression ratio."""
    from bale.api import info as run

    _print_info(run(file, model=model_path), as_json)


@main.command(short_help="Check a .bale file: every checksum and a full decode.")
@click.argument("file", type=click.Path())
@click.option(
    "--model",
    "-m",
    "model_path",
    type=click.Path(dir_okay=False),
    help="The model the file was compressed with, if not embedded.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(file: str, model_path: str | None, as_json: bool) -> None:
    """Check a .bale FILE without writing anything: every checksum and a full decode in memory.

    Exit status 0 when the file is whole; 2 with a one-line message naming what is damaged.
    Error bounds cannot be checked without the original (use bale evaluate for that).
    """
    from bale.api import verify as run

    result = run(file, model=model_path)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    if result.get("kind") == "root_file":
        click.echo(f"{file}: ok ({len(result['trees'])} tree(s), {result['objects']} object(s); every checksum "
                   "checked, every tree decoded, exact columns match their SHA-256)")  # fmt: skip
        return
    hashed = ", exact columns match their SHA-256" if result["exact_sha256_checked"] else ""
    if result.get("kind") == "grid":
        shapes = ", ".join(f"{name} {'×'.join(map(str, shape))}" for name, shape in result["grids"].items())
        click.echo(f"{file}: ok (grids {shapes}; every checksum checked, decoded)")
        return
    click.echo(
        f"{file}: ok ({result['rows']} rows, {result['columns']} columns, {result['chunks']} chunk(s), "
        f"every checksum checked, decoded{hashed})"
    )


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

    if grid:  # a conv model of grid tiles (docs/grids.md)
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
    for name, table_model in DatasetModel.of(model).tables.items():
        counts: dict[str, int] = {}
        for c in table_model.columns:
            counts[c.predictor["kind"]] = counts.get(c.predictor["kind"], 0) + 1
        where = f"collection {name}" if name else "table"
        log.info("%s: %s", where, {c.name: c.predictor["kind"] for c in table_model.columns})
        click.echo(f"{output}: {where}: {len(table_model.columns)} columns, predictors {counts}")
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
        progress=arguments["progress"],
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


@main.command(short_help="Judge a decompression: metrics, plots and report.html.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--against", type=click.Path(dir_okay=False), help="The original, when FILES is one .bale file.")
@click.option(
    "--model",
    "-m",
    "model_path",
    type=click.Path(dir_okay=False),
    help="The model file: needed for a file compressed with an external model; its training history is shown.",
)
@click.option(
    "--out-dir",
    "-o",
    default="bale-evaluation",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where metrics.json, plots/ and report.html go.",
)
@click.option("--pdf", is_flag=True, help="Also write report.pdf.")
@click.option("--columns", help="Comma-separated columns, or globs of ROOT branches, to compare (default: all).")
@click.option("--tree", help="ROOT tree to read (default: Events, or the only one).")
@click.option(
    "--error",
    "-e",
    "errors",
    multiple=True,
    metavar="BOUND",
    help="Bound to judge by: rel=X, abs=X, exact; COLUMN:BOUND for one column (default: the .bale file's own).",
)
@click.option(
    "--quantity",
    "-q",
    "quantities",
    multiple=True,
    metavar="FUNCTION(COLUMNS):BOUND",
    help="A quantity to judge on every row, e.g. 'mass(energy,px,py,pz):rel=1e-3' (default: the .bale file's own).",
)
@click.option(
    "--four-vector",
    "four_vectors",
    multiple=True,
    metavar="NAME:ROLE=COL,...",
    help="A four-vector by hand, e.g. jet:pt=jpt,eta=jeta,phi=jphi,mass=jm (default: found by column names).",
)
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="TOML file with [evaluate].")
@click.option("--max-rows", type=int, help="Rows per table sampled for KS, chi2, correlations, figures (200000).")
@click.option("--no-plots", is_flag=True, help="Metrics and report tables only, no figures (fast).")
@click.option("--grid", is_flag=True, help="ORIGINAL DECOMPRESSED are grid files (automatic for a grid .bale).")
@click.option("--no-progress", is_flag=True, help="Do not say on stderr what each step does.")
def evaluate(
    files: tuple[str, ...],
    against: str | None,
    model_path: str | None,
    out_dir: str,
    pdf: bool,
    columns: str | None,
    tree: str | None,
    errors: tuple[str, ...],
    quantities: tuple[str, ...],
    four_vectors: tuple[str, ...],
    config_path: str | None,
    max_rows: int | None,
    no_plots: bool,
    grid: bool,
    no_progress: bool,
) -> None:
    """Judge a decompression like a physicist: metrics.json, plots/ and report.html in --out-dir.

    bale evaluate ORIGINAL DECOMPRESSED, or bale evaluate FILE.bale --against ORIGINAL (decompressed in
    memory). Exit status 1 when a column or a declared quantity breaks its bound.
    """
    if (against is None and len(files) != 2) or (against is not None and len(files) != 1):
        raise click.UsageError("give ORIGINAL DECOMPRESSED, or FILE.bale --against ORIGINAL")
    check_out_dir(out_dir)
    with show_stages(_stages(no_progress)):
        _evaluate(files, against, model_path, out_dir, pdf, columns, tree, errors, four_vectors, config_path,
                  max_rows, no_plots, grid, quantities)  # fmt: skip


def _evaluate(
    files: tuple[str, ...],
    against: str | None,
    model_path: str | None,
    out_dir: str,
    pdf: bool,
    columns: str | None,
    tree: str | None,
    errors: tuple[str, ...],
    four_vectors: tuple[str, ...],
    config_path: str | None,
    max_rows: int | None,
    no_plots: bool,
    grid: bool,
    quantities: tuple[str, ...] = (),
) -> None:
    from bale.evaluate import evaluate_files
    from bale.evaluate.grid import evaluate_grid_files, is_grid_bale
    from bale.evaluate.inputs import parse_four_vector_options
    from bale.evaluate.report import summary_text

    stage("evaluating %s against %s: results go to %s/", files[-1] if against is None else files[0],
          against or files[0], out_dir)  # fmt: skip

    if grid or (against is not None and is_grid_bale(files[0])):
        result = evaluate_grid_files(
            files[0], files[1] if len(files) == 2 else None, out_dir, against=against, model=model_path,
            error=errors[0] if errors else None, plots=not no_plots,
        )  # fmt: skip
        for name, m in result["grids"].items():
            psnr = "—" if m["psnr_db"] is None else f"{m['psnr_db']:.2f}"
            click.echo(
                f"{name}: {m['bound']}, max error / bound {m['max_error_over_bound']:.4f}, "
                f"{m['violations']} violation(s), PSNR {psnr} dB"
            )
        click.echo(f"{out_dir}/report.html")
        if result["summary"]["failed"]:
            sys.exit(1)
        return
    metrics: dict[str, Any] = evaluate_files(
        files[0], files[1] if len(files) == 2 else None, out_dir, against=against, model=model_path,
        columns=_split(columns), tree=tree, errors=list(errors) or None,
        four_vectors=parse_four_vector_options(four_vectors) or None, config=config_path, pdf=pdf,
        max_rows=max_rows, plots=not no_plots, quantities=list(quantities) or None,
    )  # fmt: skip
    click.echo(summary_text(metrics, out_dir))
    if metrics["summary"]["failed"] or metrics["summary"]["quantities_failed"]:
        sys.exit(1)


@main.command(short_help="Compare bale with other compressors on DATA.")
@click.argument("data", type=click.Path())
@click.option(
    "--error",
    "-e",
    "errors",
    multiple=True,
    metavar="BOUND",
    help="Error bound: rel=X, abs=X or exact. Repeat for a curve (-e rel=1e-2 -e rel=1e-3); "
    "COLUMN:BOUND applies to every point. Default: the config's (rel=1e-3).",
)
@click.option("--methods", help="Comma-separated methods to run (default: all); 'list' prints them.")
@click.option("--columns", help="Comma-separated columns to keep (default: all).")
@click.option("--tree", help="ROOT tree to read (default: Events, or the only one).")
@click.option("--rows", "max_rows", type=int, help="Use only the first N rows.")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="TOML config (bale's training).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write bench.json, bench.md and pareto.png here.")
@click.option("--time-limit", type=float, help="Seconds allowed to one method at one bound (default: no limit).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of markdown.")
@click.option("--grid", is_flag=True, help="Grid mode: bale's grid codec against SZ3, ZFP, fpzip on 3-D arrays.")
def bench(
    data: str,
    errors: tuple[str, ...],
    methods: str | None,
    columns: str | None,
    tree: str | None,
    max_rows: int | None,
    config_path: str | None,
    out_dir: str | None,
    time_limit: float | None,
    as_json: bool,
    grid: bool,
) -> None:
    """Compare bale with classical and learned compressors on DATA, every value checked.

    Per method and bound: ratio (every byte counted), max/mean relative error per column, bound
    violations, compress/decompress MB/s (single-threaded) and peak memory. The comparison
    libraries come with pip install 'bale[bench]'; a missing one is skipped with a note.
    """
    from bale.bench import METHODS, run_bench, to_markdown

    if grid:
        _bench_grid(data, errors, methods, columns, config_path, out_dir, as_json)
        return
    if methods == "list":
        for name, method in METHODS.items():
            missing = method.missing()
            note = f"  [skipped: {missing}]" if missing else ""
            click.echo(f"{name:<34}{method.family:<13}{method.description}{note}")
        return
    logging.getLogger("bale.bench").setLevel(min(logging.getLogger("bale").getEffectiveLevel(), logging.INFO))
    results = run_bench(
        data, list(errors), methods=_split(methods), columns=_split(columns), tree=tree,
        config=_config(config_path), out_dir=out_dir, max_rows=max_rows, time_limit=time_limit,
    )  # fmt: skip
    click.echo(json.dumps(results, indent=1) if as_json else to_markdown(results))
    own = [
        r
        for s in results["settings"]
        for r in s["methods"]
        if r["family"] == "bale" and (r.get("violations") or "error" in r)
    ]
    if own:  # bale must meet its bound: anything else is a bug
        click.echo(f"bale: error: bale missed its bound or failed in {len(own)} run(s)", err=True)
        sys.exit(1)


def _bench_grid(
    data: str,
    errors: tuple[str, ...],
    methods: str | None,
    columns: str | None,
    config_path: str | None,
    out_dir: str | None,
    as_json: bool,
) -> None:
    from bale.bench.grid import GRID_METHODS, grid_markdown, run_grid_bench

    if methods == "list":
        for name, method in GRID_METHODS.items():
            click.echo(f"{name:<20}{method.family:<10}{method.description}")
        return
    logging.getLogger("bale.bench").setLevel(min(logging.getLogger("bale").getEffectiveLevel(), logging.INFO))
    results = run_grid_bench(
        data, list(errors), methods=_split(methods), names=_split(columns), config=_config(config_path)
    )
    text = grid_markdown(results)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_atomic(Path(out_dir) / "bench.json", json.dumps(results, indent=1))
        write_atomic(Path(out_dir) / "bench.md", text + "\n")
    click.echo(json.dumps(results, indent=1) if as_json else text)
    own = [
        r
        for s in results["settings"]
        for r in s["methods"]
        if r["family"] == "bale" and (r.get("violations") or "error" in r)
    ]
    if own:  # bale must meet its bound: anything else is a bug
        click.echo(f"bale: error: bale missed its bound or failed in {len(own)} run(s)", err=True)
        sys.exit(1)


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


def _print_info(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if report.get("kind") == "grid":
        _print_grid_info(report)
        return
    if report.get("kind") == "root_file":
        _print_root_file_info(report)
        return
    raw, total = report["raw_bytes"], report["file_bytes"]
    lines = [
        f"{report['file']}: {report['rows']} rows, {report['columns']} columns, {report['chunks']} chunk(s)",
        f"  raw {raw:,} B -> file {total:,} B: ratio {report['ratio']:.3f} (every byte counted)",
    ]
    if "ratio_without_model" in report:
        lines.append(f"  ratio without the embedded model: {report['ratio_without_model']:.3f}")
    else:
        lines.append(f"  model is external (sha256 {report['model']['sha256'][:16]}…): not counted above")
        if "ratio_with_model" in report:
            lines.append(
                f"  ratio with the model's {report['model']['bytes']:,} B counted: {report['ratio_with_model']:.3f}"
            )
    for name, table in (report.get("tables") or {}).items():
        label = f"collection {name} (counter {table['counter']})" if name else "main table"
        lines.append(f"  {label}: {table['rows']:,} rows, {table['columns']} columns")
    lines.append("  bytes:")
    for name, size in report["bytes"].items():
        lines.append(f"    {name:<20} {size:>12,}  {100 * size / max(total, 1):5.1f} %")
    for label, q in (report.get("quantities") or {}).items():
        how = "its value coded, the column rebuilt" if q["mode"] == "value" else "checked, rows patched"
        lines.append(f"  quantity {label} {q['bound']}: in the section of {q['column']} ({how}), {q['bytes']:,} B")
    lines.append("  columns:")
    for name, col in report["per_column"].items():
        needs = col.get("depends_on") or []
        more = f"  needs {', '.join(needs[:4])}{f' +{len(needs) - 4}' if len(needs) > 4 else ''}" if needs else ""
        lines.append(
            f"    {name:<20} {col['bound']:<12} {col['predictor']:<9} {col['bytes']:>10,} B "
            f"{col['bits_per_value']:7.3f} bits/value{more}"
        )
    click.echo("\n".join(lines))


def _print_root_file_info(report: dict[str, Any]) -> None:
    raw, total = report["raw_bytes"], report["file_bytes"]
    lines = [
        f"{report['file']}: a whole ROOT file, {len(report['trees'])} tree(s), {len(report['objects'])} object(s)",
        f"  raw {raw:,} B -> file {total:,} B: ratio {report['ratio']:.3f} (every byte counted)",
    ]
    for name, tree in report["trees"].items():
        lines.append(f"  tree {name}: {tree['rows']:,} entries, {tree['columns']} columns, {tree['file_bytes']:,} B")
    for name, classname in report["objects"].items():
        lines.append(f"  object {name} ({classname}): copied")
    for name, what in report.get("changed", {}).items():
        lines.append(f"  object {name}: {what}")
    for name, why in report["left_out"].items():
        lines.append(f"  not kept: {name}: {why}")
    click.echo("\n".join(lines))
    for tree in report["trees"].values():
        click.echo("")
        _print_info(tree, False)


def _print_grid_info(report: dict[str, Any]) -> None:
    raw, total = report["raw_bytes"], report["file_bytes"]
    lines = [
        f"{report['file']}: {len(report['grids'])} grid(s)",
        f"  raw {raw:,} B -> file {total:,} B: ratio {report['ratio']:.3f} (every byte counted)",
    ]
    if report["model"]["sha256"]:
        where = "embedded" if report["model"]["embedded"] else "external, not counted above"
        lines.append(f"  conv model ({where}, sha256 {report['model']['sha256'][:16]}…)")
    lines.append("  bytes:")
    for name, size in report["bytes"].items():
        lines.append(f"    {name:<20} {size:>12,}  {100 * size / max(total, 1):5.1f} %")
    lines.append("  grids:")
    for name, g in report["grids"].items():
        lines.append(
            f"    {name:<12} {g['dtype']:<8} {'x'.join(map(str, g['shape']))}  {g['error']} ({g['bound']}), "
            f"blocks {'x'.join(map(str, g['block']))}: {g['predictors']}, {g['raw_values']} raw, "
            f"{g['bits_per_value']:.3f} bits/value"
        )
    click.echo("\n".join(lines))


if __name__ == "__main__":  # pragma: no cover
    main()
