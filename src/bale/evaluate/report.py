"""The report: one self-contained HTML page (figures embedded as base64 PNG), readable at a glance.

Order follows the questions a reader has: did every value keep its bound and did any
distribution move more than statistics would (the summary table), what happens to the
physics (masses, pair masses, response versus pt), are the correlations intact, how did
training go, then the details of each column and how to read it all. No scripts, no
external files: the page can be mailed or attached to an elog entry as it is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_html", "summary_lines", "summary_text"]

_CSS = """
body{font-family:"Helvetica Neue",Arial,sans-serif;margin:0 auto;max-width:1250px;padding:0 1.2em 3em;color:#222}
h1{margin:.6em 0 .1em}h2{border-bottom:2px solid #5790fc;padding-bottom:.15em;margin-top:1.8em}
h3{margin:1.3em 0 .4em}nav a{margin-right:1.1em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef2fb}td.l,th.l{text-align:left}
tr.fail td{background:#fde2e1}tr.flag td{background:#fff1d6}
.pass{color:#137333;font-weight:bold}.fail{color:#c5221f;font-weight:bold}.flag{color:#b06000;font-weight:bold}
.verdict{font-size:1.15em;padding:.5em .8em;border-radius:4px;display:inline-block}
.verdict.ok{background:#e6f4ea}.verdict.bad{background:#fde2e1}.verdict.warn{background:#fff1d6}
figure{margin:.6em 0 1.4em}figure img{max-width:100%;border:1px solid #e3e3e3}
figcaption{font-size:12px;color:#555}.note{color:#555;font-size:14px}.files{font-family:monospace;font-size:13px}
code{background:#f3f3f3;padding:0 3px}
"""


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def _pm(value: Any, error: Any) -> str:
    return f"{_num(value, 2)} ± {_num(error, 1)}" if value is not None else "—"


def _e(text: Any) -> str:
    return html.escape(str(text))


def _anchor(name: str) -> str:
    return "col-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _figure(images: Mapping[str, Mapping[str, str]], name: str | None) -> str:
    if not name or name not in images:
        return ""
    image = images[name]
    caption = _e(image["caption"])
    return (
        f'<figure><img src="data:image/png;base64,{image["png_base64"]}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, classes: Sequence[str] = ()) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text, cells are already escaped."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if r < len(classes) and classes[r] else ""
        cells = "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _result(column: Mapping[str, Any]) -> str:
    if column["pass"] is None:
        return "—"
    return '<span class="pass">pass</span>' if column["pass"] else '<span class="fail">FAIL</span>'


def _verdict(metrics: Mapping[str, Any]) -> tuple[str, str]:
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
            parts.append(f"largest error / bound {_num(s['worst_error_over_bound'])} ({s['worst_column']})")
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


def summary_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The summary table as text lines (for the PDF's first page)."""
    lines = [f"original: {metrics['original']}", f"compared: {metrics['compared']}", ""]
    lines.append(f"{'column':<28} {'bound':<12} {'max/bound':>9} {'viol.':>7} {'result':>6} {'KS/stat':>8} {'flag':>5}")
    for name, c in metrics["columns"].items():
        result = "-" if c["pass"] is None else ("pass" if c["pass"] else "FAIL")
        ks = c["distribution"].get("ks_ratio")
        lines.append(
            f"{name[:28]:<28} {c['bound'] or 'unknown':<12} {_num(c['max_error_over_bound']):>9} "
            f"{_num(c['violations']):>7} {result:>6} {_num(ks, 2):>8} {'FLAG' if c['distribution']['flag'] else '':>5}"
        )
    return lines


def summary_text(metrics: Mapping[str, Any], out_dir: str) -> str:
    """What the command prints: the verdict, the physics in one line per quantity, where the report is."""
    _, verdict = _verdict(metrics)
    lines = [f"{out_dir}/report.html: {verdict}"]
    for label, q in (metrics.get("quantities") or {}).items():
        where = f"{q['table']}: " if q["table"] else ""
        lines.append(
            f"  {where}quantity {label} {q['bound']}: {_num(q['violations'])} violation(s) in {q['rows']:,} rows, "
            f"max error / bound {_num(q['max_error_over_bound'])}"
        )
    for table, result in metrics["physics"].items():
        where = f"{table}: " if table else ""
        for m in result["masses"]:
            lines.append(
                f"  {where}{m['object']} mass {m['source']}: (m'-m)/m mean {_num(m['mean'])}, "
                f"spread {_num(m['spread68'])}"
            )
        for p in result["pairs"]:
            fit = p.get("fit")
            shift = f", peak shift {_pm(fit['peak_shift'], fit['peak_shift_error'])}" if fit else ""
            lines.append(
                f"  {where}m({p['label']}): (m'-m)/m mean {_num(p['relative_difference']['mean'])}, "
                f"spread {_num(p['relative_difference']['spread68'])}{shift}"
            )
    return "\n".join(lines)


def _summary_section(metrics: Mapping[str, Any]) -> str:
    level, text = _verdict(metrics)
    rows, classes = [], []
    multi = len(metrics["tables"]) > 1
    for name, c in metrics["columns"].items():
        d = c["distribution"]
        link = f'<a href="#{_anchor(name)}">{_e(name)}</a>' if c.get("figure") else _e(name)
        exact = c["bound"] == "exact" and c["violations"] == 0
        rows.append(
            ([_e(c["table"] or "main")] if multi else [])
            + [
                link,
                _e(c["dtype"]),
                _e(c["bound"] or "unknown"),
                "bit-exact" if exact else _num(c["max_error_over_bound"]),
                _num(c["violations"]),
                _result(c),
                f"{_num(d.get('ks'), 2)} / {_num(d.get('ks_split'), 2)}",
                f"{_num(d.get('chi2_ndf'), 2)} / {_num(d.get('chi2_split'), 2)}",
                f'<span class="flag">FLAG ({_e(d.get("cause"))})</span>' if d["flag"] else "",
                _num(c["range"]["beyond_edge"]) if c["range"]["beyond_edge"] else "",
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
        f"{'collection ' + _e(t) if t else 'main table'}: {v['rows']:,} rows" for t, v in metrics["tables"].items()
    )
    return (
        '<section id="summary"><h2>1. Summary</h2>'
        f'<p class="verdict {level}">{_e(text)}</p><p class="note">{tables}. '
        "“max error / bound” is over every value (≤ 1 keeps the bound); “stat.” is what two independent samples "
        "of the same size would show (from random halves of the original); a column is flagged when compression "
        'exceeds it (<a href="#method">rule</a>). “beyond edge”: decompressed values past a minimum or maximum '
        "that many original values sit on exactly (a fraction of exactly 1 coming back as 1.0004).</p>"
        + _table(header, rows, left=2 if multi else 1, classes=classes)
        + _quantities_table(metrics)
        + "</section>"
    )


def _quantities_table(metrics: Mapping[str, Any]) -> str:
    """Declared quantities (docs/codec.md), judged on every row (a pair mass: every pair) like columns."""
    quantities = metrics.get("quantities") or {}
    if not quantities:
        return ""
    rows = [
        [
            _e(label), _e(q["table"] or "main"), _e(q["bound"]), _num(q["rows"]), _num(q["max_error_over_bound"]),
            _num(q["violations"]), _result(q),
        ]
        for label, q in quantities.items()
    ]
    header = ["quantity", "table", "bound", "values", "max error / bound", "violations", "result"]
    classes = ["fail" if q["pass"] is False else "" for q in quantities.values()]
    return "<h3>Declared quantities</h3>" + _table(header, rows, left=2, classes=classes)


def _physics_section(metrics: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]) -> str:
    parts = ['<section id="physics"><h2>2. Physics</h2>']
    if not metrics["physics"]:
        parts.append(
            '<p class="note">No four-vector found among the column names. Name one with '
            "<code>--four-vector NAME:pt=COL,eta=COL,phi=COL,mass=COL</code> or in a config file's "
            "<code>[evaluate.four_vectors]</code> (docs/evaluate.md).</p>"
        )
    for table, result in metrics["physics"].items():
        where = f"collection {table}" if table else "main table"
        objects = ", ".join(f"{_e(o['name'])} ({_e(', '.join(o['columns'].values()))})" for o in result["objects"])
        parts.append(f"<h3>{_e(where)}</h3><p class='note'>Four-vectors: {objects}.</p>")
        if result["masses"]:
            rows = [
                [
                    _e(m["object"]),
                    _e(m["source"]),
                    _num(m["n"]),
                    _num(m["mean"]),
                    _num(m["spread68"]),
                    _num(m["rms"]),
                    _num(m["max_abs"]),
                    _num(m.get("unphysical")),
                    _num(m.get("conditioning")),
                    _num(m.get("expected_error"), 2),
                ]
                for m in result["masses"]
            ]
            parts.append("<h4>Object mass: relative difference (m′ − m)/m</h4>")
            parts.append(
                _table(
                    [
                        "object",
                        "mass",
                        "objects",
                        "mean",
                        "spread (68 %)",
                        "RMS",
                        "max |·|",
                        "m′² < 0",
                        "(E/m)²",
                        "(E/m)²·bound",
                    ],
                    rows,
                    left=2,
                )
            )
            parts.append(
                '<p class="note">A mass rebuilt from (E, px, py, pz) inherits the components\' relative error '
                "times about (E/m)² (median over objects): where (E/m)²·bound nears 1, the rebuilt mass is not "
                "measurable at this bound.</p>"
            )
        if result["pairs"]:
            rows = []
            for p in result["pairs"]:
                d = p["relative_difference"]
                f = p.get("fit")
                rows.append(
                    [
                        _e(p["label"]),
                        _num(p["pairs"]),
                        _num(d["mean"]),
                        _num(d["spread68"]),
                        _num(f["original"]["mean"], 5) if f else "—",
                        _num(f["decompressed"]["mean"], 5) if f else "—",
                        _pm(f["peak_shift"], f["peak_shift_error"]) if f else "—",
                        _num(f["original"]["sigma"], 4) if f else "—",
                        _pm(f["width_shift"], f["width_shift_error"]) if f else "—",
                    ]
                )
            parts.append("<h4>Invariant mass of pairs</h4>")
            parts.append(
                _table(
                    [
                        "pair",
                        "pairs",
                        "mean (m′−m)/m",
                        "spread (68 %)",
                        "peak μ (orig.)",
                        "peak μ (decomp.)",
                        "Δμ",
                        "width σ (orig.)",
                        "Δσ",
                    ],
                    rows,
                )
            )
            parts.append(
                '<p class="note">Peaks: Gaussian fits to the core (±1.5 σ), the decompressed one in the original\'s '
                "window and bins; Δ ± the fits' combined errors. Pairs are chosen on the original values.</p>"
            )
        for entry in result["masses"] + result["pairs"] + result["response_vs_pt"]:
            parts.append(_figure(images, entry.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def _correlation_section(metrics: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]) -> str:
    parts = ['<section id="correlations"><h2>3. Correlations</h2>']
    for table, corr in metrics["correlation"].items():
        where = f"collection {table}" if table else "table"
        if len(corr["columns"]) < 2:
            parts.append(f'<p class="note">{_e(where)}: fewer than two varying float columns.</p>')
            continue
        a, b = corr.get("largest", ["", ""])
        parts.append(
            f"<p>{_e(where)}: largest change of a correlation coefficient <b>{_num(corr['max_abs_diff'], 2)}</b> "
            f"({_e(a)} × {_e(b)}), {corr['rows']:,} rows.</p>"
        )
        parts.append(_figure(images, corr.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def _training_section(metrics: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]) -> str:
    training = metrics["training"]
    parts = ['<section id="training"><h2>4. Training history</h2>']
    if training.get("note"):
        parts.append(f'<p class="note">{_e(training["note"])}</p>')
    if training["tables"]:
        rows = []
        for table, record in training["tables"].items():
            history = record.get("history") or []
            last = history[-1] if history else {}
            rows.append(
                [
                    _e(table or "table"),
                    _num(record.get("epochs") or len(history)),
                    _num(record.get("best_epoch")),
                    _num(last.get("train")),
                    _num(last.get("val")),
                    _num(record.get("seconds")),
                    _num(record.get("network_kept")),
                ]
            )
        parts.append(
            _table(["table", "epochs", "best epoch", "last train loss", "last val. loss", "seconds", "kept"], rows)
        )
        parts.append(_figure(images, training.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def _columns_section(metrics: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]) -> str:
    parts = ['<section id="columns"><h2>5. Columns</h2>']
    exact = [n for n, c in metrics["columns"].items() if not c.get("figure")]
    if exact:
        parts.append(f'<p class="note">Identical on both sides (no figure): {_e(", ".join(exact))}.</p>')
    for name, c in metrics["columns"].items():
        if not c.get("figure"):
            continue
        r, q, d = c["residual"], c["response"], c["distribution"]
        rows = [
            ["residual x′ − x", _num(r["mean"]), _num(r["rms"]), _num(r["max_abs"]), _num(r["n"])],
            ["response (x′ − x)/x", _num(q["mean"]), _num(q["rms"]), _num(q["max_abs"]), _num(q["n"])],
        ]
        parts.append(f'<article id="{_anchor(name)}"><h3>{_e(name)}</h3>')
        parts.append(
            f"<p>bound <b>{_e(c['bound'] or 'unknown')}</b>, max error / bound <b>{_num(c['max_error_over_bound'])}"
            f"</b>, violations {_num(c['violations'])} {_result(c)}; KS D {_num(d.get('ks'), 2)} "
            f"(stat. {_num(d.get('ks_split'), 2)}), χ²/ndf {_num(d.get('chi2_ndf'), 2)} "
            f"(stat. {_num(d.get('chi2_split'), 2)}){' <span class=flag>FLAG</span>' if d['flag'] else ''}</p>"
        )
        parts.append(_table(["", "mean", "RMS", "max |·|", "values"], rows))
        parts.append(_figure(images, c.get("figure")))
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)


def _method_section(metrics: Mapping[str, Any]) -> str:
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


def render_html(metrics: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]) -> str:
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
        f"<header><h1>bale evaluation</h1><p class='files'>original: {_e(metrics['original'])}<br>"
        f"compared: {_e(metrics['compared'])}<br>bale {_e(metrics['bale_version'])}</p><nav>{nav}</nav></header>"
        + _summary_section(metrics)
        + _physics_section(metrics, images)
        + _correlation_section(metrics, images)
        + _training_section(metrics, images)
        + _columns_section(metrics, images)
        + _method_section(metrics)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body>{body}</body></html>\n"
    )
