"""The bricks of the evaluation report's HTML: its style sheet, numbers, escaped text, tables and figures.

Cells are escaped by their callers (:func:`esc`); :func:`html_table` joins them as they are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from bale.evaluate.results import WrittenFigure

__all__ = ["CSS", "anchor", "esc", "figure_html", "html_table", "num", "pm", "result_cell"]

CSS = """
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


def num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def pm(value: Any, error: Any) -> str:
    return f"{num(value, 2)} ± {num(error, 1)}" if value is not None else "—"


def esc(text: Any) -> str:
    return html.escape(str(text))


def anchor(name: str) -> str:
    return "col-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def figure_html(images: Mapping[str, WrittenFigure], name: str | None) -> str:
    if not name or name not in images:
        return ""
    image = images[name]
    caption = esc(image["caption"])
    return (
        f'<figure><img src="data:image/png;base64,{image["png_base64"]}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, classes: Sequence[str] = ()) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text, cells are already escaped."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if r < len(classes) and classes[r] else ""
        cells = "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def result_cell(column: Mapping[str, Any]) -> str:
    if column["pass"] is None:
        return "—"
    return '<span class="pass">pass</span>' if column["pass"] else '<span class="fail">FAIL</span>'
