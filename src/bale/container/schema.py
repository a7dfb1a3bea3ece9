"""The ``.bale`` header, footer and chunk index as typed models (docs/format.md).

Each model is a :class:`typing.TypedDict`: at run time a header is the plain ``dict`` its JSON
decodes to, so the bytes written stay those of every earlier bale, and type checkers know its
keys. The structure of what a file declares is checked by pydantic (``*_ADAPTER`` below, built
once at import), strictly: a number is not a string, a flag is not a number. What pydantic
cannot say (a plain NumPy dtype, a bound that parses, names that do not repeat, sizes a file can
justify) is :mod:`bale.container.header`'s and :mod:`bale.container.index`'s to check.

Keys a later bale may add are kept (``extra="allow"``); a key these models name must have its type.
"""

from typing import Annotated, Any, Final, NotRequired

from pydantic import ConfigDict, Strict, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic validates typing's TypedDicts from Python 3.12 only

__all__ = [
    "FIELDS_KIND",
    "FORMAT_NAME",
    "GRID_SECTION",
    "MEMBERS_KIND",
    "MEMBER_KINDS",
    "MEMBER_SECTION",
    "OBJECTS_MEMBER",
    "TREE_MEMBER",
    "ChunkEntry",
    "ColumnEntry",
    "Footer",
    "GridEntry",
    "Header",
    "HeaderV1",
    "HeaderV2",
    "ModelEntry",
    "QuantityEntry",
    "TableEntry",
]

FORMAT_NAME: Final = "bale"  # the header's "format"
FIELDS_KIND: Final = "grid"  # the header's "kind" of a file of N-D fields (docs/grids.md), and each grid's table's
GRID_SECTION: Final = "grid"  # a grid table's key of its shape, and the name of the one section of its chunk
MEMBERS_KIND: Final = "members"  # a file of member files: a ROOT file's trees and other objects (docs/root.md)
MEMBER_SECTION: Final = "member"  # the one section of a member's chunk
TREE_MEMBER: Final = "tree"  # a member's "kind": a .bale file of one tree
OBJECTS_MEMBER: Final = "objects"  # a member's "kind": the ROOT file's other objects, packed
MEMBER_KINDS = (TREE_MEMBER, OBJECTS_MEMBER)

Int = Annotated[int, Strict()]
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
_OPEN = ConfigDict(extra="allow")  # keys a later bale may add are kept, not refused


@with_config(_OPEN)
class ColumnEntry(TypedDict):
    """A column of a table: its name, NumPy dtype, bound (``rel=0.001``) and predictor; a grid's has no predictor."""

    name: Str
    dtype: Str
    bound: Str
    predictor: NotRequired[Str]


@with_config(_OPEN)
class QuantityEntry(TypedDict):
    """A quantity a table's values keep within a bound (docs/quantities.md)."""

    quantity: Str
    bound: Str
    column: Str
    mode: Str


@with_config(_OPEN)
class GridEntry(TypedDict):
    """A grid's shape (C order) and the error it was asked for (``range=0.001``)."""

    shape: list[Int]
    error: NotRequired[Str]


@with_config(_OPEN)
class TableEntry(TypedDict):
    """A table of the file: the main table (name ``""``), a collection (``counter``), a grid or a member."""

    name: Str
    schema: list[ColumnEntry]
    kind: NotRequired[Str]  # FIELDS_KIND for a grid, one of MEMBER_KINDS for a member; none for a table
    counter: NotRequired[Str]  # a collection: the main table's column of its rows per event
    quantities: NotRequired[list[QuantityEntry]]
    grid: NotRequired[GridEntry]  # GRID_SECTION


@with_config(_OPEN)
class ModelEntry(TypedDict, total=False):
    """The model a file was coded with: embedded (its frame's length, CRC-32, encoding) or named by SHA-256."""

    embedded: Bool
    sha256: Str
    family: Str  # "conv": a grid's conv model
    length: Int
    crc32: Int
    encoding: Str


@with_config(_OPEN)
class HeaderV1(TypedDict):
    """A version 1 header: one table, its columns at the top, the raw size in the header."""

    format: NotRequired[Str]
    created_by: NotRequired[Str]
    schema: list[ColumnEntry]
    model: ModelEntry
    chunk_rows: NotRequired[Int]
    raw_bytes: NotRequired[Int]
    source: NotRequired[dict[str, Any]]


@with_config(_OPEN)
class HeaderV2(TypedDict):
    """A version 2 header: tables (a dataset, grids or members), the model, where the data came from."""

    format: NotRequired[Str]
    created_by: NotRequired[Str]
    kind: NotRequired[Str]  # FIELDS_KIND, MEMBERS_KIND; none for tables
    tables: list[TableEntry]
    model: ModelEntry
    chunk_rows: NotRequired[Int]
    source: NotRequired[dict[str, Any]]


class Header(TypedDict):
    """A header of any version, as readers see it: a version 1 header has ``schema``, a later one ``tables``."""

    format: NotRequired[str]
    created_by: NotRequired[str]
    kind: NotRequired[str]
    tables: NotRequired[list[TableEntry]]
    schema: NotRequired[list[ColumnEntry]]
    model: ModelEntry
    chunk_rows: NotRequired[int]
    raw_bytes: NotRequired[int]
    source: NotRequired[dict[str, Any]]


@with_config(_OPEN)
class ChunkEntry(TypedDict):
    """A chunk in the index: its table, step, rows, offset and sections (name, length, CRC-32)."""

    rows: Int
    offset: Int
    sections: list[tuple[Str, Int, Int]]
    table: NotRequired[Int]  # version 1: always 0
    step: NotRequired[Int]  # version 1: the chunk's place


@with_config(_OPEN)
class Footer(TypedDict):
    """The chunk index: rows of the main table and of each table, the chunks, and what verify checks."""

    num_rows: Int
    table_rows: NotRequired[list[Int]]  # version 1: one table of num_rows
    raw_bytes: NotRequired[Int]
    exact_sha256: NotRequired[dict[str, Str]]  # exact column -> SHA-256 of its values (bale verify)
    chunks: list[ChunkEntry]


HEADER_V1_ADAPTER: TypeAdapter[HeaderV1] = TypeAdapter(HeaderV1)
HEADER_V2_ADAPTER: TypeAdapter[HeaderV2] = TypeAdapter(HeaderV2)
FOOTER_ADAPTER: TypeAdapter[Footer] = TypeAdapter(Footer)
