"""The results of ``bale bench`` (tables and grids), as typed models.

Each is a :class:`typing.TypedDict`: a plain ``dict`` at run time, written to ``bench.json`` and printed
by ``bale bench --json`` as it is (keys in the order :mod:`bale.bench.runner` and :mod:`bale.bench.grid`
write them). Floats that are not finite are the strings ``"inf"``, ``"-inf"`` and ``"nan"`` in a table
bench's results (JSON has no such numbers): :data:`Number`. This module owns the models; the runners
produce them, :mod:`bale.bench.report`, :mod:`bale.bench.pareto` and :mod:`bale.cli` read them (with
:func:`ran` and :func:`ratio_of`).
"""

# no `from __future__ import annotations`: Python 3.11 sees NotRequired only in evaluated annotations, and
# __required_keys__ / __optional_keys__ (what tests/test_reports.py checks the reports against) need it
from collections.abc import Mapping
from typing import Any, Final, NotRequired, TypedDict

__all__ = [
    "FIELD",
    "GRID_FORMAT",
    "TABLE_FORMAT",
    "BenchResults",
    "Brief",
    "Check",
    "ColumnCheck",
    "ErrorSummary",
    "GridBenchResults",
    "GridRow",
    "GridSetting",
    "Headline",
    "Machine",
    "Measurement",
    "MethodRow",
    "Number",
    "Setting",
    "as_float",
    "ran",
    "ratio_of",
    "setting_bounds",
]

TABLE_FORMAT: Final = "bale-bench/1"
GRID_FORMAT: Final = "bale-grid-bench/1"
FIELD: Final = "grid"  # the key of a grid bench setting that names its field (docs/grids.md, "Measured")

Number = float | str
"""A float of the results; ``"inf"``, ``"-inf"`` or ``"nan"`` where it is not finite."""


# -- one table ----------------------------------------------------------------------------------------------


class ColumnCheck(TypedDict):
    """One column checked against its bound (:func:`bale.bench.metrics.column_check`)."""

    bound: str
    max_rel_err: Number
    mean_rel_err: Number
    median_rel_err: Number
    max_abs_err: Number
    violations: int
    problem: NotRequired[str]  # missing, or came back with another dtype or shape


class ErrorSummary(TypedDict):
    """Table-wide figures of the per-column checks (:func:`bale.bench.metrics.summarize`)."""

    violations: int
    columns_violated: list[str]
    max_rel_err: Number
    worst_column: str
    mean_rel_err: Number
    median_rel_err: Number
    max_abs_err: Number
    max_err_over_bound: Number


class Check(ErrorSummary):
    """A method's output checked under one setting: the summary, the columns, columns it made up."""

    columns: dict[str, ColumnCheck]
    unexpected_columns: list[str]


class Measurement(TypedDict, total=False):
    """One run of a method (``error`` or ``not_applicable`` instead when it failed or does not apply)."""

    bytes: int
    compress_s: float
    decompress_s: float
    prepare_s: float | None
    compress_peak_mb: float | None
    decompress_peak_mb: float | None
    memory_measure: str
    info: dict[str, Any]  # what the method reports of itself (keepbits, exceptions, model bytes ...)
    checks: list[Check]  # one per setting the run is checked against
    error: str
    not_applicable: str


class MethodRow(TypedDict, total=False):
    """One method under one setting: its name, then why it did not run, or its figures and checks."""

    name: str
    family: str
    description: str
    applicable: bool
    reason: str  # not applicable
    error: str  # failed
    bytes: int
    ratio: float | None  # raw bytes / bytes: finite
    compress_s: Number
    decompress_s: Number
    compress_mb_s: Number | None
    decompress_mb_s: Number | None
    compress_peak_mb: Number | None
    decompress_peak_mb: Number | None
    peak_mb: Number | None
    memory_measure: str
    info: dict[str, Any]
    prepare_s: Number
    violations: int
    columns_violated: list[str]
    columns_violated_count: int  # the compact JSON of a wide table keeps 20 names
    max_rel_err: Number
    worst_column: str
    mean_rel_err: Number
    median_rel_err: Number
    max_abs_err: Number
    max_err_over_bound: Number
    unexpected_columns: list[str]
    columns: dict[str, ColumnCheck]
    same_run_as: str  # a bound-independent method's one run, checked against this setting too


