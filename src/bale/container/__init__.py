"""The ``.bale`` file format: header, optional embedded model, independent chunks, footer index.

The header, footer and chunk index are typed (:mod:`bale.container.schema`); the header is
built and validated by :mod:`bale.container.header` only.
"""

from bale.container.format import BaleWriter
from bale.container.header import (
    column_entry,
    grid_entry,
    grid_header,
    holds_fields,
    members_header,
    model_entry,
    table_entry,
    table_header,
)
from bale.container.layout import BASE_VERSION, FORMAT_VERSION, MAGIC, ChunkInfo, Source
from bale.container.reader import BaleReader
from bale.container.schema import (
    FIELDS_KIND,
    GRID_SECTION,
    MEMBER_SECTION,
    MEMBERS_KIND,
    OBJECTS_MEMBER,
    TREE_MEMBER,
    ChunkEntry,
    ColumnEntry,
    Footer,
    GridEntry,
    Header,
    ModelEntry,
    QuantityEntry,
    TableEntry,
)

__all__ = [
    "BASE_VERSION",
    "FIELDS_KIND",
    "FORMAT_VERSION",
    "GRID_SECTION",
    "MAGIC",
    "MEMBERS_KIND",
    "MEMBER_SECTION",
    "OBJECTS_MEMBER",
    "TREE_MEMBER",
    "BaleReader",
    "BaleWriter",
    "ChunkEntry",
    "ChunkInfo",
    "ColumnEntry",
    "Footer",
    "GridEntry",
    "Header",
    "ModelEntry",
    "QuantityEntry",
    "Source",
    "TableEntry",
    "column_entry",
    "grid_entry",
    "grid_header",
    "holds_fields",
    "members_header",
    "model_entry",
    "table_entry",
    "table_header",
]
