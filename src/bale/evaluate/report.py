"""The report: one self-contained HTML page (figures embedded as base64 PNG), readable at a glance.

Order follows the questions a reader has: did every value keep its bound and did any
distribution move more than statistics would (the summary table), what happens to the
physics (masses, pair masses, response versus pt), are the correlations intact, how did
training go, then the details of each column and how to read it all. No scripts, no
external files: the page can be mailed or attached to an elog entry as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from bale.evaluate.html import CSS, anchor, esc, html_table, num, pm, result_cell
from bale.evaluate.report_sections import columns_section, correlation_section, physics_section, training_section
from bale.evaluate.results import EvaluationReport, WrittenFigure

__all__ = ["render_html", "summary_lines", "summary_text"]


def _verdict(metrics: EvaluationReport) -> tuple[str, str]:
    s = metrics["summary"]
    parts = []
    level = "ok"
    if s["with_bound"]:
        if s["failed"]:
            level = "bad"
            broken = f"{len(s['failed'])} of {s['with_bound']} columns"
            parts.append(f"{broken} break their bound ({s['violations']:,} values)")
        else:
            parts.append(f"all {s['with_bound']} columns with a bound keep it")
        if s["worst_column"]:
            parts.append(f"largest error / bound {num(s['worst_error_over_bound'])} ({s['worst_column']})")
    else:
        level = "warn"
        parts.append("no bounds known (two plain files): errors are measured, not judged")
    if s["flagged"]:
        level = "bad" if level == "bad" else "warn"
        parts.append(f"{len(s['flagged'])} column(s) moved more than statistics would: {', '.join(s['flagged'][:8])}")
    else:
        parts.append("no distribution moved more than statistics would")
    if s.get("quantities"):
        failed = s.get("quantities_failed") or []
        if failed:
            level = "bad"
            parts.append(f"{len(failed)} of {s['quantities']} quantities break their bound: {', '.join(failed)}")
        else:
            parts.append(f"all {s['quantities']} declared quantities keep their bound")
    beyond = s.get("beyond_edge") or {}
    if beyond:
        listed = ", ".join(f"{k} ({v:,})" for k, v in list(beyond.items())[:6])
        parts.append(f"values pushed beyond a hard edge of the original in {len(beyond)} column(s): {listed}")
    return level, "; ".join(parts) + "."


def summary_lines(metrics: EvaluationReport) -> list[str]:
    """The summary table as text lines (for the PDF's first page)."""
    lines = [f"original: {metrics['original']}", f"compared: {metrics['compared']}", ""]
    lines.append(f"{'column':<28} {'bound':<12} {'max/bound':>9} {'viol.':>7} {'result':>6} {'KS/stat':>8} {'flag':>5}")
    for name, c in metrics["columns"].items():
        result = "-" if c["pass"] is None else ("pass" if c["pass"] else "FAIL")
        ks = c["distribution"].get("ks_ratio")
        lines.append(
            f"{name[:28]:<28} {c['bound'] or 'unknown':<12} {num(c['max_error_over_bound']):>9} "
            f"{num(c['violations']):>7} {result:>6} {num(ks, 2):>8} {'FLAG' if c['distribution']['flag'] else '':>5}"
        )
    return lines


def summary_text(metrics: EvaluationReport, out_dir: str) -> str:
    """What the command prints: the verdict, the physics in one line per quantity, where the report is."""
    _, verdict = _verdict(metrics)
    lines = [f"{out_dir}/report.html: {verdict}"]
    for label, q in (metrics.get("quantities") or {}).items():
        where = f"{q['table']}: " if q["table"] else ""
        lines.append(
            f"  {where}quantity {label} {q['bound']}: {num(q['violations'])} violation(s) in {q['rows']:,} rows, "
            f"max error / bound {num(q['max_error_over_bound'])}"
        )
    for table, result in metrics["physics"].items():
        where = f"{table}: " if table else ""
        for m in result["masses"]:
            lines.append(
                f"  {where}{m['object']} mass {m['source']}: (m'-m)/m mean {num(m['mean'])}, "
                f"spread {num(m['spread68'])}"
            )
        for p in result["pairs"]:
            fit = p.get("fit")
            shift = f", peak shift {pm(fit['peak_shift'], fit['peak_shift_error'])}" if fit else ""
            lines.append(
                f"  {where}m({p['label']}): (m'-m)/m mean {num(p['relative_difference']['mean'])}, "
                f"spread {num(p['relative_difference']['spread68'])}{shift}"
            )
    return "\n".join(lines)


def _summary_section(metrics: EvaluationReport) -> str:
    level, text = _verdict(metrics)
    rows, classes = [], []
    multi = len(metrics["tables"]) > 1
    for name, c in metrics["columns"].items():
        d = c["distribution"]
        link = f'<a href="#{anchor(name)}">{esc(name)}</a>' if c.get("figure") else esc(name)
        exact = c["bound"] == "exact" and c["violations"] == 0
        rows.append(
            ([esc(c["table"] or "main")] if multi else [])
            + [
                link,
                esc(c["dtype"]),
                esc(c["bound"] or "unknown"),
                "bit-exact" if exact else num(c["max_error_over_bound"]),
                num(c["violations"]),
                result_cell(c),
                f"{num(d.get('ks'), 2)} / {num(d.get('ks_split'), 2)}",
                f"{num(d.get('chi2_ndf'), 2)} / {num(d.get('chi2_split'), 2)}",
                f'<span class="flag">FLAG ({esc(d.get("cause"))})</span>' if d["flag"] else "",
                num(c["range"]["beyond_edge"]) if c["range"]["beyond_edge"] else "",
            ]
        )
        classes.append("fail" if c["pass"] is False else ("flag" if d["flag"] else ""))
    header = (["table"] if multi else []) + [
        "column",
        "dtype",
        "bound",
        "max error / bound",
        "violations",
        "result",
        "KS D / stat.",
        "χ²/ndf / stat.",
        "flag",
        "beyond edge",
    ]
    tables = ", ".join(
        f"{'collection ' + esc(t) if t else 'main table'}: {v['rows']:,} rows" for t, v in metrics["tables"].items()
    )
    return (
        '<section id="summary"><h2>1. Summary</h2>'
        f'<p class="verdict {level}">{esc(text)}</p><p class="note">{tables}. '
        "“max error / bound” is over every value (≤ 1 keeps the bound); “stat.” is what two independent samples "
        "of the same size would show (from random halves of the original); a column is flagged when compression "
        'exceeds it (<a href="#method">rule</a>). “beyond edge”: decompressed values past a minimum or maximum '
        "that many original values sit on exactly (a fraction of exactly 1 coming back as 1.0004).</p>"
        + html_table(header, rows, left=2 if multi else 1, classes=classes)
        + _quantities_table(metrics)
        + "</section>"
    )


def _quantities_table(metrics: EvaluationReport) -> str:
    """Declared quantities (docs/codec.md), judged on every row (a pair mass: every pair) like columns."""
    quantities = metrics.get("quantities") or {}
    if not quantities:
        return ""
    rows = [
        [
            esc(label),
            esc(q["table"] or "main"),
            esc(q["bound"]),
            num(q["rows"]),
            num(q["max_error_over_bound"]),
            num(q["violations"]),
            result_cell(q),
        ]
        for label, q in quantities.items()
    ]
    header = ["quantity", "table", "bound", "values", "max error / bound", "violations", "result"]
    classes = ["fail" if q["pass"] is False else "" for q in quantities.values()]
    return "<h3>Declared quantities</h3>" + html_table(header, rows, left=2, classes=classes)


def _method_section(metrics: EvaluationReport) -> str:
    sampling = metrics["sampling"]
    return (
        '<section id="method"><h2>6. How to read this report</h2><ul>'
        "<li><b>Bound check</b>: every value; <i>max error / bound</i> is the largest |x′−x|/(b·|x|) for "
        "<code>rel=b</code> and |x′−x|/b for <code>abs=b</code>; NaN, ±inf and ±0 must come back bit for bit.</li>"
        "<li><b>Residual</b> x′−x and <b>response</b> (x′−x)/x: mean (a bias adds up over many events), RMS "
        "(smearing), max. Histograms: dashed lines at the bound.</li>"
        "<li><b>Distributions</b>: original (solid) and decompressed (dashed); the ratio panel's grey band is the "
        "original's statistical uncertainty per bin (1/√N).</li>"
        "<li><b>Flag rule</b>: the KS distance D(original, decompressed) and the two-sample χ²/ndf (50 quantile "
        "bins of the original) are compared with the same tests between two random halves of the original "
        "(median of 5 seeded splits; the KS distance scaled by 1/√2 to two samples of the full size). A column is "
        "flagged when either exceeds its baseline: compression moved the distribution more than an independent "
        "sample of the same size would. Values are paired, so p-values are not quoted. <i>levels</i>: the column's "
        "values sat exactly on a few levels (a discrete column, a default such as −1, a fraction of exactly 1) and "
        "now spread within the bound around them (exact comparisons such as <code>x == -1</code> change); "
        "<i>shape</i>: the distribution itself moved.</li>"
        f"<li><b>Sampling</b>: bound checks, error statistics and physics use every row; KS, χ², correlations and "
        f"figures use at most {sampling['max_rows']:,} rows per table, drawn with seed {sampling['seed']}.</li>"
        "</ul></section>"
    )


def render_html(metrics: EvaluationReport, images: Mapping[str, WrittenFigure]) -> str:
    """The whole report as one HTML string; ``images`` maps a figure's name to its base64 PNG and caption."""
    title = f"bale evaluation: {metrics['compared']} against {metrics['original']}"
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("summary", "Summary"),
            ("physics", "Physics"),
            ("correlations", "Correlations"),
            ("training", "Training"),
            ("columns", "Columns"),
            ("method", "How to read"),
        )
    )
    body = (
        f"<header><h1>bale evaluation</h1><p class='files'>original: {esc(metrics['original'])}<br>"
        f"compared: {esc(metrics['compared'])}<br>bale {esc(metrics['bale_version'])}</p><nav>{nav}</nav></header>"
        + _summary_section(metrics)
        + physics_section(metrics, images)
        + correlation_section(metrics, images)
        + training_section(metrics, images)
        + columns_section(metrics, images)
        + _method_section(metrics)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body>{body}</body></html>\n"
    )
