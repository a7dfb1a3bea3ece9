"""``bale bench``: bale against classical and learned compressors, on the same table, every value checked.

:func:`run_bench` runs every registered method (:data:`METHODS`, see :mod:`bale.bench.methods`) on one
table at one or more error bounds and reports, per method: bytes and ratio (every byte needed to decode
counted), max and mean relative error per column, bound violations, compress and decompress MB/s and
peak memory; as JSON, markdown and a Pareto plot (:mod:`bale.bench.report`, :mod:`bale.bench.pareto`), typed by
:mod:`bale.bench.results`. The comparison libraries
are optional (``pip install 'bale[bench]'``): a method whose library is missing is skipped with a note.
"""

from __future__ import annotations

from bale.bench.methods import METHODS, Context, Encoded, Method, get_method, register, unregister
from bale.bench.report import headline, pareto_plot, to_json, to_markdown, write_outputs
from bale.bench.results import BenchResults, GridBenchResults
from bale.bench.runner import load_bench_table, parse_settings, run_bench, run_methods

__all__ = [
    "METHODS",
    "BenchResults",
    "Context",
    "Encoded",
    "GridBenchResults",
    "Method",
    "get_method",
    "headline",
    "load_bench_table",
    "pareto_plot",
    "parse_settings",
    "register",
    "run_bench",
    "run_methods",
    "to_json",
    "to_markdown",
    "unregister",
    "write_outputs",
]
