"""Regenerate ``docs/benchmarks.md`` and its plots: ``bale bench`` on every shared table.

    python benchmarks/bench_all.py [--data-dir DIR] [--tables NAME ...] [--errors rel=1e-2 rel=1e-3 rel=1e-4]
                                   [--particles-rows N] [--time-limit S] [--docs DIR]

Each table is benchmarked with every method of :mod:`bale.bench` at each bound (floats; integers exact),
its results written to ``docs/benchmarks/NAME.json`` and its Pareto plot to ``docs/benchmarks/NAME.png``;
then ``docs/benchmarks.md`` is rebuilt from every JSON file there, so a run over some tables keeps the
others' results (``--markdown-only`` rebuilds it and the plots from the JSON files alone). About 20
minutes on 2 cores. While the source changes under you, benchmark a fixed commit from a copy::

    git archive HEAD src | tar -x -C /tmp/snap && BALE_SOURCE_COMMIT=$(git rev-parse --short HEAD) \
        PYTHONPATH=/tmp/snap/src python benchmarks/bench_all.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bale.bench import METHODS, headline, pareto_plot, run_bench, to_json, to_markdown
from bale.bench.report import cell

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DOCS = ROOT / "docs"
ERRORS = ["rel=1e-2", "rel=1e-3", "rel=1e-4"]
HEADLINE = "rel=0.001"
PARTICLES_ROWS = 250_000
# name -> (file, ROOT tree, title)
TABLES: dict[str, tuple[str, str | None, str]] = {
    "pythia_ttbar_jets": ("pythia_ttbar_jets.parquet", None, "Pythia tt̄ jets"),
    "pythia_qcd_jets": ("pythia_qcd_jets.parquet", None, "Pythia QCD jets"),
    "pythia_ttbar_particles": ("pythia_ttbar_particles.parquet", None, "Pythia tt̄ particles"),
    "uproot-Zmumu": ("uproot-Zmumu.root", "events", "Z→μμ (flat)"),
    "nanoAOD_flat": ("nanoAOD_2015_CMS_Open_Data_ttbar.root", "Events", "CMS NanoAOD tt̄, flat branches"),
    "uproot-HZZ_flat": ("uproot-HZZ.root", "events", "H→ZZ→4ℓ, flat branches"),
    "physlite_flat": ("uproot-physlite-rntuple_v1-0-0-0.root", "EventData", "ATLAS PHYSLITE (RNTuple), flat fields"),
    "CFD_animation": ("CFD_animation.npz", None, "CFD animation (60 frames of 50×50)"),
    "CFD_still": ("CFD_still.npz", None, "CFD still (1 frame of 50×50)"),
}
MAX_JSON_COLUMNS = 64  # per-column details kept in the JSON of tables up to this width

log = logging.getLogger("bench_all")


def _ratio(entry: dict[str, Any] | None) -> str:
    return f"{entry['ratio']:.2f}" if entry else "–"


def _named(entry: dict[str, Any] | None) -> str:
    return f"{entry['ratio']:.2f} ({entry['name']})" if entry else "–"


def _summary(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| table | rows × cols | bale | bale, no model | bale, external model | best classical | bale / best | "
        "SZ3 | ZFP | fpzip | Baler-AE (rel err reached; violations) |",
        "|---|---|--:|--:|--:|---|--:|---|---|--:|---|",
    ]
    for name, res in results.items():
        top = next((h for h in headline(res) if h["spec"] == HEADLINE), None)
        if top is None:
            continue
        ae = top["baler_ae"]
        ae_text = (
            f"{ae['ratio']:.2f} (max {float(ae['max_rel_err']):.1e}, median {float(ae['median_rel_err']):.1e}; "
            f"{ae['violations']:,} violations)"
            if ae
            else "–"
        )
        over = f"{top['bale_over_best_classical']:.2f}" if top["bale_over_best_classical"] else "–"
        no_model = f"{top['bale_without_model']:.2f}" if top["bale_without_model"] else "–"
        lines.append(
            f"| [{res['title']}](#{name.lower()}) | {res['rows']:,} × {len(res['columns'])} | "
            f"**{_ratio(top['bale'])}** | {no_model} | {_ratio(top['bale_external'])} | "
            f"{_named(top['best_classical'])} | {over} | {_named(top['sz3'])} | {_named(top['zfp'])} | "
            f"{_ratio(top['fpzip'])} | {ae_text} |"
        )
    return lines


def _per_bound(results: dict[str, dict[str, Any]]) -> list[str]:
    """bale against the best peer (every classical method that met the bound) at every bound of every table."""
    specs = list(dict.fromkeys(h["spec"] for res in results.values() for h in headline(res)))
    lines = [
        "| table | " + " | ".join(f"{s}: bale | best peer | bale / best" for s in specs) + " |",
        "|---|" + "--:|---|--:|" * len(specs),
    ]
    for name, res in results.items():
        tops = {h["spec"]: h for h in headline(res)}
        cells = []
        for spec in specs:
            top = tops.get(spec)
            over = top and top["bale_over_best_classical"]
            cells += [_ratio(top and top["bale"]), _named(top and top["best_classical"]),
                      f"**{over:.2f}**" if over else "–"]
        lines.append(f"| [{res['title']}](#{name.lower()}) | " + " | ".join(cells) + " |")
    return lines


def _violations(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, res in results.items():
        for setting in res["settings"]:
            for row in setting["methods"]:
                if row.get("applicable") and "error" not in row and row["violations"]:
                    lines.append(f"- {name}, {setting['spec']}: **{row['name']}** {row['violations']:,} values "
                                 f"in {len(row['columns_violated'])} column(s)")
                if "error" in row:
                    lines.append(f"- {name}, {setting['spec']}: **{row['name']} failed**: {row['error'][:160]}")
    return lines


def _machine(machine: dict[str, Any]) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    missing = [k for k, v in machine["versions"].items() if not v]
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['memory_gib']} GiB memory; {machine['os']}; Python {machine['python']}",
        f"- versions: {versions}" + (f" (not installed: {', '.join(missing)})" if missing else ""),
    ]


def _commit() -> str:
    """The commit of the bale that ran (and whether its source differed from it), when git can tell."""
    import bale

    src = Path(bale.__file__).resolve().parents[1]
    if os.environ.get("BALE_SOURCE_COMMIT"):  # a copy of the source, exported from this commit
        return f"bale {bale.__version__} at commit {os.environ['BALE_SOURCE_COMMIT']}, plus the bench package"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"bale {bale.__version__}"
    where = "" if src == ROOT / "src" else f", run from a copy of its source in {src}"
    return f"bale {bale.__version__} at commit {sha}" + (" with uncommitted changes in src/" if dirty else "") + where


def build_markdown(docs: Path, errors: list[str]) -> str:
    folder = docs / "benchmarks"
    results = {n: json.loads((folder / f"{n}.json").read_text()) for n in TABLES if (folder / f"{n}.json").is_file()}
    if not results:
        raise SystemExit(f"no results in {folder}")
    first = next(iter(results.values()))
    methods = {r["name"]: r for res in results.values() for s in res["settings"] for r in s["methods"]}
    lines = [
        "# Benchmarks: bale against classical and learned compressors",
        "",
        "Generated by `python benchmarks/bench_all.py` (all tables, bounds "
        f"{', '.join(errors)} on float columns, integers exact; about "
        f"{sum(r['seconds'] for r in results.values()) / 60:.0f} minutes). One table by hand: "
        "`bale bench TABLE -e rel=1e-2 -e rel=1e-3 -e rel=1e-4 --out-dir DIR`.",
        "",
        "Every method compresses the whole table into what it alone needs to decompress it, and **every byte** is "
        "counted (headers, side streams, exception lists, models); the output is decoded from those bytes and "
        "**every value** of every column is checked against the bound (`bale.bounds.violations`: NaN, ±inf and ±0 "
        "bit-exact). A method that misses the bound is listed with its violations, never dropped.",
        "",
        "## Machine",
        "",
        *_machine(first["machine"]),
        f"- code: {first.get('code', 'not recorded')}",
        "- Every method runs single-threaded, in its own forked process, one at a time. The machine's 2 cores "
        "are shared with other work, so **timings are noisy** (±30 % is usual); ratios and errors are exact "
        "and repeatable. MB/s = raw bytes / 10⁶ / seconds of one call on the whole table. Peak memory: the "
        "step's peak resident set above the resident size before it (`VmHWM` after resetting it through "
        "`/proc/self/clear_refs`), so the memory a step needs beyond the input already in memory.",
        "- `bale` (model embedded): the compress time includes training; `bale-external`: the model is trained "
        "beforehand (its time shown as `train`), the file leaves it out (`with model` counts it).",
        "",
        f"## Summary at {HEADLINE} (floats), integers exact",
        "",
        "Ratio = raw bytes / compressed bytes. \"best classical\" is the best of every lossless (zstd, lzma, "
        "blosc2, pcodec), BitRound (+ zstd, blosc2 or pcodec), SZ3, ZFP and fpzip method that meets the bound on "
        "every value; Baler-AE is the autoencoder without "
        "residuals, reported with the error it reaches.",
        "",
        *_summary(results),
        "",
        "## bale against the best peer, per bound",
        "",
        "The best peer is the best of every classical method (lossless, BitRound + zstd/blosc2/pcodec, pcodec, "
        "SZ3, ZFP, fpzip) that meets the bound on every value, at that bound, in the same run.",
        "",
        *_per_bound(results),
        "",
        "## Bound violations",
        "",
        "Any value of any method that misses its bound (bale: none expected, and a violation would be a bug):",
        "",
        *(_violations(results) or ["- none"]),
        "",
        "## Methods",
        "",
        "| method | family | what |",
        "|---|---|---|",
        *[f"| {n} | {m.family} | {cell(m.description)} |" for n, m in METHODS.items() if n in methods],
        "",
        "Lossless methods and the autoencoder do not depend on the bound: they run once and are checked against "
        "each bound (`same run as`). Tables from ROOT files with jagged collections are benchmarked on their "
        "flat branches (one row per event, counters included); the collections are left out.",
        "",
        "## Tables",
    ]
    for name, res in results.items():
        res = {**res, "title": f"{res['title']}"}
        lines += ["", f'<a id="{name.lower()}"></a>', ""]
        lines.append(to_markdown(res, heading="###", plot=f"benchmarks/{name}.png").rstrip())
        lines.append(f"\n({res['seconds']:.0f} s for this table.)")
    if first.get("skipped"):
        lines += ["", "Skipped everywhere: " + "; ".join(f"{k} ({v})" for k, v in first["skipped"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="folder of benchmarks.md")
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    ap.add_argument("--errors", nargs="+", default=ERRORS)
    ap.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    ap.add_argument("--particles-rows", type=int, default=PARTICLES_ROWS,
                    help="rows of the particle table used (the first N; 0: all)")
    ap.add_argument("--time-limit", type=float, default=900, help="seconds per method and bound group")
    ap.add_argument("--markdown-only", action="store_true", help="rebuild benchmarks.md and plots from the JSON files")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("bale").setLevel(logging.WARNING)
    logging.getLogger("bale.bench").setLevel(logging.INFO)
    folder = args.docs / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    if not args.markdown_only:
        for name in args.tables:
            file, tree, title = TABLES[name]
            rows = args.particles_rows or None if name == "pythia_ttbar_particles" else None
            started = time.perf_counter()
            log.info("== %s", name)
            results = run_bench(args.data_dir / file, args.errors, methods=args.methods, tree=tree, max_rows=rows,
                                time_limit=args.time_limit, title=title)
            results["code"] = _commit()
            (folder / f"{name}.json").write_text(to_json(results, max_columns=MAX_JSON_COLUMNS))
            pareto_plot(results, folder / f"{name}.png")
            log.info("== %s done in %.0f s", name, time.perf_counter() - started)
    else:  # redraw the plots from the JSON files (and write those again, compact where wide)
        for name in TABLES:
            if (folder / f"{name}.json").is_file():
                results = json.loads((folder / f"{name}.json").read_text())
                (folder / f"{name}.json").write_text(to_json(results, max_columns=MAX_JSON_COLUMNS))
                pareto_plot(results, folder / f"{name}.png")
    (args.docs / "benchmarks.md").write_text(build_markdown(args.docs, args.errors))
    log.info("wrote %s", args.docs / "benchmarks.md")


if __name__ == "__main__":
    main()
