"""``bale evaluate`` (a decompression judged like a physicist) and ``bale bench`` (bale against its peers)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from bale.cli.app import main
from bale.cli.options import _config, _is_field, _split, _stages
from bale.cli.support import GreedyCommand, check_out_dir
from bale.fsutil import write_atomic
from bale.stages import show_stages, stage

log = logging.getLogger("bale")


@main.command(cls=GreedyCommand, short_help="Judge a decompression: metrics, plots and report.html.")
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
@click.option(
    "--columns",
    multiple=True,
    metavar="NAME...",
    help="Columns, or globs of ROOT branches, to compare (default: all): 'a,b' or a b.",
)
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
@click.option(
    "--grid", is_flag=True, help="ORIGINAL DECOMPRESSED are grid files (automatic for fields of 3+ dimensions)."
)
@click.option("--no-progress", is_flag=True, help="Do not say on stderr what each step does.")
def evaluate(
    files: tuple[str, ...],
    against: str | None,
    model_path: str | None,
    out_dir: str,
    pdf: bool,
    columns: tuple[str, ...],
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
        from bale.evaluate import evaluate_files
        from bale.evaluate.grid import evaluate_grid_files
        from bale.evaluate.inputs import parse_four_vector_options
        from bale.evaluate.report import summary_text
        from bale.grid.api import is_grid_file

        stage("evaluating %s against %s: results go to %s/", files[-1] if against is None else files[0],
              against or files[0], out_dir)  # fmt: skip

        original = files[0] if against is None else against
        if grid or (against is not None and is_grid_file(files[0])) or _is_field((original,), False, False):
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
        metrics = evaluate_files(
            files[0], files[1] if len(files) == 2 else None, out_dir, against=against, model=model_path,
            columns=_split(columns), tree=tree, errors=list(errors) or None,
            four_vectors=parse_four_vector_options(four_vectors) or None, config=config_path, pdf=pdf,
            max_rows=max_rows, plots=not no_plots, quantities=list(quantities) or None,
        )  # fmt: skip
        click.echo(summary_text(metrics, out_dir))
        if metrics["summary"]["failed"] or metrics["summary"]["quantities_failed"]:
            sys.exit(1)


@main.command(cls=GreedyCommand, short_help="Compare bale with other compressors on DATA.")
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
@click.option("--columns", multiple=True, metavar="NAME...", help="Columns to keep (default: all): 'a,b' or a b.")
@click.option("--tree", help="ROOT tree to read (default: Events, or the only one).")
@click.option("--rows", "max_rows", type=int, help="Use only the first N rows.")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="TOML config (bale's training).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write bench.json, bench.md and pareto.png here.")
@click.option("--time-limit", type=float, help="Seconds allowed to one method at one bound (default: no limit).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of markdown.")
@click.option(
    "--grid", is_flag=True, help="bale's grid codec against SZ3, ZFP, fpzip (automatic for fields of 3+ dimensions)."
)
def bench(
    data: str,
    errors: tuple[str, ...],
    methods: str | None,
    columns: tuple[str, ...],
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

    if _is_field((data,), grid, False):
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
    columns: tuple[str, ...],
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
