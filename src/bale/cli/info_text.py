"""``bale info`` as text: a summary a person can read, the full column list on request.

A NanoAOD file has ~950 columns: one line each buries what matters. So a file of more than
:data:`FULL_LIST_UP_TO` columns is summarized per table (rows, bytes, bits per value,
predictors), and ``--columns`` lists every column. Bounds are shown as written: a relative
bound that is a power of two is the mantissa bits it keeps (NanoAOD's ``precision=10`` is
``rel=2**-11``, shown ``10 mantissa bits``), others as ``rel=1e-3``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from bale.reports import ColumnInfo, FieldsInfo, Info, RootFileInfo, TableInfo

FULL_LIST_UP_TO = 40  # columns listed one per line without --columns
_FALLBACK = "fallback columns"
_EXPLAIN = {
    _FALLBACK: "lossy columns no model predicts: their quantized values, or row-to-row differences",
    "predicted residuals": "lossy columns predicted by a relation or the network: what is left over",
    "latents": "the network's per-row codes",
    "quantity columns": "columns rebuilt from a declared quantity, and rows patched to hold its bound",
}


def bound_text(spec: str) -> str:
    """``rel=0.00048828125`` -> ``10 mantissa bits``; ``rel=0.001`` -> ``rel=1e-3``; ``exact`` stays."""
    mode, _, number = spec.partition("=")
    if not number:
        return spec
    try:
        value = float(number)
    except ValueError:
        return spec
    if mode == "rel" and value > 0:
        exponent = -math.log2(value)
        if exponent == int(exponent) and 5 <= exponent <= 23:  # 4 to 22 bits: rel=2**-(N+1)
            return f"{int(exponent) - 1} mantissa bits"
    mantissa, _, power = f"{value:.6e}".partition("e")
    if -3 < int(power) < 5:
        return f"{mode}={value:.6g}"
    return f"{mode}={mantissa.rstrip('0').rstrip('.')}e{int(power)}"


def info_lines(report: TableInfo, all_columns: bool = False) -> list[str]:
    """The text of ``bale info`` for a table or dataset file (``report``: :func:`bale.info`)."""
    lines = [
        f"{report['file']}: {report['rows']:,} rows, {report['columns']:,} columns, {report['chunks']} chunk(s)",
        _ratio_line(report),
    ]
    if "ratio_without_model" in report:
        lines.append(f"  ratio without the embedded model: {report['ratio_without_model']:.3f}")
    else:
        lines.append(f"  model is external (sha256 {str(report['model']['sha256'])[:16]}…): not counted above")
        if "ratio_with_model" in report:
            lines.append(
                f"  ratio with the model's {report['model']['bytes']:,} B counted: {report['ratio_with_model']:.3f}"
            )
    lines += _tables(report)
    lines += _bytes_lines(report)
    for label, q in (report.get("quantities") or {}).items():
        how = "its value coded, the column rebuilt" if q["mode"] == "value" else "checked, rows patched"
        lines.append(f"  quantity {label} {q['bound']}: in the section of {q['column']} ({how}), {q['bytes']:,} B")
    columns = report["per_column"]
    if all_columns or len(columns) <= FULL_LIST_UP_TO:
        lines += _columns(columns)
    else:
        lines.append(f"  columns: {len(columns):,}; bale info --columns lists each (bound, predictor, bytes)")
    return lines


def _ratio_line(report: Info) -> str:
    return (
        f"  raw {report['raw_bytes']:,} B -> file {report['file_bytes']:,} B: ratio {report['ratio']:.3f} "
        "(every byte counted)"
    )


def _bytes_lines(report: TableInfo | FieldsInfo) -> list[str]:
    """The file's bytes per part, with what a part holds where its name does not say it."""
    total = max(report["file_bytes"], 1)
    lines = ["  bytes:"]
    for name, size in report["bytes"].items():
        why = f"  ({_EXPLAIN[name]})" if name in _EXPLAIN and size else ""
        lines.append(f"    {name:<20} {size:>12,}  {100 * size / total:5.1f} %{why}")
    return lines