class Setting(TypedDict):
    """One point of the curve: the bound asked for (``spec``), each column's bound, every method's row."""

    spec: str
    bounds: dict[str, str]
    methods: list[MethodRow]


class Machine(TypedDict):
    """Where the bench ran (:func:`bale.bench.report.machine_info`)."""

    cpu: str
    cores: int | None
    usable_cores: int | None
    memory_gib: float | None
    os: str
    python: str
    versions: dict[str, str | None]


class BenchResults(TypedDict):
    """What :func:`bale.bench.run_bench` returns and ``bench.json`` holds."""

    format: str  # TABLE_FORMAT
    title: str
    source: str
    rows: int
    columns: dict[str, str]  # name -> dtype
    raw_bytes: int
    notes: list[str]
    isolated: bool
    settings: list[Setting]
    skipped: dict[str, str]  # method -> the library that is missing
    seconds: float
    machine: Machine


class Brief(TypedDict):
    """A method's figures in the headline."""

    name: str | None
    ratio: float | None
    violations: int | None
    max_rel_err: Number | None
    median_rel_err: Number | None
    mean_rel_err: Number | None


class Headline(TypedDict):
    """Per bound: bale, the best classical method that meets it, the best of each family."""

    spec: str
    bale: Brief | None
    bale_without_model: float | None
    bale_external: Brief | None
    best_classical: Brief | None
    sz3: Brief | None
    zfp: Brief | None
    fpzip: Brief | None
    bitround: Brief | None
    lossless: Brief | None
    baler_ae: Brief | None
    bale_over_best_classical: float | None
    violations: dict[str, int]


# -- grids --------------------------------------------------------------------------------------------------


class GridRow(TypedDict, total=False):
    """One grid method on one grid at one bound (``skipped`` or ``error`` instead of figures)."""

    method: str
    family: str
    skipped: str
    prepare_s: float
    error: str
    bytes: int
    ratio: float | None
    exceptions: int
    violations: int
    max_error_over_bound: float
    compress_mb_s: float
    decompress_mb_s: float
    predictors: dict[str, int]  # bale's: blocks per predictor


class GridSetting(TypedDict):
    """One field at one bound (``abs`` is the bound resolved on that field): every method's row."""

    grid: str  # the field's name; the key is FIELD
    shape: list[int]
    dtype: str
    error: str
    abs: float
    raw_bytes: int
    methods: list[GridRow]


class GridBenchResults(TypedDict):
    """What :func:`bale.bench.grid.run_grid_bench` returns and ``bale bench --grid`` writes."""

    format: str  # GRID_FORMAT
    settings: list[GridSetting]


# -- reading them -------------------------------------------------------------------------------------------


def as_float(value: Any) -> float | None:
    """A :data:`Number` as a float (``"inf"`` too); ``None`` for anything else (a missing figure)."""
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("inf", "-inf", "nan"):
        return float(value)
    return None


def ran(row: MethodRow) -> bool:
    """Whether the method applied and ran to the end (it has a ratio)."""
    return bool(row.get("applicable")) and "error" not in row and row.get("ratio") is not None


def ratio_of(row: MethodRow) -> float:
    """The ratio of a row that ran (:func:`ran`)."""
    return float(row.get("ratio") or 0.0)


def setting_bounds(setting: Mapping[str, Any]) -> list[str]:
    """The bound of every column of a setting (or each distinct bound, from a compact JSON)."""
    if "bounds" in setting:
        return list(setting["bounds"].values())
    return list(setting.get("bounds_count", {}))
