"""The evaluation: per table, every column's errors and distributions, the physics, the training record.

Large tables are handled in two ways at once: everything that checks a promise (the
bound, violations, largest error, residual and response statistics, the physics
quantities) runs on every value, while the distribution tests, the correlation matrices
and the figures use a seeded random subsample of ``max_rows`` rows per table — enough for
a KS distance of ~0.3 % and a picture, and the same rows on every run.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from bale._version import __version__
from bale.bounds import Bound, parse_bound, parse_bound_options, resolve_bounds
from bale.errors import BaleInputError
from bale.evaluate import inputs, physics, physics_plots, report
from bale.evaluate import plots as plots_module
from bale.evaluate.metrics import column_metrics, correlation_difference
from bale.evaluate.quantities import quantity_metrics, quantity_specs
from bale.evaluate.results import EvaluationReport, PhysicsResult, Summary, TrainingRecord
from bale.evaluate.stats import compare_distributions
from bale.fsutil import write_atomic
from bale.models import CompressionModel
from bale.models.bundle import DatasetModel
from bale.stages import stage
from bale.table import MAIN, Dataset

__all__ = ["DEFAULT_MAX_ROWS", "evaluate", "evaluate_files"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
DEFAULT_MAX_ROWS = 200_000
HistoryLike = CompressionModel | DatasetModel | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def _bounds(bounds: Mapping[str, Bound | str] | None) -> dict[str, Bound]:
    return {k: v if isinstance(v, Bound) else parse_bound(v) for k, v in (bounds or {}).items()}


def _history(history: HistoryLike) -> tuple[dict[str, TrainingRecord], str | None]:
    """Training records per table from a model, a ``{table: record}`` mapping or one table's epoch list."""
    if history is None or isinstance(history, (CompressionModel, DatasetModel)):
        return inputs.training_records(history)
    if isinstance(history, Mapping):
        if "history" in history:  # one table's record
            return {MAIN: cast(TrainingRecord, dict(history))}, None
        return {str(k): cast(TrainingRecord, dict(v)) for k, v in history.items()}, None
    return {MAIN: {"history": [dict(h) for h in history], "best_epoch": None}}, None


def _aligned(original: Dataset, decoded: Dataset) -> list[tuple[str, list[str]]]:
    """Per table, the columns both sides have; the tables and their row counts must agree."""
    skipped = [t for t in original.tables if t not in decoded.tables]
    if skipped:
        log.warning("tables only in the original, not compared: %s", [t or "main" for t in skipped])
    result = []
    for name, table in original.tables.items():
        if name in skipped:
            continue
        other = decoded.tables[name]
        if table.num_rows != other.num_rows:
            where = f"collection {name!r}" if name else "the table"
            raise BaleInputError(f"{where} has {table.num_rows} rows in the original, {other.num_rows} decompressed")
        common = [c for c in table.columns if c in other.columns]
        left_out = sorted(set(table.columns) ^ set(other.columns))
        if left_out:
            log.info("comparing %d common columns; only on one side: %s", len(common), left_out[:10])
        result.append((name, common))
    if not any(columns for _, columns in result):
        raise BaleInputError("the two sides have no column in common")
    return result


def _sample(n: int, max_rows: int, seed: int) -> np.ndarray | None:
    """Sorted row indices of a seeded random subsample, or ``None`` for all rows."""
    if n <= max_rows:
        return None
    return np.sort(np.random.default_rng([seed, n]).choice(n, size=max_rows, replace=False))