def _tables(report: TableInfo) -> list[str]:
    tables = report.get("tables") or {}
    if not tables:
        return [f"  predictors: {_predictors(report['per_column'].values())}"]
    rows = []
    for name, t in tables.items():
        label = f"{name} (counter {t['counter']})" if name else "main table"
        rows.append((label, f"{t['rows']:,}", f"{t['columns']:,}", f"{t.get('bytes', 0):,}",
                     f"{t.get('bits_per_value', 0):.2f}", counts_text(t.get("predictors") or {})))  # fmt: skip
    head = ("table", "rows", "columns", "bytes", "bits/value", "predictors")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    out = ["  tables:"]
    for r in [head, *rows]:
        left = r[0].ljust(widths[0])
        right = "  ".join(r[i].rjust(widths[i]) for i in range(1, 5))
        out.append(f"    {left}  {right}  {r[5]}".rstrip())
    return out


def _predictors(columns: Iterable[ColumnInfo]) -> str:
    counts: dict[str, int] = {}
    for c in columns:
        counts[c["predictor"]] = counts.get(c["predictor"], 0) + 1
    return counts_text(counts)


def counts_text(counts: Mapping[str, int]) -> str:
    """``{"exact": 3, "delta": 5}`` -> ``delta 5, exact 3``: most used first."""
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _columns(columns: Mapping[str, ColumnInfo]) -> list[str]:
    width = max((len(n) for n in columns), default=4)
    bounds = {n: bound_text(c["bound"]) for n, c in columns.items()}
    bound_width = max((len(b) for b in bounds.values()), default=5)
    lines = ["  columns:"]
    for name, col in columns.items():
        needs = col.get("depends_on") or []
        more = f"  needs {', '.join(needs[:4])}{f' +{len(needs) - 4}' if len(needs) > 4 else ''}" if needs else ""
        if col.get("context"):
            more += f"  (in context of {' x '.join(col['context'])})"
        lines.append(
            f"    {name:<{width}} {bounds[name]:<{bound_width}} {col['predictor']:<9} {col['bytes']:>10,} B "
            f"{col['bits_per_value']:7.3f} bits/value{more}"
        )
    return lines


def root_file_lines(report: RootFileInfo) -> list[str]:
    """The first lines of ``bale info`` for a whole ROOT file; each tree follows as its own report."""
    lines = [
        f"{report['file']}: a whole ROOT file, {len(report['trees'])} tree(s), {len(report['objects'])} object(s)",
        _ratio_line(report),
    ]
    for name, tree in report["trees"].items():
        lines.append(f"  tree {name}: {tree['rows']:,} entries, {tree['columns']} columns, {tree['file_bytes']:,} B")
    for name, classname in report["objects"].items():
        lines.append(f"  object {name} ({classname}): copied")
    for name, what in report.get("changed", {}).items():
        lines.append(f"  object {name}: {what}")
    for name, why in report["left_out"].items():
        lines.append(f"  not kept: {name}: {why}")
    return lines


def grid_lines(report: FieldsInfo) -> list[str]:
    """``bale info`` for a file of fields (grids)."""
    lines = [f"{report['file']}: fields, {len(report['grids'])} grid(s)", _ratio_line(report)]
    if report["model"]["sha256"]:
        where = "embedded" if report["model"]["embedded"] else "external, not counted above"
        lines.append(f"  conv model ({where}, sha256 {report['model']['sha256'][:16]}…)")
    lines += _bytes_lines(report)
    lines.append("  grids:")
    for name, g in report["grids"].items():
        lines.append(
            f"    {name:<12} {g['dtype']:<8} {'x'.join(map(str, g['shape']))}  {g['error']} ({g['bound']}), "
            f"blocks {'x'.join(map(str, g['block']))}: {g['predictors']}, {g['raw_values']} raw, "
            f"{g['bits_per_value']:.3f} bits/value"
        )
    return lines
