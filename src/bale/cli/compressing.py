"""``bale compress`` and ``bale decompress`` (tables, datasets, whole ROOT files, fields; many files on Dask)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bale.cli.app import main
from bale.cli.options import (
    _FORMAT_EXT,
    _data_arguments,
    _data_options,
    _expand,
    _grid_config,
    _grid_options,
    _is_field,
    _print_info,
    _progress,
    _refuse_overwrite,
    _split,
    _stages,
)
from bale.cli.support import GreedyCommand, check_out_dir, decompressed_name
from bale.container import holds_fields
from bale.stages import show_stages, stage


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
    table: bool,
    block: int | None,
    predictor: str | None,
    **options: Any,
) -> None:
    """Compress DATA (Parquet, NumPy, HDF5, CSV, ROOT) into a .bale file, or many files into --out-dir.

    Put DATA first: --branches takes every value that follows it. Float arrays of 3+
    dimensions (.npz, .npy, HDF5, zarr) are coded as fields (grids, docs/grids.md); --grid
    codes 2-D ones so too, --table codes any array as columns.
    """
    with show_stages(_stages(options["no_progress"])):
        if _is_field(data, grid, table) and out_dir is None:
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
        report = run(data[0], out, model=model_path, kind="table", **arguments)  # _is_field decided it above
    _print_info(report, as_json)


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
    from bale.table import Dataset, Forest, Table

    with BaleReader(file) as reader:
        is_grid = holds_fields(reader.header)
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
    elif isinstance(data, Table):  # fields went to _decompress_grid above
        click.echo(f"{output}: {data.num_rows} rows, {len(data.columns)} columns")


def _decompress_grid(file: str, output: str | None, model_path: str | None, force: bool) -> None:
    from bale.container import BaleReader
    from bale.grid.api import decompress_grid

    named = output is not None
    if output is None:
        with BaleReader(file) as reader:
            fmt = (reader.header.get("source") or {}).get("format")
        output = str(decompressed_name(file, {"npy": ".npy", "hdf5": ".h5", "zarr": ".zarr"}.get(str(fmt), ".npz")))
    _refuse_overwrite(Path(output), force)
    grids = decompress_grid(file, output, model=model_path)
    click.echo(f"{output}: grids {', '.join(f'{n} {list(a.shape)}' for n, a in grids.items())}")
    if not named:
        click.echo(f"bale: no -o given: wrote {output} (beside FILE, never over the original)", err=True)
