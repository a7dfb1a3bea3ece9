"""The reports of :func:`bale.info`, :func:`bale.verify` and :func:`bale.compress`, as typed models.

Each report is a :class:`typing.TypedDict`: at run time a plain ``dict``, so ``bale info --json``
prints it as it is (``json.dumps``, keys in the order the producer writes them) and
``bale.info(path)["ratio"]`` reads it; for a type checker, every key and its type. This module
owns the models; :mod:`bale.api.inspect`, :mod:`bale.api.root_file` and :mod:`bale.grid.api`
produce them, :mod:`bale.cli` reads them.

A report of one table or one tree's dataset (:class:`TableInfo`) has no ``"kind"``; a whole ROOT
file's (:class:`RootFileInfo`) has ``"kind": "root_file"`` and ``"trees"``; a file of fields
(:class:`FieldsInfo`) the header's kind (``"grid"``) and ``"grids"``. The models are ``@final``
so that ``"trees" in report`` narrows a union to one of them. :func:`bale.compress` returns the
:func:`bale.info` of the file it wrote, with the ``"seconds"`` it took (:class:`Seconds`).
"""

# no `from __future__ import annotations`: Python 3.11 sees NotRequired only in evaluated annotations, and
# __required_keys__ / __optional_keys__ (what tests/test_reports.py checks the reports against) need it
from typing import Final, NotRequired, TypedDict, final

__all__ = [
    "ROOT_FILE_KIND",
    "ColumnInfo",
    "CompressReport",
    "FieldInfo",
    "FieldsInfo",
    "FieldsModelInfo",
    "FieldsVerify",
    "GridParts",
    "Info",
    "ModelInfo",
    "QuantityInfo",
    "RootFileInfo",
    "RootFileVerify",
    "Seconds",
    "TableInfo",
    "TableSummary",
    "TableVerify",
    "Verify",
    "table_info",
]

ROOT_FILE_KIND: Final = "root_file"  # the "kind" of info()'s and verify()'s report of a whole ROOT file


# -- info ---------------------------------------------------------------------------------------------------


@final
class Seconds(TypedDict):
    """How long :func:`bale.compress` took: training (or loading) the model, then coding and writing."""

    train: float
    compress: float


@final
class ColumnInfo(TypedDict):
    """One column in :class:`TableInfo`: its bound as written, its predictor, its bytes."""

    bound: str
    predictor: str
    bytes: int
    bits_per_value: float
    depends_on: NotRequired[list[str]]  # what decoding it alone decodes too, when the model is at hand
    context: NotRequired[list[str]]  # the columns whose integers pick its residuals' histograms (|x|: magnitude)


@final
class QuantityInfo(TypedDict):
    """A quantity of several columns declared with a bound (docs/codec.md), coded in its column's section."""

    bound: str | None
    column: str | None  # the column whose section holds it
    mode: str | None  # "value": its value coded, the column rebuilt; else checked, rows patched
    bytes: int


@final
class TableSummary(TypedDict):
    """One table of a dataset (a main table and its collections)."""

    rows: int
    columns: int
    counter: str | None
    bytes: int
    bits_per_value: float
    predictors: dict[str, int]


@final
class ModelInfo(TypedDict):
    """The model of a table file: embedded or external (named by its SHA-256)."""

    embedded: bool
    sha256: str | None
    problem: NotRequired[str]  # why the model could not be opened (info shows the bytes anyway)
    bytes: NotRequired[int]  # an external model's size, when its file was given


@final
class TableInfo(TypedDict):
    """:func:`bale.info` of one table, or of one tree's dataset."""

    file: str
    format_version: int
    created_by: str | None
    rows: int
    columns: int
    chunks: int
    raw_bytes: int
    file_bytes: int
    bytes: dict[str, int]  # header, model, latents, exact columns ... index: every byte of the file once
    model: ModelInfo
    ratio: float | None
    per_column: dict[str, ColumnInfo]
    quantities: NotRequired[dict[str, QuantityInfo]]
    tables: NotRequired[dict[str, TableSummary]]  # a dataset of several tables
    ratio_without_model: NotRequired[float]  # an embedded model
    ratio_with_model: NotRequired[float]  # an external model, its file given
    seconds: NotRequired[Seconds]  # compress() only


