"""``bale info`` and ``bale verify``: looking into a ``.bale`` file without writing anything."""

from __future__ import annotations

import json

import click

from bale.cli.app import main
from bale.cli.info_text import FULL_LIST_UP_TO
from bale.cli.options import _print_info


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
@click.option(
    "--columns",
    "all_columns",
    is_flag=True,
    help=f"List every column (files of more than {FULL_LIST_UP_TO} are summarized).",
)
def info(file: str, model_path: str | None, as_json: bool, all_columns: bool) -> None:
    """Show a .bale file's byte breakdown and honest compression ratio."""
    from bale.api import info as run

    _print_info(run(file, model=model_path), as_json, all_columns)


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
    if "trees" in result:
        click.echo(f"{file}: ok ({len(result['trees'])} tree(s), {result['objects']} object(s); every checksum "
                   "checked, every tree decoded, exact columns match their SHA-256)")  # fmt: skip
        return
    hashed = ", exact columns match their SHA-256" if result["exact_sha256_checked"] else ""
    if "grids" in result:
        shapes = ", ".join(f"{name} {'×'.join(map(str, shape))}" for name, shape in result["grids"].items())
        click.echo(f"{file}: ok (grids {shapes}; every checksum checked, decoded)")
        return
    click.echo(
        f"{file}: ok ({result['rows']} rows, {result['columns']} columns, {result['chunks']} chunk(s), "
        f"every checksum checked, decoded{hashed})"
    )
