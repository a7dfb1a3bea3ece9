"""A static rANS coder for token streams, with the raw extra bits in the same pass (numba).

rANS (Duda's range variant of asymmetric numeral systems, in the 64-bit state / 32-bit
word layout of Giesen's ``rans64``) codes tokens under a fixed frequency table; the
decoder finds each token with a lookup table of ``2**PROB_BITS`` slots. The kernels are
compiled by numba with ``nogil``, so the chunks of a file decode on several threads at
once, and run a few nanoseconds per value: this, not the model, is what format version 2
changed (version 1 used constriction's ANS coder, which holds the GIL).

Frequencies come from the stored integer histogram by integer arithmetic only
(:func:`quantized_frequencies`), so encoder and decoder agree on every machine.

Stream layout (after the histogram, which :mod:`bale.codec.uint_stream` writes):
``block(rANS words, little-endian uint32)`` then ``block(extra bits)``, the extra bits of
each value in value order, most significant bit first.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "BAD_FINAL_STATE",
    "OK",
    "OUT_OF_BITS",
    "OUT_OF_WORDS",
    "PROB_BITS",
    "decode_values",
    "encode_tokens",
    "pack_extras",
    "quantized_frequencies",
    "quantized_rows",
    "tokenize_into",
]

PROB_BITS = 12  # 4 KiB of lookup slots stay in L1; measured to cost < 0.1% in size
_SCALE = 1 << PROB_BITS
_LOWER = np.uint64(1) << np.uint64(31)  # state lives in [2**31, 2**63)

# error codes of the decode kernel (the caller turns them into BaleFormatError)
OK, OUT_OF_WORDS, BAD_FINAL_STATE, OUT_OF_BITS = 0, 1, 2, 3


def quantized_frequencies(counts: np.ndarray) -> np.ndarray:
    """Frequencies summing to ``2**PROB_BITS``, every used token at least 1 (exact integer arithmetic)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total < 1 << 50:  # exact in int64, as in Python integers
        freq = (counts << PROB_BITS) // total
    else:
        freq = np.array([(int(c) << PROB_BITS) // total for c in counts.tolist()], dtype=np.int64)
    freq[(counts > 0) & (freq == 0)] = 1
    excess = int(freq.sum()) - _SCALE
    # give or take the difference from the largest frequencies, never below 1; ties by index
    order = np.lexsort((np.arange(len(freq)), -freq))
    i = 0
    while excess > 0:
        j = order[i % len(order)]
        if freq[j] > 1:
            freq[j] -= 1
            excess -= 1
        i += 1
    if excess < 0:
        freq[order[0]] -= excess
    return freq


@numba.njit(nogil=True, cache=True)
def _quantized_rows(counts: np.ndarray, freq: np.ndarray) -> None:
    for b in range(counts.shape[0]):
        row = counts[b]
        total = np.int64(0)
        for c in row:
            total += c
        if total == 0:
            freq[b, :] = 0
            continue
        for t in range(len(row)):
            f = (row[t] << PROB_BITS) // total
            freq[b, t] = 1 if row[t] > 0 and f == 0 else f
        excess = np.int64(0)
        for t in range(len(row)):
            excess += freq[b, t]
        excess -= _SCALE
        order = np.argsort(-freq[b], kind="mergesort")  # stable: ties by index, as np.lexsort
        i = 0
        while excess > 0:
            j = order[i % len(order)]
            if freq[b, j] > 1:
                freq[b, j] -= 1
                excess -= 1
            i += 1
        if excess < 0:
            freq[b, order[0]] -= excess


def quantized_rows(counts: np.ndarray) -> np.ndarray:
    """:func:`quantized_frequencies` of each row of ``counts`` (a row of zeros stays zeros), compiled:
    one histogram per bucket of a context made them the decoder's largest cost in Python."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if counts.size and int(counts.sum(axis=1).max()) >= 1 << 50:
        return np.array([quantized_frequencies(row) if row.any() else row for row in counts])
    freq = np.empty_like(counts)
    _quantized_rows(counts, freq)
    return freq


@numba.njit(nogil=True, cache=True)
def _encode(tokens: np.ndarray, context: np.ndarray, freq: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """rANS words of ``tokens``; token ``i`` under the table ``context[i]`` (row of ``freq``), or row 0."""
    words = np.empty(len(tokens) + 2, dtype=np.uint32)
    n_words = 0
    x = np.uint64(1) << np.uint64(31)
    tables = len(context) > 0
    for i in range(len(tokens) - 1, -1, -1):
        s = tokens[i]
        b = context[i] if tables else 0
        f = np.uint64(freq[b, s])
        x_max = ((np.uint64(1) << np.uint64(31 - PROB_BITS)) << np.uint64(32)) * f
        if x >= x_max:
            words[n_words] = np.uint32(x & np.uint64(0xFFFFFFFF))
            n_words += 1
            x >>= np.uint64(32)
        x = ((x // f) << np.uint64(PROB_BITS)) + (x % f) + np.uint64(cum[b, s])
    words[n_words] = np.uint32(x & np.uint64(0xFFFFFFFF))
    words[n_words + 1] = np.uint32(x >> np.uint64(32))
    n_words += 2
    return words[:n_words][::-1].copy()


def encode_tokens(tokens: np.ndarray, freq: np.ndarray, context: np.ndarray | None = None) -> bytes:
    """rANS words of ``tokens`` (int32, each with a nonzero frequency), little-endian.

    ``freq``: one table, or one row per context; ``context``: each token's row (with a 2-D ``freq``).
    """
    table = np.atleast_2d(np.asarray(freq, dtype=np.int64))
    cum = np.zeros_like(table)
    np.cumsum(table[:, :-1], axis=1, out=cum[:, 1:])
    ctx = np.zeros(0, np.int64) if context is None else np.ascontiguousarray(context, dtype=np.int64)
    words = _encode(np.ascontiguousarray(tokens, dtype=np.int32), ctx, table, cum)
    return words.astype("<u4").tobytes()


@numba.njit(nogil=True, cache=True)
def _pack(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    total = 0
    for w in widths:
        total += w
    out = np.zeros((total + 7) // 8 + 8, dtype=np.uint8)
    acc = np.uint64(0)  # pending bits, right-aligned
    held = 0
    pos = 0
    for i in range(len(values)):
        w = widths[i]
        v = values[i]
        while w > 0:  # feed at most 32 bits at a time, so acc never overflows
            take = min(w, 32)
            w -= take
            part = (v >> np.uint64(w)) & ((np.uint64(1) << np.uint64(take)) - np.uint64(1))
            acc = (acc << np.uint64(take)) | part
            held += take
            while held >= 8:
                held -= 8
                out[pos] = np.uint8((acc >> np.uint64(held)) & np.uint64(0xFF))
                pos += 1
        acc &= (np.uint64(1) << np.uint64(held)) - np.uint64(1)
    if held:
        out[pos] = np.uint8((acc << np.uint64(8 - held)) & np.uint64(0xFF))
        pos += 1
    return out[:pos]


def pack_extras(extras: np.ndarray, widths: np.ndarray) -> bytes:
    """The low ``widths[i]`` bits of each ``extras[i]``, in order, MSB first."""
    return _pack(extras.astype(np.uint64, copy=False), widths.astype(np.int64, copy=False)).tobytes()


@numba.njit(nogil=True, cache=True, inline="always")
def _read_bits(bits: np.ndarray, pos: int, width: int) -> np.uint64:
    """``width`` (1..56) bits at bit offset ``pos`` of a zero-padded byte array, MSB first."""
    byte = pos >> 3
    word = np.uint64(0)
    for k in range(8):
        word = (word << np.uint64(8)) | np.uint64(bits[byte + k])
    return (word << np.uint64(pos & 7)) >> np.uint64(64 - width)


@numba.njit(nogil=True, cache=True)
def _slots(freq: np.ndarray, slots: np.ndarray) -> bool:
    """The decoder's lookup table in one pass (a small chunk spent most of its time building it from
    NumPy temporaries): per table and slot, ``(frequency - 1) << 20 | (slot - cumulative frequency) << 8
    | token`` in one 32-bit word (frequencies 1 to 4096, tokens below 256). A table of no tokens (a
    context no value has: the stream's histograms were checked against the values' contexts) is left unset."""
    for b in range(freq.shape[0]):
        pos = 0
        for token in range(freq.shape[1]):
            f = freq[b, token]
            if f < 0 or pos + f > slots.shape[1]:
                return False
            for k in range(f):
                slots[b, pos] = np.uint32(((f - 1) << 20) | (k << 8) | token)
                pos += 1
        if pos != slots.shape[1] and pos != 0:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _decode(
    words: np.ndarray,
    bits: np.ndarray,
    n_bits: int,
    n: int,
    context: np.ndarray,
    slots: np.ndarray,
    token_width: np.ndarray,
    token_base: np.ndarray,
    single: int,
    signed: bool,
    out: np.ndarray,
) -> int:
    mask = np.uint64((1 << PROB_BITS) - 1)
    lower = np.uint64(1) << np.uint64(31)
    x = lower
    w = 0
    if single < 0:
        if len(words) < 2:
            return OUT_OF_WORDS
        x = (np.uint64(words[0]) << np.uint64(32)) | np.uint64(words[1])
        w = 2
    pos = 0
    tables = len(context) > 0
    for i in range(n):
        if single >= 0:
            s = np.int64(single)
        else:
            b = context[i] if tables else 0
            entry = np.uint64(slots[b, x & mask])  # (frequency - 1) << 20 | (slot - cumulative) << 8 | token
            s = np.int64(entry & np.uint64(0xFF))
            f = (entry >> np.uint64(20)) + np.uint64(1)
            x = f * (x >> np.uint64(PROB_BITS)) + ((entry >> np.uint64(8)) & np.uint64(0xFFF))
            if x < lower:
                if w >= len(words):
                    return OUT_OF_WORDS
                x = (x << np.uint64(32)) | np.uint64(words[w])
                w += 1
        width = token_width[s]
        value = token_base[s]
        if width:
            if pos + width > n_bits:
                return OUT_OF_BITS
            if width > 32:
                value |= _read_bits(bits, pos, width - 32) << np.uint64(32)
                pos += width - 32
                width = 32
            value |= _read_bits(bits, pos, width)
            pos += width
        if signed:  # undo the zigzag mapping: 0, 1, 2, 3 -> 0, -1, 1, -2 (as uint64 bits)
            value = (value >> np.uint64(1)) ^ (np.uint64(0) - (value & np.uint64(1)))
        out[i] = value
    if x != lower or w != len(words):
        return BAD_FINAL_STATE
    if (pos + 7) >> 3 != n_bits >> 3:
        return BAD_FINAL_STATE
    if pos & 7 and _read_bits(bits, pos, 8 - (pos & 7)) != 0:  # padding is zero
        return BAD_FINAL_STATE
    return OK


def decode_values(
    words: bytes | memoryview,
    bits: bytes | memoryview,
    n: int,
    freq: np.ndarray,
    token_width: np.ndarray,
    token_base: np.ndarray,
    signed: bool = False,
    context: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``n`` values: tokens from ``words``, extra bits from ``bits``. Returns (values, error code).

    ``signed``: the values were zigzag-mapped; return them as int64. ``freq``: one table, or (2-D)
    one per context, with ``context`` each value's table, as :func:`encode_tokens` was given them.
    """
    table = np.atleast_2d(np.asarray(freq, dtype=np.int64))
    used = np.flatnonzero(table.any(axis=0))
    single = int(used[0]) if len(used) == 1 else -1
    if single >= 0 and token_width[single] == 0:  # one value, no extra bits (a column's classes, mostly)
        if len(words) or len(bits):  # what the kernel would find at its end
            return np.empty(0, dtype=np.int64 if signed else np.uint64), BAD_FINAL_STATE
        value = int(token_base[single])  # below 16: its own token
        if signed:  # undo the zigzag mapping, in Python integers
            return np.full(n, (value >> 1) ^ -(value & 1), dtype=np.int64), OK
        return np.full(n, value, dtype=np.uint64), OK
    slots = np.empty((len(table), _SCALE), dtype=np.uint32)
    if not _slots(table, slots):
        return np.empty(0, dtype=np.int64 if signed else np.uint64), BAD_FINAL_STATE
    ctx = np.zeros(0, np.int64) if context is None else np.ascontiguousarray(context, dtype=np.int64)
    word_array = np.frombuffer(words, dtype="<u4").astype(np.uint32)
    padded = np.zeros(len(bits) + 8, dtype=np.uint8)
    padded[: len(bits)] = np.frombuffer(bits, dtype=np.uint8)
    out = np.empty(n, dtype=np.uint64)
    code = _decode(
        word_array,
        padded,
        8 * len(bits),
        n,
        ctx,
        slots,
        token_width.astype(np.int64),
        token_base.astype(np.uint64),
        single,
        signed,
        out,
    )
    return (out.view(np.int64) if signed else out), int(code)


@numba.njit(nogil=True, cache=True)
def tokenize_into(
    v: np.ndarray,
    tokens: np.ndarray,
    extras: np.ndarray,
    widths: np.ndarray,
    direct: int,
    split_bits: int,
    msb_bits: int,
) -> None:
    """Hybrid tokens of ``v`` (:func:`bale.codec.uint_stream.tokenize`, whose constants these are) in one pass.

    Integer arithmetic only, so every machine gives the same tokens.
    """
    one = np.uint64(1)
    for i in range(len(v)):
        x = v[i]
        if x < np.uint64(direct):
            tokens[i] = np.int32(x)
            extras[i] = np.uint64(0)
            widths[i] = 0
            continue
        nbits = 0  # index of the leading one (bit length - 1), by halving
        work = x
        for step in (32, 16, 8, 4, 2, 1):
            if work >= (one << np.uint64(step)):
                work >>= np.uint64(step)
                nbits += step
        width = nbits - msb_bits
        msb = np.int64((x >> np.uint64(width)) & np.uint64((1 << msb_bits) - 1))
        tokens[i] = np.int32(direct + (nbits - split_bits) * (1 << msb_bits) + msb)
        widths[i] = width
        extras[i] = x & ((one << np.uint64(width)) - one)
