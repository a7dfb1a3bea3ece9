"""Entropy coding of unsigned 64-bit integers: hybrid tokens, an ANS coder and raw low bits.

Each value ``v`` becomes a *token* and a few raw *extra bits*, as in JPEG XL's
hybrid integer scheme: values below 16 are their own token; larger values are
coded by their bit length and the two bits below the leading one, and the
remaining low bits are stored verbatim. The token alphabet has at most 256
entries, so a per-stream histogram is cheap to store, while the (nearly
uniform) low bits cost what they are worth.

Tokens are entropy-coded under a model built from the stored integer histogram;
integer counts make the model, hence the bytes, identical on every machine.

Layout: ``varint n_symbols | varint alphabet | counts... | block(coded tokens) | block(extra bits)``.
How the two blocks are coded depends on the container's format version:

- versions 2 and 3 (written now): bale's own rANS coder, extra bits in value order
  (:mod:`bale.codec.rans`); version 3 adds streams with one histogram per bucket of a
  context (``context=``: ``varint n | per bucket: varint alphabet, counts... | blocks``,
  :mod:`bale.codec.context`), which a version 2 file never holds;
- version 1 (read only): constriction's ANS coder, extra bits grouped by width
  (:mod:`bale.codec.bitpack`). constriction is imported only to read such a stream
  (``pip install 'bale[v1]'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bale.codec.bitpack import unpack_bits
from bale.codec.varint import ByteReader, block, encode_varint, encode_varints
from bale.errors import BaleFormatError, BaleInputError

__all__ = ["STREAM_VERSION", "decode_ints", "decode_uints", "encode_uints", "tokenize", "unzigzag", "zigzag"]

_DIRECT = 16  # values below this are their own token
_SPLIT_BITS = 4  # log2(_DIRECT)
_MSB_IN_TOKEN = 2
_MAX_TOKENS = 256
STREAM_VERSION = 3  # the newest container format version whose streams these functions read and write


def zigzag(values: np.ndarray) -> np.ndarray:
    """Map int64 to uint64 so that small magnitudes become small numbers (wrapping, bijective)."""
    v = values.astype(np.int64, copy=False)
    return ((v << np.int64(1)) ^ (v >> np.int64(63))).view(np.uint64)


def unzigzag(values: np.ndarray) -> np.ndarray:
    u = values.astype(np.uint64, copy=False)
    return ((u >> np.uint64(1)).view(np.int64)) ^ (-(u & np.uint64(1)).view(np.int64))


def tokenize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens, raw extra bits and their widths of uint64 ``values`` (also used to estimate sizes)."""
    v = np.ascontiguousarray(values.astype(np.uint64, copy=False))
    tokens = np.empty(len(v), dtype=np.int32)
    extras = np.empty(len(v), dtype=np.uint64)
    widths = np.empty(len(v), dtype=np.int64)
    from bale.codec.rans import tokenize_into  # numba, at the first stream coded: `bale info` needs none

    tokenize_into(v, tokens, extras, widths, _DIRECT, _SPLIT_BITS, _MSB_IN_TOKEN)
    return tokens, extras, widths


def _token_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per token: its extra-bit count, and the value it stands for with the extra bits zero."""
    widths = np.zeros(_MAX_TOKENS, dtype=np.int64)
    base = np.arange(_MAX_TOKENS, dtype=np.uint64)
    for t in range(_DIRECT, _MAX_TOKENS):
        nbits, msb = divmod(t - _DIRECT, 1 << _MSB_IN_TOKEN)
        nbits += _SPLIT_BITS
        widths[t] = nbits - _MSB_IN_TOKEN
        base[t] = (((1 << _MSB_IN_TOKEN) | msb) << int(widths[t])) % (1 << 64)
    return widths, base


_TOKEN_WIDTHS, _TOKEN_BASE = _token_tables()


def encode_uints(values: np.ndarray, *, context: np.ndarray | None = None, buckets: int = 1) -> bytes:
    """Entropy-code a 1-D array of non-negative integers (any unsigned or non-negative dtype).

    ``context``: each value's bucket (``0 <= context < buckets``), coded with that bucket's own
    token histogram (:mod:`bale.codec.context`); the decoder must be given the same buckets.
    """
    n = len(values)
    if n == 0:
        return encode_varint(0)
    tokens, extras, widths = tokenize(np.asarray(values).astype(np.uint64, copy=False))
    out = bytearray(encode_varint(n))
    if context is None:
        counts = np.bincount(tokens, minlength=1)[None, :]
    else:
        counts = np.bincount(context * _MAX_TOKENS + tokens, minlength=buckets * _MAX_TOKENS)
        counts = counts.reshape(buckets, _MAX_TOKENS)
        counts = counts[:, : int(np.flatnonzero(counts.any(axis=0))[-1]) + 1]
    used = counts > 0
    alphabets = np.where(used.any(axis=1), counts.shape[1] - np.argmax(used[:, ::-1], axis=1), 0)
    # each histogram: its alphabet, then its counts up to its last token, as varints
    fields = np.concatenate([alphabets[:, None], counts], axis=1)
    keep = np.arange(fields.shape[1])[None, :] <= alphabets[:, None]
    out += encode_varints(fields[keep])
    if np.count_nonzero(counts.any(axis=0)) > 1:
        from bale.codec import rans  # numba, imported at the first stream coded: `bale info` needs neither

        out += block(rans.encode_tokens(tokens, _frequencies(counts if context is not None else counts[0]), context))
    else:
        out += block(b"")
    from bale.codec.rans import pack_extras

    out += block(pack_extras(extras, widths))
    return bytes(out)


def decode_ints(
    data: bytes | memoryview | ByteReader,
    expected: int | None = None,
    version: int = STREAM_VERSION,
    *,
    context: np.ndarray | None = None,
    buckets: int = 1,
) -> np.ndarray:
    """``unzigzag(decode_uints(...))`` in one pass: the inverse of ``encode_uints(zigzag(values))``."""
    return _decode(data, expected, version, signed=True, context=context, buckets=buckets)


def decode_uints(
    data: bytes | memoryview | ByteReader, expected: int | None = None, version: int = STREAM_VERSION
) -> np.ndarray:
    """Inverse of :func:`encode_uints`; ``expected`` checks the stored count, ``version`` is the container's."""
    return _decode(data, expected, version, signed=False)


