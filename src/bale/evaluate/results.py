"""The report of ``bale evaluate`` (tables and fields), as typed models.

Each is a :class:`typing.TypedDict`: a plain ``dict`` at run time, written to ``metrics.json`` as it is
(keys in the order :mod:`bale.evaluate.core` and :mod:`bale.evaluate.grid` write them). In the report
:func:`bale.evaluate.evaluate` returns, a float that is not finite (NaN, ±inf) is ``None`` (``null`` in
the JSON): :data:`Float`. This module owns the models; :mod:`bale.evaluate.metrics`,
:mod:`bale.evaluate.quantities`, :mod:`bale.evaluate.core` and :mod:`bale.evaluate.grid` produce them,
:mod:`bale.evaluate.report` and :mod:`bale.cli` read them.
"""

# no `from __future__ import annotations`: Python 3.11 sees NotRequired only in evaluated annotations, and
# __required_keys__ / __optional_keys__ (what tests/test_reports.py checks the reports against) need it
from typing import Any, NotRequired, TypedDict, final

__all__ = [
    "BoundCheck",
    "ColumnResult",
    "Correlation",
    "ErrorStats",
    "EvaluationReport",
    "Float",
    "GridEvaluation",
    "GridFileFacts",
    "GridMetrics",
    "GridSummary",
    "PhysicsResult",
    "QuantityResult",
    "Sampling",
    "Summary",
    "TableStats",
    "Training",
    "ValueRange",
]

Float = float | None
"""A float of the report; ``None`` where it is NaN or infinite (no value, or no ratio to the bound)."""


class ErrorStats(TypedDict):
    """Mean, RMS, standard deviation and largest magnitude of residuals or responses, over ``n`` values."""

    n: int
    mean: Float
    rms: Float
    std: Float
    max_abs: Float


# "pass" is a keyword: the functional form
BoundCheck = TypedDict(
    "BoundCheck",
    {"bound": str | None, "violations": int | None, "max_error_over_bound": Float, "pass": bool | None},
)
"""Every value against its bound (``None``: no bound known, the errors are measured, not judged)."""


class ValueRange(TypedDict):
    """Both sides' finite minimum and maximum; decoded values beyond the original's range, and its edges."""

    original: list[Float]
    decompressed: list[Float]
    outside: int
    beyond_edge: int
    edges: list[float]


class ColumnResult(BoundCheck):
    """One column (:func:`bale.evaluate.metrics.column_metrics`, then its table, distribution and figure)."""

    dtype: str
    rows: int
    nonfinite_changed: int
    range: ValueRange
    residual: ErrorStats
    response: ErrorStats
    table: NotRequired[str]
    distribution: NotRequired[dict[str, Any]]  # KS and chi2 against split halves, the flag (evaluate.stats)
    figure: NotRequired[str]


class QuantityResult(BoundCheck):
    """A declared quantity of several columns, rebuilt on both sides and judged on every row."""

    table: str
    rows: int
    response: ErrorStats


class Correlation(TypedDict):
    """Pearson correlation matrices of one table's float columns, and their difference."""

    columns: list[str]
    rows: int
    max_abs_diff: Float
    diff: list[list[float]]
    largest: NotRequired[list[str]]
    original: NotRequired[list[list[float]]]
    figure: NotRequired[str]


class TableStats(TypedDict):
    """One table of the dataset compared."""

    rows: int
    columns: int
    sampled_rows: int
    counter: NotRequired[str]
    event_column: NotRequired[str]


class PhysicsResult(TypedDict):
    """The physics of one table (:mod:`bale.evaluate.physics`): four-vectors, masses, pair masses, response vs pt."""

    objects: list[dict[str, Any]]
    masses: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    response_vs_pt: list[dict[str, Any]]


class Sampling(TypedDict):
    """The seeded subsample the distribution tests, correlations and figures use."""

    max_rows: int
    seed: int


class Training(TypedDict):
    """The training record of each table's network, or why there is none."""

    tables: dict[str, dict[str, Any]]
    note: str | None
    figure: NotRequired[str]


class Summary(TypedDict):
    """The verdict at a glance."""

    columns: int
    with_bound: int
    passed: int
    failed: list[str]
    flagged: list[str]
    beyond_edge: dict[str, int]
    violations: int
    worst_column: str | None
    worst_error_over_bound: Float
    quantities: int
    quantities_failed: list[str]


class EvaluationReport(TypedDict):
    """What :func:`bale.evaluate.evaluate` returns and ``metrics.json`` holds."""

    bale_version: str
    original: str
    compared: str
    sampling: Sampling
    tables: dict[str, TableStats]
    columns: dict[str, ColumnResult]
    correlation: dict[str, Correlation]
    physics: dict[str, PhysicsResult]
    quantities: dict[str, QuantityResult]
    training: NotRequired[Training]  # NotRequired while the evaluation runs; always in the report returned
    summary: NotRequired[Summary]
    figures: NotRequired[dict[str, str]]  # figure name -> file under the output folder


# -- fields -------------------------------------------------------------------------------------------------


class GridMetrics(TypedDict):
    """One field decoded against its original (:mod:`bale.evaluate.grid`)."""

    shape: list[int]
    dtype: str
    bound: str
    max_abs_error: float
    max_error_over_bound: float
    violations: int
    mean_error: float
    rmse: float
    psnr_db: float | None
    value_range: float
    non_finite: int
    per_frame_max_over_bound: list[float]


class GridSummary(TypedDict):
    grids: int
    failed: int  # fields with a value beyond its bound


@final
class GridFileFacts(TypedDict, total=False):
    """What the caller of :func:`bale.evaluate.grid.evaluate_grids` knows: the bounds as given, a file's size."""

    file: str  # a .bale file judged: its name, ratio and size
    ratio: float | None
    file_bytes: int
    errors: dict[str, str | None]  # the bound as given, per field


class GridEvaluation(TypedDict):
    """What :func:`bale.evaluate.grid.evaluate_grids` returns and its ``metrics.json`` holds."""

    kind: str  # bale.container.FIELDS_KIND
    grids: dict[str, GridMetrics]
    file: NotRequired[str]  # a .bale file judged: its name, ratio and size
    ratio: NotRequired[float | None]
    file_bytes: NotRequired[int]
    errors: NotRequired[dict[str, str | None]]  # the bound as given, per field
    summary: NotRequired[GridSummary]  # NotRequired while it runs; always in the report returned