def _rng(seed: int, name: str) -> np.random.Generator:
    """A generator per column, so that its split-half baseline does not depend on the other columns."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _pick(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


def _vectors(table: str, names: Sequence[str], wanted: Mapping[str, Any] | None) -> list[physics.FourVector]:
    if wanted:
        vectors = [physics.parse_four_vector(name, spec) for name, spec in wanted.items()]
        return [v for v in vectors if all(c in names for c in v.columns.values())]
    return physics.detect_four_vectors(names, table)


def _physics(
    table: str,
    original: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    counts: np.ndarray | None,
    vectors: list[physics.FourVector],
    figures: plots_module.Figures,
    bounds: Mapping[str, Bound],
) -> PhysicsResult:
    """Masses, pair masses and response versus pt of one table's objects, with their figures."""
    result: PhysicsResult = {"objects": [], "masses": [], "pairs": [], "response_vs_pt": []}
    prefix = f"{table}_" if table else ""
    for vec in vectors:
        result["objects"].append({"name": vec.name, "kind": vec.kind, "columns": vec.columns})
        stats, rel = physics.mass_difference(original, decoded, vec)
        relative = [bounds[c].value for c in vec.columns.values() if c in bounds and bounds[c].mode == "rel"]
        conditioning = stats.get("conditioning")
        if conditioning is not None and len(relative) == len(vec.columns):
            stats["expected_error"] = conditioning * max(relative)  # order of magnitude of (m'-m)/m
        caption = f"Relative mass difference, {vec.label}"
        stats["figure"] = figures.add(
            f"{prefix}mass_{vec.name}_{vec.kind}",
            partial(physics_plots.mass_difference_figure, vec.label, rel, stats),
            caption,
        )["name"]
        result["masses"].append(stats)
        response = physics.response_vs_pt(original, decoded, vec)
        if response["edges"]:
            response["figure"] = figures.add(
                f"{prefix}response_{vec.name}_{vec.kind}",
                partial(physics_plots.response_vs_pt_figure, vec.label, response),
                f"Response versus pt, {vec.label}",
            )["name"]
            result["response_vs_pt"].append(response)
    pair_specs: list[tuple[str, physics.FourVector, physics.FourVector, Any]] = [
        (f"{a.name} + {b.name} ({a.kind})", a, b, None) for a, b in physics.numbered_pairs(vectors)
    ]
    if counts is not None:
        for vec in vectors:
            if vec.name[-1:].isdigit():
                continue  # numbered objects already come in pairs, one pair per row
            pt = np.asarray(physics.momenta(original, vec).pt, dtype=np.float64)
            rows = physics.leading_pairs(pt, counts)
            if rows[0].size:
                pair_specs.append((f"leading two {vec.name} ({vec.kind})", vec, vec, rows))
    for label, first, second, rows in pair_specs:
        pair, masses = physics.pair_mass(original, decoded, first, second, rows)
        pair["label"] = label
        pair["figure"] = figures.add(
            f"{prefix}pair_{label}",
            partial(physics_plots.pair_mass_figure, label, masses, pair),
            f"Invariant mass, {label}",
        )["name"]
        result["pairs"].append(pair)
    return result


