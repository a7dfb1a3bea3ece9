"""The ``.bale`` file format: header, optional embedded model, independent chunks, footer index."""

from bale.container.format import FORMAT_VERSION, MAGIC, BaleReader, BaleWriter, ChunkInfo

__all__ = ["FORMAT_VERSION", "MAGIC", "BaleReader", "BaleWriter", "ChunkInfo"]
