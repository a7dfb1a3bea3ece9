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

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MEMBERS_KIND",
    "MEMBER_SECTION",
    "BaleReader",
    "BaleWriter",
    "ChunkInfo",
    "Source",
]
