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
    "Distribution",
    "ErrorStats",
    "EvaluationReport",
    "Float",
    "FourVectorInfo",
    "GridEvaluation",
    "GridFileFacts",
    "GridMetrics",
    "GridSummary",
    "MassResult",
    "NoFigure",
    "PairFit",
    "PairResult",
    "PeakFit",
    "PhysicsResult",
    "QuantityResult",
    "ResponseBins",
    "ResponseVsPt",
    "Sampling",
    "SpreadStats",
    "Summary",
    "TableStats",
    "Training",
    "TrainingRecord",
    "ValueRange",
    "WrittenFigure",
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


class Distribution(TypedDict):
    """KS and chi2 of original against decompressed beside split-half baselines (:mod:`bale.evaluate.stats`)."""

    n: int
    ks: Float
    ks_split: Float
    chi2_ndf: Float
    chi2_split: Float
    ndf: int
    flag: bool
    ks_ratio: NotRequired[Float]
    flag_ks: NotRequired[bool]
    flag_chi2: NotRequired[bool]
    discrete: NotRequired[bool]
    top_level_fraction: NotRequired[float]
    cause: NotRequired[str | None]  # "levels" or "shape" when flagged


class ColumnResult(BoundCheck):
    """One column (:func:`bale.evaluate.metrics.column_metrics`, then its table, distribution and figure)."""

    dtype: str
    rows: int
    nonfinite_changed: int
    range: ValueRange
    residual: ErrorStats
    response: ErrorStats
    table: NotRequired[str]
    distribution: NotRequired[Distribution]
    figure: NotRequired[str | None]


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
    figure: NotRequired[str | None]


class TableStats(TypedDict):
    """One table of the dataset compared."""

    rows: int
    columns: int
    sampled_rows: int
    counter: NotRequired[str]
    event_column: NotRequired[str]


class SpreadStats(TypedDict):
    """Mean, standard deviation, RMS, median and the central 68 % half-width of relative differences."""

    n: int
    mean: Float
    std: Float
    rms: Float
    median: Float
    spread68: Float
    max_abs: Float


class MassResult(SpreadStats):
    """The relative mass difference ``(m' - m)/m`` of one kind of object (physics.mass_difference)."""

    source: str  # "column NAME", or "rebuilt from (KIND)"
    object: str
    columns: list[str]
    unphysical: int  # rebuilt masses whose m'^2 came out negative
    conditioning: NotRequired[Float]  # median (E/m)^2 of a rebuilt mass
    expected_error: NotRequired[float]  # conditioning x the components' relative bound
    figure: NotRequired[str | None]


class PeakFit(TypedDict):
    """A Gaussian fitted to the core of a mass peak (:func:`bale.evaluate.physics.fit_peak`)."""

    mean: float
    mean_error: float
    sigma: float
    sigma_error: float
    amplitude: float
    chi2_ndf: float
    window: list[float]
    entries: int
    bin_width: float
    edges: NotRequired[Any]  # the histogram's edges (a NumPy array): used for the second fit, not reported


class PairFit(TypedDict):
    """The original's and the decompressed peak, fitted alike, and how far the second moved."""

    original: PeakFit
    decompressed: PeakFit
    peak_shift: float
    peak_shift_error: float
    width_shift: float
    width_shift_error: float
    relative_peak_shift: Float


class PairResult(TypedDict):
    """The invariant mass of a pair of objects (:func:`bale.evaluate.physics.pair_mass`)."""

    pairs: int
    relative_difference: SpreadStats
    fit: PairFit | None  # None: too few pairs, or the fit failed
    label: NotRequired[str]
    figure: NotRequired[str | None]


class ResponseBins(TypedDict):
    """Per bin of the original pt: objects, mean and standard deviation of a response."""

    n: list[int]
    mean: list[Float]
    std: list[Float]


class ResponseVsPt(TypedDict):
    """The pt, energy and mass responses of one kind of object in bins of the original pt."""

    object: str
    edges: list[float]
    bins: dict[str, ResponseBins]  # "pt", "energy", "mass"
    figure: NotRequired[str | None]


class FourVectorInfo(TypedDict):
    """A four-vector found among the column names (or named by the user)."""

    name: str
    kind: str
    columns: dict[str, str]  # role (pt, eta, phi, mass or E, px, py, pz) -> column


class PhysicsResult(TypedDict):
    """The physics of one table (:mod:`bale.evaluate.physics`): four-vectors, masses, pair masses, response vs pt."""

    objects: list[FourVectorInfo]
    masses: list[MassResult]
    pairs: list[PairResult]
    response_vs_pt: list[ResponseVsPt]


class TrainingRecord(TypedDict, total=False):
    """One table's network training record, from its model file."""

    history: list[dict[str, Any]]  # per epoch: epoch, train, val, lr (the trainer's JSON, as stored)
    best_epoch: int | None
    loss: str | None
    epochs: int | None
    seconds: float | None
    network_kept: bool


class WrittenFigure(TypedDict):
    """A figure drawn for the report (:class:`bale.evaluate.plots.Figures`): its PNG file and the PNG itself."""

    name: str
    file: str
    caption: str
    png_base64: str


class NoFigure(TypedDict):
    """What :class:`bale.evaluate.plots.Figures` gives when figures are off."""

    name: None


class Sampling(TypedDict):
    """The seeded subsample the distribution tests, correlations and figures use."""

    max_rows: int
    seed: int


class Training(TypedDict):
    """The training record of each table's network, or why there is none."""

    tables: dict[str, TrainingRecord]
    note: str | None
    figure: NotRequired[str | None]


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