def evaluate(
    original: Any,
    decompressed: Any,
    out_dir: PathLike,
    *,
    bounds: Mapping[str, Bound | str] | None = None,
    four_vectors: Mapping[str, Any] | None = None,
    history: HistoryLike = None,
    pdf: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
    labels: Mapping[str, str] | None = None,
    plots: bool = True,
    quantities: Sequence[str] | None = None,
) -> EvaluationReport:
    """Compare ``decompressed`` with ``original`` and write ``metrics.json``, ``plots/``, ``report.html`` (and PDF).

    Both sides are anything bale reads (Table, Dataset, path, pandas, dict of arrays); a
    Dataset is evaluated table by table, its collections' objects paired per event through
    their counters. ``bounds`` are per column (``{"pt": "rel=1e-3"}``); without one a
    column's errors are measured but not judged. ``four_vectors`` replaces the detection
    by column names (see :mod:`bale.evaluate.physics`). ``history`` is a model (its
    training record is plotted) or a record. ``plots=False`` skips the figures (the
    slow part): metrics and a report of tables only. ``quantities``: bounds on quantities of
    several columns (``"mass(energy,px,py,pz):rel=1e-3"``), judged on every row like columns.
    Returns the metrics written to JSON.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    left = inputs.as_evaluation_dataset(original)
    right = inputs.as_evaluation_dataset(decompressed)
    plan = _aligned(left, right)
    known = _bounds(bounds)
    specs = quantity_specs(quantities or [])
    records, note = _history(history)
    figures = plots_module.Figures(out / "plots", out / "report.pdf" if pdf else None, enabled=plots)
    metrics: EvaluationReport = {
        "bale_version": __version__,
        "original": (labels or {}).get("original", "original"),
        "compared": (labels or {}).get("compared", "decompressed"),
        "sampling": {"max_rows": max_rows, "seed": seed},
        "tables": {},
        "columns": {},
        "correlation": {},
        "physics": {},
        "quantities": {},
    }
    try:
        for table, names in plan:
            cols0 = left.tables[table].columns
            cols1 = right.tables[table].columns
            n = left.tables[table].num_rows
            rows = _sample(n, max_rows, seed)
            counter = left.counters.get(table)
            stage("comparing the %d columns of %s: errors, distributions%s", len(names),
                  f"collection {table}" if table else "the table", ", figures" if plots else "")  # fmt: skip
            metrics["tables"][table] = {
                "rows": n,
                "columns": len(names),
                "sampled_rows": n if rows is None else int(rows.size),
            }
            if counter:
                metrics["tables"][table]["counter"] = counter
            for name in names:
                x, y = cols0[name], cols1[name]
                bound = known.get(name)
                entry = column_metrics(x, y, bound)
                entry["table"] = table
                entry["distribution"] = compare_distributions(_pick(x, rows), _pick(y, rows), _rng(seed, name))
                exact_ok = entry["violations"] == 0 and bound is not None and bound.mode == "exact"
                if not exact_ok and not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                    entry["figure"] = figures.add(
                        f"column_{name}",
                        partial(plots_module.column_figure, name, _pick(x, rows), _pick(y, rows), bound, entry),
                        f"Column {name}",
                    )["name"]
                metrics["columns"][name] = entry
            floats = [c for c in names if cols0[c].dtype.kind == "f"]
            corr = correlation_difference(cols0, cols1, floats, rows)
            if len(corr["columns"]) >= 2:
                where = f"collection {table}" if table else "table"
                title = f"Δ correlation, {where} (max |Δρ| {corr['max_abs_diff']:.2g})"
                corr["figure"] = figures.add(
                    f"correlation_{table or 'table'}",
                    partial(plots_module.correlation_figure, title, corr["columns"], corr["diff"]),
                    title,
                )["name"]
            metrics["correlation"][table] = corr
            counts = None
            if counter:
                counts = np.asarray(left.main.columns[counter], dtype=np.int64)
            else:
                found = physics.event_counts({c: cols0[c] for c in names})
                if found is not None:
                    metrics["tables"][table]["event_column"] = found[0]
                    counts = found[1]
            metrics["quantities"].update(quantity_metrics(table, cols0, cols1, specs, counts if counter else None))
            vectors = _vectors(table, names, four_vectors)
            if vectors:
                where = f"collection {table}" if table else "the table"
                stage("physics of %s: %s", where, ", ".join(v.name for v in vectors))
                metrics["physics"][table] = _physics(table, cols0, cols1, counts, vectors, figures, known)
        metrics["training"] = {"tables": records, "note": note}
        if records:
            metrics["training"]["figure"] = figures.add(
                "training_history", partial(plots_module.history_figure, records), "Training history"
            )["name"]
        metrics["summary"] = _summary(metrics)
        figures.add_text_page("bale evaluation: summary", report.summary_lines(metrics))
    finally:
        figures.close()
    images = {f["name"]: f for f in figures.written}
    metrics["figures"] = {name: str(Path(f["file"]).relative_to(out)) for name, f in images.items()}
    clean: EvaluationReport = inputs.jsonable(metrics)
    stage("writing %s and %s", out / "metrics.json", out / "report.html")
    write_atomic(out / "metrics.json", json.dumps(clean, indent=1, allow_nan=False))
    write_atomic(out / "report.html", report.render_html(clean, images))
    log.info("wrote %s: metrics.json, report.html, %d figures", out, len(images))
    return clean


def _summary(metrics: EvaluationReport) -> Summary:
    """The verdict at a glance: columns within bound, violated, unknown, flagged; the worst ratio."""
    columns = metrics["columns"]
    judged = {k: v for k, v in columns.items() if v["pass"] is not None}
    reached = {k: v["max_error_over_bound"] for k, v in judged.items()}
    ratios = {k: float(r) for k, r in reached.items() if r is not None and np.isfinite(r)}
    worst = max(ratios, key=ratios.__getitem__) if ratios else None
    return {
        "columns": len(columns),
        "with_bound": len(judged),
        "passed": sum(1 for v in judged.values() if v["pass"]),
        "failed": sorted(k for k, v in judged.items() if not v["pass"]),
        "flagged": sorted(k for k, v in columns.items() if v["distribution"]["flag"]),
        "beyond_edge": {k: v["range"]["beyond_edge"] for k, v in columns.items() if v["range"]["beyond_edge"]},
        "violations": int(sum(v["violations"] or 0 for v in judged.values())),
        "worst_column": worst,
        "worst_error_over_bound": ratios[worst] if worst else float("nan"),
        "quantities": len(metrics.get("quantities") or {}),
        "quantities_failed": sorted(k for k, v in (metrics.get("quantities") or {}).items() if not v["pass"]),
    }


def evaluate_files(
    original_path: PathLike,
    other_path: PathLike | None = None,
    out_dir: PathLike = "bale-evaluation",
    *,
    against: PathLike | None = None,
    model: PathLike | None = None,
    columns: Sequence[str] | None = None,
    tree: str | None = None,
    errors: Sequence[str] | None = None,
    four_vectors: Mapping[str, Any] | None = None,
    config: PathLike | None = None,
    pdf: bool = False,
    max_rows: int | None = None,
    seed: int | None = None,
    plots: bool = True,
    quantities: Sequence[str] | None = None,
) -> EvaluationReport:
    """The command's two forms: ``ORIGINAL DECOMPRESSED`` and ``FILE.bale --against ORIGINAL``.

    Arguments come in the command line's order: with ``against``, ``original_path`` is the
    file to judge and ``against`` the original. A ``.bale`` file (found by its magic bytes,
    on either side) is decompressed in memory, its header gives the bounds, and ``model``
    (needed for a file compressed with an external model) gives the training history.
    ``errors`` (``["rel=1e-3", "mass:rel=1e-4"]``) sets or overrides bounds, e.g. for two
    plain files. ``columns`` are names, or globs for ROOT branches. ``config`` is a TOML
    file whose ``[evaluate]`` section names four-vectors, ``max_rows`` and ``seed``.
    ``quantities`` adds to those a ``.bale`` file's header declares (docs/codec.md).
    """
    if against is not None:
        if other_path is not None:
            raise BaleInputError("give ORIGINAL DECOMPRESSED, or one file with --against ORIGINAL, not both")
        original_path, other_path = against, original_path
    if other_path is None:
        raise BaleInputError("nothing to compare: give ORIGINAL DECOMPRESSED, or FILE.bale --against ORIGINAL")
    if inputs.is_bale_file(original_path) and not inputs.is_bale_file(other_path):
        original_path, other_path = other_path, original_path  # FILE.bale ORIGINAL: the order is clear
    options = inputs.read_options(config)
    bounds: dict[str, Bound] = {}
    declared: list[str] = []
    history: CompressionModel | DatasetModel | None = None
    if model is not None:
        from bale.api import load_model

        history = load_model(model)
    if inputs.is_bale_file(other_path):
        stage("decompressing %s in memory", other_path)
        decoded = inputs.decompress_bale(other_path, model)
        bounds = inputs.file_bounds(other_path)
        declared = inputs.file_quantities(other_path)
        if history is None:  # its embedded model; bale strips the training record from it
            history = inputs.embedded_model(other_path)
    else:
        stage("reading %s", other_path)
        decoded = inputs.load_side(other_path, columns, tree)
    wanted = list(columns) if columns else None
    if wanted is None and inputs.is_root(original_path):
        # read only the branches that came back, not every branch of a NanoAOD file
        wanted = [c for t in decoded.tables.values() for c in t.columns]
    stage("reading the original %s", original_path)
    original = inputs.load_side(original_path, wanted, tree)
    if errors:
        default, per_column = parse_bound_options(errors)
        dtypes = {c: v.dtype for t in original.tables.values() for c, v in t.columns.items()}
        per_column = {c: b for c, b in per_column.items() if c in dtypes}
        if default is not None:
            bounds.update(resolve_bounds(dtypes, default, per_column))
        else:
            bounds.update(per_column)
    return evaluate(
        original,
        decoded,
        out_dir,
        bounds=bounds,
        four_vectors=four_vectors or options.four_vectors or None,
        history=history,
        pdf=pdf,
        max_rows=max_rows or options.max_rows or DEFAULT_MAX_ROWS,
        seed=seed if seed is not None else (options.seed or 0),
        labels={"original": str(original_path), "compared": str(other_path)},
        plots=plots,
        quantities=[*declared, *(quantities or [])],
    )
