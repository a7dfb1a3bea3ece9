"""Exception types. Every error bale raises on purpose derives from :class:`BaleError`."""

from __future__ import annotations

__all__ = ["BaleConfigError", "BaleError", "BaleFormatError", "BaleInputError", "BaleModelMismatchError"]


class BaleError(Exception):
    """Base class of bale's own errors: the CLI prints these as one line."""


class BaleInputError(BaleError, ValueError):
    """The user's data, path or option cannot be used."""


class BaleConfigError(BaleError, ValueError):
    """The configuration file or an option's value is invalid."""


class BaleFormatError(BaleError):
    """A ``.bale`` or model file is corrupt, truncated, forged or of an unknown version."""


class BaleModelMismatchError(BaleError):
    """A file compressed with an external model was given another model to decompress."""
