"""The zarr v3 adapter :class:`BaleZarrCodec`: :class:`~bale.numcodecs_codec.codec.BaleCodec` as an array→bytes codec.

Zarr v3 takes typed codecs, not numcodecs ones; see :mod:`bale.numcodecs_codec` for why and how.
Registered with zarr on import when zarr (>= 3) is installed; :data:`HAVE_ZARR` says whether it is.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bale.errors import BaleFormatError, BaleInputError
from bale.models.plan import CompressionModel
from bale.numcodecs_codec.codec import CODEC_ID, ZARR_CODEC_NAME, BaleCodec

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = ["HAVE_ZARR", "BaleZarrCodec"]

try:
    from zarr.abc.codec import ArrayBytesCodec
    from zarr.registry import register_codec as _register_zarr_codec
except ImportError:  # zarr (>= 3) is optional
    HAVE_ZARR = False
else:
    HAVE_ZARR = True


if HAVE_ZARR:

    @dataclass(frozen=True, repr=False)
    class BaleZarrCodec(ArrayBytesCodec):
        """:class:`BaleCodec` as a zarr v3 array→bytes codec (``serializer=``), named ``numcodecs.bale``.

        Takes the same keyword arguments as :class:`BaleCodec`; its ``configuration`` in
        ``zarr.json`` is the numcodecs configuration without ``id``.
        """

        codec_config: dict[str, Any]
        codec_name: ClassVar[str] = ZARR_CODEC_NAME
        is_fixed_size = False  # not annotated: no dataclass field (zarr's BaseCodec declares it)

        def __init__(self, **codec_config: Any) -> None:
            config = dict(codec_config)
            if config.pop("id", CODEC_ID) != CODEC_ID:
                raise BaleInputError(f"{ZARR_CODEC_NAME}: the codec id must be {CODEC_ID!r}")
            codec = BaleCodec.from_config(config)
            stored = codec.get_config()
            stored.pop("id")
            object.__setattr__(self, "codec_config", stored)
            object.__setattr__(self, "_codec", codec)

        @classmethod
        def from_codec(cls, codec: BaleCodec) -> BaleZarrCodec:
            return cls(**codec.get_config())

        @classmethod
        def from_model(
            cls,
            model: CompressionModel | str | os.PathLike[str],
            columns: Sequence[str] | None = None,
            *,
            error: str | None = None,
            errors: Sequence[str] | None = None,
            workers: int = 1,
        ) -> BaleZarrCodec:
            """See :meth:`BaleCodec.from_model`."""
            return cls.from_codec(BaleCodec.from_model(model, columns, error=error, errors=errors, workers=workers))

        @property
        def codec(self) -> BaleCodec:
            """The numcodecs codec doing the work."""
            return self._codec  # type: ignore[no-any-return,attr-defined]

        @classmethod
        def from_dict(cls, data: dict[str, Any]) -> BaleZarrCodec:
            if data.get("name") != ZARR_CODEC_NAME:
                raise BaleInputError(f"expected a codec named {ZARR_CODEC_NAME!r}, got {data.get('name')!r}")
            config = data.get("configuration") or {}
            if not isinstance(config, dict):
                raise BaleInputError(f"{ZARR_CODEC_NAME}: configuration must be an object")
            return cls(**config)

        def to_dict(self) -> dict[str, Any]:
            return {"name": ZARR_CODEC_NAME, "configuration": dict(self.codec_config)}

        def __hash__(self) -> int:
            return hash((ZARR_CODEC_NAME, self.codec.model_sha256, repr(sorted(self.codec_config.items()))))

        def __repr__(self) -> str:
            return f"BaleZarrCodec({self.codec!r})"

        def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: Any) -> None:
            """Refuse, when the array is created, a dtype or chunk shape the model cannot code."""
            native = dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else np.dtype(dtype)
            chunks = getattr(chunk_grid, "chunk_shape", None)
            self.codec.check_layout(tuple(chunks) if chunks is not None else tuple(shape), native)

        def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
            raise NotImplementedError("the size of a bale chunk depends on its data")

        def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
            encoded = self.codec.encode(chunk_array.as_numpy_array())
            return chunk_spec.prototype.buffer.from_bytes(encoded)

        def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
            decoded = self.codec.decode(chunk_bytes.as_numpy_array())
            want = chunk_spec.dtype.to_native_dtype()
            if decoded.shape != tuple(chunk_spec.shape):
                raise BaleFormatError(
                    f"{ZARR_CODEC_NAME}: decoded a chunk of shape {decoded.shape}, expected {tuple(chunk_spec.shape)}"
                )
            return chunk_spec.prototype.nd_buffer.from_numpy_array(decoded.astype(want, copy=False))

        async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
            return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

        async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
            return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    _register_zarr_codec(ZARR_CODEC_NAME, BaleZarrCodec)
