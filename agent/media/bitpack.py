"""Unsigned integers of varying bit widths packed end to end in a uint32 word stream.

Posting lists store the gaps between sorted positions, which need far fewer than 32 bits;
packing each list at the width of its widest gap is what keeps the index small. Reads are
vectorised gathers: a value of at most 32 bits starting anywhere spans at most two words.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U32Array = npt.NDArray[np.uint32]
I64Array = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]


def bit_length(values: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """Bits needed for each non-negative value (0 for 0)."""
    v = values.astype(np.uint64)
    out = np.zeros(v.shape, dtype=np.uint8)
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= (np.uint64(1) << np.uint64(shift))
        out[big] += shift
        v[big] >>= np.uint64(shift)
    out[v > 0] += 1
    return out


def pack(values: npt.NDArray[np.integer], starts: I64Array, total_bits: int) -> U32Array:
    """Words holding each value (< 2**32, fitting its slot) at its bit offset in `starts`.

    Slots never overlap, so each word is the plain sum of the bit fields that land in it;
    sums of disjoint fields below 2**32 are exact in float64, which lets bincount do it.
    """
    words = (total_bits + 31) // 32 + 2  # two spare words: reads touch one word past the end
    if values.size == 0:
        return np.zeros(words, dtype=np.uint32)
    v = values.astype(np.uint64)
    word = starts >> 5
    shift = (starts & 31).astype(np.uint64)
    low = (v << shift) & np.uint64(0xFFFFFFFF)
    high = v >> (np.uint64(32) - shift)  # shift 0 gives v >> 32 == 0 for 32-bit values
    out = np.bincount(word, weights=low.astype(np.float64), minlength=words)
    out += np.bincount(word + 1, weights=high.astype(np.float64), minlength=words)
    return out.astype(np.uint64).astype(np.uint32)


def pairs(words: U32Array) -> U64Array:
    """A view of the stream where item q is words q and q + 1 as one little-endian uint64
    (overlapping, 4-byte strided): any value of <= 32 bits is one gather and one shift away."""
    count = max(words.size - 1, 0)
    view: U64Array = np.ndarray((count,), dtype="<u8", buffer=words, strides=(4,))
    return view


def unpack(words: U32Array, starts: I64Array, widths: npt.NDArray[np.integer]) -> U64Array:
    """The values of the given widths (<= 32 bits) at the given bit offsets."""
    word = starts >> 5
    pair = words[word].astype(np.uint64) | (words[word + 1].astype(np.uint64) << np.uint64(32))
    mask = (np.uint64(1) << widths.astype(np.uint64)) - np.uint64(1)
    out: U64Array = (pair >> (starts & 31).astype(np.uint64)) & mask
    return out
