"""The report's detail sections: physics, correlations, training history and each column.

The summary and the page around them: :mod:`bale.evaluate.report`.
"""

from __future__ import annotations

from collections.abc import Mapping

from bale.evaluate.html import anchor, esc, figure_html, html_table, num, pm, result_cell
from bale.evaluate.results import EvaluationReport, WrittenFigure

__all__ = ["columns_section", "correlation_section", "physics_section", "training_section"]


def physics_section(metrics: EvaluationReport, images: Mapping[str, WrittenFigure]) -> str:
    parts = ['<section id="physics"><h2>2. Physics</h2>']
    if not metrics["physics"]:
        parts.append(
            '<p class="note">No four-vector found among the column names. Name one with '
            "<code>--four-vector NAME:pt=COL,eta=COL,phi=COL,mass=COL</code> or in a config file's "
            "<code>[evaluate.four_vectors]</code> (docs/evaluate.md).</p>"
        )
    for table, result in metrics["physics"].items():
        where = f"collection {table}" if table else "main table"
        objects = ", ".join(f"{esc(o['name'])} ({esc(', '.join(o['columns'].values()))})" for o in result["objects"])
        parts.append(f"<h3>{esc(where)}</h3><p class='note'>Four-vectors: {objects}.</p>")
        if result["masses"]:
            rows = [
                [
                    esc(m["object"]),
                    esc(m["source"]),
                    num(m["n"]),
                    num(m["mean"]),
                    num(m["spread68"]),
                    num(m["rms"]),
                    num(m["max_abs"]),
                    num(m.get("unphysical")),
                    num(m.get("conditioning")),
                    num(m.get("expected_error"), 2),
                ]
                for m in result["masses"]
            ]
            parts.append("<h4>Object mass: relative difference (m′ − m)/m</h4>")
            parts.append(
                html_table(
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
                        esc(p["label"]),
                        num(p["pairs"]),
                        num(d["mean"]),
                        num(d["spread68"]),
                        num(f["original"]["mean"], 5) if f else "—",
                        num(f["decompressed"]["mean"], 5) if f else "—",
                        pm(f["peak_shift"], f["peak_shift_error"]) if f else "—",
                        num(f["original"]["sigma"], 4) if f else "—",
                        pm(f["width_shift"], f["width_shift_error"]) if f else "—",
                    ]
                )
            parts.append("<h4>Invariant mass of pairs</h4>")
            parts.append(
                html_table(
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
            parts.append(figure_html(images, entry.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def correlation_section(metrics: EvaluationReport, images: Mapping[str, WrittenFigure]) -> str:
    parts = ['<section id="correlations"><h2>3. Correlations</h2>']
    for table, corr in metrics["correlation"].items():
        where = f"collection {table}" if table else "table"
        if len(corr["columns"]) < 2:
            parts.append(f'<p class="note">{esc(where)}: fewer than two varying float columns.</p>')
            continue
        a, b = corr.get("largest", ["", ""])
        parts.append(
            f"<p>{esc(where)}: largest change of a correlation coefficient <b>{num(corr['max_abs_diff'], 2)}</b> "
            f"({esc(a)} × {esc(b)}), {corr['rows']:,} rows.</p>"
        )
        parts.append(figure_html(images, corr.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def training_section(metrics: EvaluationReport, images: Mapping[str, WrittenFigure]) -> str:
    training = metrics["training"]
    parts = ['<section id="training"><h2>4. Training history</h2>']
    if training.get("note"):
        parts.append(f'<p class="note">{esc(training["note"])}</p>')
    if training["tables"]:
        rows = []
        for table, record in training["tables"].items():
            history = record.get("history") or []
            last = history[-1] if history else {}
            rows.append(
                [
                    esc(table or "table"),
                    num(record.get("epochs") or len(history)),
                    num(record.get("best_epoch")),
                    num(last.get("train")),
                    num(last.get("val")),
                    num(record.get("seconds")),
                    num(record.get("network_kept")),
                ]
            )
        parts.append(
            html_table(["table", "epochs", "best epoch", "last train loss", "last val. loss", "seconds", "kept"], rows)
        )
        parts.append(figure_html(images, training.get("figure")))
    parts.append("</section>")
    return "".join(parts)


def columns_section(metrics: EvaluationReport, images: Mapping[str, WrittenFigure]) -> str:
    parts = ['<section id="columns"><h2>5. Columns</h2>']
    exact = [n for n, c in metrics["columns"].items() if not c.get("figure")]
    if exact:
        parts.append(f'<p class="note">Identical on both sides (no figure): {esc(", ".join(exact))}.</p>')
    for name, c in metrics["columns"].items():
        if not c.get("figure"):
            continue
        r, q, d = c["residual"], c["response"], c["distribution"]
        rows = [
            ["residual x′ − x", num(r["mean"]), num(r["rms"]), num(r["max_abs"]), num(r["n"])],
            ["response (x′ − x)/x", num(q["mean"]), num(q["rms"]), num(q["max_abs"]), num(q["n"])],
        ]
        parts.append(f'<article id="{anchor(name)}"><h3>{esc(name)}</h3>')
        parts.append(
            f"<p>bound <b>{esc(c['bound'] or 'unknown')}</b>, max error / bound <b>{num(c['max_error_over_bound'])}"
            f"</b>, violations {num(c['violations'])} {result_cell(c)}; KS D {num(d.get('ks'), 2)} "
            f"(stat. {num(d.get('ks_split'), 2)}), χ²/ndf {num(d.get('chi2_ndf'), 2)} "
            f"(stat. {num(d.get('chi2_split'), 2)}){' <span class=flag>FLAG</span>' if d['flag'] else ''}</p>"
        )
        parts.append(html_table(["", "mean", "RMS", "max |·|", "values"], rows))
        parts.append(figure_html(images, c.get("figure")))
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)
