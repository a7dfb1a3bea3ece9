"""The ``.bale`` file format: header, optional embedded model, independent chunks, footer index."""

from bale.container.format import (
    FORMAT_VERSION,
    MAGIC,
    MEMBER_SECTION,
    MEMBERS_KIND,
    BaleReader,
    BaleWriter,
    ChunkInfo,
    Source,
)
from bale.container.header import FIELDS_KIND, holds_fields

__all__ = [
    "FIELDS_KIND",
    "FORMAT_VERSION",
    "MAGIC",
    "MEMBERS_KIND",
    "MEMBER_SECTION",
    "BaleReader",
    "BaleWriter",
    "ChunkInfo",
    "Source",
    "holds_fields",
]