@final
class RootFileInfo(TypedDict):
    """:func:`bale.info` of a whole ROOT file: each tree's own :class:`TableInfo`, the objects, what was left out."""

    file: str
    format_version: int
    created_by: str | None
    kind: str  # ROOT_FILE_KIND
    trees: dict[str, TableInfo]
    objects: dict[str, str]  # name -> ROOT class
    left_out: dict[str, str]  # name -> why
    changed: dict[str, str]  # name -> what was not kept whole
    raw_bytes: int
    file_bytes: int
    bytes: dict[str, int]
    ratio: float | None


class GridParts(TypedDict, total=False):
    """What a coded grid's parts say (:func:`bale.grid.codec.describe_parts`)."""

    block: list[int]
    predictors: dict[str, int]  # predictor -> blocks
    raw_values: int  # values stored raw (no prediction met the bound)


@final
class FieldInfo(TypedDict):
    """One field (grid) in :class:`FieldsInfo`."""

    shape: list[int]
    dtype: str
    error: str | None  # the bound as given (range=1e-3)
    bound: str  # the bound it was coded with (abs=...)
    block: NotRequired[list[int]]
    predictors: NotRequired[dict[str, int]]
    raw_values: NotRequired[int]
    bytes: int
    bits_per_value: float


@final
class FieldsModelInfo(TypedDict):
    """The conv model of a file of fields, if one was used."""

    embedded: bool
    sha256: str | None
    family: str | None


@final
class FieldsInfo(TypedDict):
    """:func:`bale.info` of a file of fields (docs/grids.md)."""

    file: str
    kind: str  # the header's kind of a file of fields (bale.container.FIELDS_KIND)
    format_version: int
    created_by: str | None
    grids: dict[str, FieldInfo]
    raw_bytes: int
    file_bytes: int
    bytes: dict[str, int]
    model: FieldsModelInfo
    ratio: float | None
    ratio_without_model: NotRequired[float]
    ratio_with_model: NotRequired[float]
    seconds: NotRequired[Seconds]  # compress() only


Info = TableInfo | RootFileInfo | FieldsInfo
"""What :func:`bale.info` returns: ``"trees" in report`` for a whole ROOT file, ``"grids" in report`` for fields."""

CompressReport = TableInfo | RootFileInfo | FieldsInfo
"""What :func:`bale.compress` returns: :func:`bale.info` of the output, with ``"seconds"`` (not for a whole ROOT
file, whose trees are timed one by one)."""


# -- verify -------------------------------------------------------------------------------------------------


@final
class TableVerify(TypedDict):
    """:func:`bale.verify` of one table or one tree's dataset."""

    file: str
    ok: bool
    format_version: int
    rows: int
    tables: int
    columns: int
    chunks: int
    exact_sha256_checked: bool  # False for files written before bale stored the SHA-256 of exact columns
    seconds: float


@final
class RootFileVerify(TypedDict):
    """:func:`bale.verify` of a whole ROOT file: each tree's :class:`TableVerify`, the objects read back."""

    file: str
    ok: bool
    format_version: int
    kind: str  # ROOT_FILE_KIND
    trees: dict[str, TableVerify]
    objects: int
    seconds: float


@final
class FieldsVerify(TypedDict):
    """:func:`bale.verify` of a file of fields: every grid decoded in memory."""

    file: str
    ok: bool
    format_version: int
    kind: str  # bale.container.FIELDS_KIND
    grids: dict[str, list[int]]  # name -> shape
    chunks: int
    exact_sha256_checked: bool
    seconds: float


Verify = TableVerify | RootFileVerify | FieldsVerify
"""What :func:`bale.verify` returns: ``"trees" in report`` for a whole ROOT file, ``"grids" in report`` for fields."""


def table_info(report: Info) -> TableInfo:
    """``report`` as the :func:`bale.info` (or :func:`bale.compress`) of a table, for a type checker and at run time.

    A whole ROOT file's report or one of fields raises :class:`TypeError`.
    """
    if "trees" in report or "grids" in report:
        raise TypeError(f"{report['file']} holds a {'whole ROOT file' if 'trees' in report else 'file of fields'}")
    return report