def _decode(
    data: bytes | memoryview | ByteReader,
    expected: int | None,
    version: int,
    signed: bool,
    context: np.ndarray | None = None,
    buckets: int = 1,
) -> np.ndarray:
    reader = data if isinstance(data, ByteReader) else ByteReader(data)
    n = reader.varint()
    if expected is not None and n != expected:
        raise BaleFormatError(f"stream holds {n} values, expected {expected}")
    if n == 0:
        return np.zeros(0, dtype=np.int64 if signed else np.uint64)
    if context is None:
        alphabet = reader.varint()
        if not 1 <= alphabet <= _MAX_TOKENS:
            raise BaleFormatError(f"token alphabet of {alphabet} entries is out of range")
        count_list = [reader.varint() for _ in range(alphabet)]
        if sum(count_list) != n:  # Python integers: no overflow to hide a forged histogram
            raise BaleFormatError("token histogram does not add up to the value count")
        counts = np.array(count_list, dtype=np.int64)
    else:
        counts = _bucket_histograms(reader, context, buckets)
    words = reader.block()
    bits = reader.block()
    if version >= 2:
        if np.count_nonzero(np.atleast_2d(counts).any(axis=0)) <= 1 and len(words):
            raise BaleFormatError("entropy-coded payload for a single-token stream")
        if len(words) % 4:
            raise BaleFormatError("rANS payload is not a whole number of words")
        from bale.codec import rans

        values, code = rans.decode_values(
            words, bits, n, _frequencies(counts), _TOKEN_WIDTHS, _TOKEN_BASE, signed, context
        )
        if code != rans.OK:
            raise BaleFormatError(f"corrupt entropy-coded stream ({_decode_error(code)})")
        return values
    if context is not None:
        raise BaleFormatError("a context-coded stream in a format version 1 file")
    values = _decode_v1(words, bits, n, counts)
    return unzigzag(values) if signed else values


def _bucket_histograms(reader: ByteReader, context: np.ndarray, buckets: int) -> np.ndarray:
    """One token histogram per bucket, each adding up to the values of its bucket."""
    from bale.codec.context_kernels import read_histograms  # numba: a column with contexts is being decoded

    expected = np.bincount(context, minlength=buckets)
    if len(expected) != buckets:
        raise BaleFormatError("a value's context lies outside its buckets")
    counts = np.zeros((buckets, _MAX_TOKENS), dtype=np.int64)
    end = read_histograms(np.frombuffer(reader.data, np.uint8), reader.pos, buckets, _MAX_TOKENS, counts)
    if end < 0:
        raise BaleFormatError("truncated or out-of-range token histograms")
    reader.pos = end
    if (counts > len(context)).any() or not np.array_equal(counts.sum(axis=1), expected):
        raise BaleFormatError("a bucket's token histogram does not add up to its values")
    return counts[:, : int(np.flatnonzero(counts.any(axis=0))[-1]) + 1] if counts.any() else counts[:, :1]


def _frequencies(counts: np.ndarray) -> np.ndarray:
    """rANS frequencies of each histogram (a bucket of no values keeps no frequencies)."""
    from bale.codec import rans

    if counts.ndim == 1:
        return rans.quantized_frequencies(counts)
    return rans.quantized_rows(counts)


def _decode_error(code: int) -> str:
    from bale.codec import rans

    return {
        rans.OUT_OF_WORDS: "coded tokens end early",
        rans.BAD_FINAL_STATE: "coder state or length does not check out",
        rans.OUT_OF_BITS: "extra bits end early",
    }[code]


def _decode_v1(words: memoryview, bits: memoryview, n: int, counts: np.ndarray) -> np.ndarray:
    """Format version 1: constriction's ANS coder, extra bits grouped by width."""
    if np.count_nonzero(counts) > 1:
        if len(words) % 4:
            raise BaleFormatError("ANS payload is not a whole number of words")
        constriction = _constriction()
        try:
            coder = constriction.stream.stack.AnsCoder(np.frombuffer(words, dtype=np.uint32).copy())
            model = constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)
            tokens = np.asarray(coder.decode(model, n))
        except (ValueError, RuntimeError) as exc:  # constriction's word on damaged data
            raise BaleFormatError(f"corrupt entropy-coded stream: {exc}") from None
    else:
        tokens = np.full(n, int(np.argmax(counts)), dtype=np.int32)
    widths, base = _TOKEN_WIDTHS[tokens], _TOKEN_BASE[tokens]
    values: np.ndarray = base | unpack_bits(bits, widths)
    return values


def _constriction() -> Any:
    """constriction, an optional dependency (the ``v1`` extra): only format-version-1 streams need it."""
    try:
        import constriction
    except ImportError:
        raise BaleInputError(
            "this .bale file is format version 1, whose reading needs constriction: pip install 'bale[v1]'"
        ) from None
    return constriction
