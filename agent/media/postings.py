"""Immutable inverted lists: uint32 key -> uint32 positions, looked up for many keys at once.

Two layouts behind one interface, chosen by size:
- compressed sparse rows (an offsets array over the whole key space, positions grouped by
  key): 4 bytes per entry plus 4 bytes per possible key, O(1) lookups; used for big lists;
- sorted keys with their positions: 8 bytes per entry, binary-search lookups; used for small
  lists, where an offsets array over 2**19 keys would dwarf the data.
Lists are never modified: an index adds new lists and merges them (see `audio_index`), so
readers on other threads always see a consistent snapshot without locks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U32Array = npt.NDArray[np.uint32]
I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Hits:
    """Result of a lookup: for every hit, which query key produced it and the stored position."""

    query_index: I64Array
    positions: U32Array

    @property
    def size(self) -> int:
        return int(self.positions.size)


def _gather(starts: I64Array, lengths: I64Array, positions: U32Array) -> Hits:
    total = int(lengths.sum())
    if total == 0:
        return Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32))
    query_index = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    run_base = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return Hits(query_index, positions[run_base + np.arange(total, dtype=np.int64)])


@dataclass(frozen=True)
class InvertedLists:
    key_bits: int
    positions: U32Array  # grouped by key
    offsets: npt.NDArray[np.int64] | None  # CSR layout: len 2**key_bits + 1
    keys: U32Array | None  # sorted layout: the key of each position

    @classmethod
    def build(cls, keys: U32Array, positions: U32Array, key_bits: int) -> InvertedLists:
        if keys.size != positions.size:
            raise ValueError("keys and positions differ in length")
        # One in-place sort of (key, position) packed in 64 bits: half the memory of an argsort.
        packed = keys.astype(np.uint64) << np.uint64(32)
        packed |= positions.astype(np.uint64, copy=False)
        packed.sort()
        sorted_positions = packed.astype(np.uint32)  # keeps the low 32 bits
        sorted_keys = (packed >> np.uint64(32)).astype(np.uint32)
        del packed
        if sorted_keys.size >= (1 << key_bits):
            counts = np.bincount(sorted_keys, minlength=1 << key_bits)
            offsets = np.zeros((1 << key_bits) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            return cls(key_bits, sorted_positions, offsets, None)
        return cls(key_bits, sorted_positions, None, sorted_keys)

    @classmethod
    def empty(cls, key_bits: int) -> InvertedLists:
        return cls(key_bits, np.zeros(0, dtype=np.uint32), None, np.zeros(0, dtype=np.uint32))

    @property
    def size(self) -> int:
        return int(self.positions.size)

    @property
    def nbytes(self) -> int:
        extra = self.offsets.nbytes if self.offsets is not None else 0
        extra += self.keys.nbytes if self.keys is not None else 0
        return int(self.positions.nbytes + extra)

    def ranges(self, query_keys: U32Array) -> tuple[I64Array, I64Array]:
        """Start and length of each query key's list."""
        q = query_keys.astype(np.int64, copy=False)
        if self.offsets is not None:
            starts = self.offsets[q]
            return starts, self.offsets[q + 1] - starts
        assert self.keys is not None
        starts = np.searchsorted(self.keys, query_keys, side="left").astype(np.int64)
        ends = np.searchsorted(self.keys, query_keys, side="right").astype(np.int64)
        return starts, ends - starts

    def lookup(self, query_keys: U32Array, max_list: int | None = None) -> Hits:
        """All positions stored under each query key; lists longer than `max_list` are skipped
        (they are too common to say anything, like silence)."""
        starts, lengths = self.ranges(query_keys)
        if max_list is not None:
            lengths = np.where(lengths > max_list, 0, lengths)
        return _gather(starts, lengths, self.positions)

    def entries(self) -> tuple[U32Array, U32Array]:
        """(keys, positions) of every entry, for merging."""
        if self.keys is not None:
            return self.keys, self.positions
        assert self.offsets is not None
        keys = np.repeat(np.arange(1 << self.key_bits, dtype=np.uint32), np.diff(self.offsets))
        return keys, self.positions

    def mean_list(self) -> float:
        """Average length of a non-empty list (to scale the stop-list cut-off)."""
        if self.size == 0:
            return 0.0
        if self.offsets is not None:
            distinct = int(np.count_nonzero(np.diff(self.offsets)))
        else:
            assert self.keys is not None
            distinct = int(np.count_nonzero(np.diff(self.keys))) + 1
        return self.size / max(1, distinct)


def merge(lists: list[tuple[InvertedLists, int]], key_bits: int) -> InvertedLists:
    """One list from several; each position is shifted by the given base (segment concatenation)."""
    keys: list[U32Array] = []
    positions: list[U32Array] = []
    for inverted, base in lists:
        k, p = inverted.entries()
        keys.append(k)
        positions.append((p.astype(np.int64) + base).astype(np.uint32))
    if not keys:
        return InvertedLists.empty(key_bits)
    return InvertedLists.build(np.concatenate(keys), np.concatenate(positions), key_bits)
