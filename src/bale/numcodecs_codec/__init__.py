"""A numcodecs codec, and its zarr v3 adapter, that store arrays with a trained bale model.

:class:`BaleCodec` is a :class:`numcodecs.abc.Codec` (``codec_id = "bale"``): ``encode``
turns a NumPy array chunk into the bytes of a ``.bale`` file coded with a trained
:class:`~bale.models.plan.CompressionModel`, ``decode`` gives the array back. Its
configuration is plain JSON — the model's bytes in base64, the column layout and the
bounds — so :meth:`~BaleCodec.get_config` / :func:`numcodecs.get_codec` round-trip it and an
array's metadata is self-contained: nothing but bale is needed to read the data back.

**Lossy.** Float values come back within the bounds (by default the model's own, for
example ``rel=1e-3``: ``|x' - x| <= 1e-3 * |x|`` for every value; NaN, ±inf and ±0 stay
bit-exact); integer and bool values come back exactly. Shape and dtype are preserved.

**Layout.** A chunk becomes a table: with a one-column model the flattened chunk (C order)
is that column; with a model of ``C`` columns the chunk's last axis must have length ``C``
and index ``i`` of it is ``columns[i]`` (an ``(rows, C)`` array is a table of ``rows``
rows); a structured array whose fields are the model's columns is also accepted. The
chunk's shape, dtype and layout travel in the ``source`` metadata of the ``.bale`` header.
A lossy column takes the model's dtype only (any byte order): integers are never coded
through a float bound, and raw ``bytes`` (``uint8`` values) cannot go to a lossy column.
An exact column also takes a dtype that casts safely to its own (``int16`` data for an
``int32`` column). Anything else is refused with one line naming the column.

**Zarr v3.** Zarr v3 does not take numcodecs codecs as they are: its codec pipeline is
made of typed codecs (array→array "filters", one array→bytes "serializer", bytes→bytes
"compressors"). bale sees arrays and writes bytes, so :class:`BaleZarrCodec` wraps
:class:`BaleCodec` as an :class:`zarr.abc.codec.ArrayBytesCodec`, to be given as
``serializer=``; it is named ``numcodecs.bale`` in ``zarr.json``, after the convention of
zarr's own wrappers of numcodecs codecs (:mod:`zarr.codecs.numcodecs`), whose base classes
are private, so the adapter builds on the public :mod:`zarr.abc.codec` instead. Further
``compressors`` (zstd…) may follow but gain little on bale's entropy-coded bytes::

    codec = BaleZarrCodec.from_model("jets.model", columns=["pt", "eta", "phi", "mass"])
    z = zarr.create_array(store, shape=(n, 4), chunks=(65536, 4), dtype="float32",
                          serializer=codec, compressors=None)

A multi-column chunk must span every column (``chunks=(rows, C)``); :meth:`BaleZarrCodec.validate`
says so when the array is created. Each chunk is a whole ``.bale`` file, with a header of a few
hundred bytes: chunks of tens of thousands of values or more keep that overhead small.

The parts: ``codec.py`` (:class:`BaleCodec`), ``zarr_v3.py`` (:class:`BaleZarrCodec`).
Importing this module registers :class:`BaleCodec` with numcodecs and, when zarr (>= 3) is
installed, :class:`BaleZarrCodec` with zarr. Installed bale also declares both as entry points
(``numcodecs.codecs``: ``bale``; ``zarr.codecs``: ``numcodecs.bale``), so a process that opens
such an array finds the codec without importing bale first. The codec is not part of the zarr
v3 specification: other zarr implementations cannot read these arrays.
"""

from __future__ import annotations

from typing import Any

from bale.numcodecs_codec.codec import CODEC_ID, ZARR_CODEC_NAME, BaleCodec
from bale.numcodecs_codec.zarr_v3 import HAVE_ZARR

__all__ = ["CODEC_ID", "ZARR_CODEC_NAME", "BaleCodec", "BaleZarrCodec"]

if HAVE_ZARR:
    from bale.numcodecs_codec.zarr_v3 import BaleZarrCodec
else:

    def __getattr__(name: str) -> Any:
        if name == "BaleZarrCodec":
            raise ImportError("BaleZarrCodec needs zarr >= 3: pip install 'zarr>=3'")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
