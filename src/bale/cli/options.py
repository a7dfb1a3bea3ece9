"""What the commands share: data and grid options, config overrides, output checks, progress, info text."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from bale.cli.support import check_output
from bale.fsutil import forbid_overwrite
from bale.io import FORMATS
from bale.presets import preset_names
from bale.reports import Info
from bale.stages import stage

log = logging.getLogger("bale")


_FORMAT_EXT = {name: extensions[0] for name, extensions in FORMATS.items()}  # one table of formats: bale.io


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
    click.option(
        "--columns",
        multiple=True,
        metavar="NAME...",
        help="Columns to keep (default: all); like --branches: 'a,b' or a b.",
    ),
    click.option(
        "--branches",
        multiple=True,
        metavar="NAME_OR_GLOB...",
        help="ROOT branches to compress, by name or glob: 'Jet_*' 'MET_*' or 'Jet_*,MET_*'; counters come along.",
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
    click.option(
        "--grid",
        is_flag=True,
        help="Code the float arrays as fields (grids), 2-D ones included; arrays of 3+ dimensions are "
        "detected as fields without it (docs/grids.md).",
    ),
    click.option(
        "--table", is_flag=True, help="Code the input as a table of columns, even float arrays of 3+ dimensions."
    ),
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


def _is_field(data: tuple[str, ...], grid: bool, table: bool) -> bool:
    """Whether DATA is coded as fields: --grid, --table, or what the one input holds (bale.io.data_kind)."""
    if grid and table:
        raise click.UsageError("--grid and --table contradict each other: choose one")
    if grid or table or len(data) != 1:
        return grid
    from bale.io.data_kind import detect_kind

    if detect_kind(data[0]) != "field":
        return False
    stage("%s holds float arrays of 3+ dimensions: coding them as fields (--table codes them as columns)", data[0])
    return True


def _split(values: str | tuple[str, ...] | None) -> list[str] | None:
    """Names given as 'a,b', as a b (greedy options), or both: one convention for every list option."""
    items = [values] if isinstance(values, str) else list(values or ())
    names = [c.strip() for v in items for c in v.split(",") if c.strip()]
    return names or None


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


def _grid_config(options: dict[str, Any], block: int | None, predictor: str | None) -> Any:
    return _config(
        options["config_path"],
        grid__block=block,
        grid__predictor=predictor,
        grid__epochs=options["epochs"],
        grid__latent_dim=options["latent_dim"],
        train__seed=options["seed"],
    )


def _print_info(report: Info, as_json: bool, all_columns: bool = False) -> None:
    from bale.cli.info_text import grid_lines, info_lines, root_file_lines

    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif "grids" in report:
        click.echo("\n".join(grid_lines(report)))
    elif "trees" in report:
        click.echo("\n".join(root_file_lines(report)))
        for tree in report["trees"].values():
            click.echo("")
            _print_info(tree, False, all_columns)
    else:
        click.echo("\n".join(info_lines(report, all_columns)))
