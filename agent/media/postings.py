"""Immutable inverted lists: uint32 key -> uint32 positions, looked up for many keys at once.

Two layouts behind one interface, chosen by size:
- packed rows, for big lists: an offsets array over the whole key space says where each
  key's list starts (O(1) lookups); a list's positions are sorted and stored as the gaps
  between them, bit-packed at the width of that list's widest gap (`bitpack`), with the
  first position apart. Gaps of a list of n positions over a time line of U frames need
  about log2(U / n) + 3 bits instead of 32, so the landmark postings of a large index take
  ~60 % of the bytes of plain uint32 rows; decoding is a vectorised gather and one cumsum;
- sorted keys with their positions: 8 bytes per entry, binary-search lookups; used for small
  lists (about 3 entries per possible key or fewer), where the packed layout's 13 bytes of
  tables per possible key would cost more than they save (the smaller layout is kept).
Both return exactly the positions that went in. Lists are never modified: an index adds new
lists and merges them (see `audio_index`), so readers on other threads always see a
consistent snapshot without locks.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.media import bitpack, spill

U32Array = npt.NDArray[np.uint32]
I64Array = npt.NDArray[np.int64]
PACKED_MIN_RATIO = 1  # try the packed layout from this many entries per possible key (0: always use it)
DECODE_CHUNK = 1 << 24  # entries decoded at once when listing every entry (bounds the scratch memory)


@dataclass(frozen=True)
class Hits:
    """Result of a lookup: for every hit, which query key produced it and the stored position."""

    query_index: I64Array
    positions: U32Array

    @property
    def size(self) -> int:
        return int(self.positions.size)


_NO_HITS = Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32))


def _key_chunks(offsets: npt.NDArray[np.int64] | npt.NDArray[np.uint32]) -> list[tuple[int, int]]:
    """Consecutive key ranges of about DECODE_CHUNK entries each (whole lists), covering all keys."""
    total = int(offsets[-1])
    cuts = np.searchsorted(offsets, np.arange(0, max(total, 1), DECODE_CHUNK), side="right") - 1
    bounds = np.unique(np.concatenate(([0], cuts, [offsets.size - 1]))).tolist()
    return list(itertools.pairwise(bounds))


def _gaps(
    sorted_positions: U32Array, offsets: I64Array, counts: I64Array, lo: int, hi: int
) -> tuple[I64Array, I64Array]:
    """Gaps to the previous position in the same list for the entries of keys lo..hi (0 at
    each list's head), and where the non-empty lists start in that slice."""
    start = int(offsets[lo])
    chunk = sorted_positions[start : int(offsets[hi])].astype(np.int64)
    gaps = np.diff(chunk, prepend=np.int64(0))
    heads = offsets[lo:hi][counts[lo:hi] > 0] - start
    gaps[heads] = 0
    return gaps, heads


def _gather(starts: I64Array, lengths: I64Array, positions: U32Array) -> Hits:
    total = int(lengths.sum())
    if total == 0:
        return _NO_HITS
    query_index = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    run_base = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return Hits(query_index, positions[run_base + np.arange(total, dtype=np.int64)])


@dataclass(frozen=True)
class PackedRows:
    """Per key: the first position, the bit width of the gaps and the word its gaps start at
    (lists start on word boundaries, so that table is uint32 up to 16 GB of gaps)."""

    first: U32Array
    widths: npt.NDArray[np.uint8]
    word_starts: U32Array | I64Array
    words: U32Array

    @property
    def nbytes(self) -> int:
        return int(self.first.nbytes + self.widths.nbytes + self.word_starts.nbytes + self.words.nbytes)

    @property
    def mapped_nbytes(self) -> int:
        """Bytes in a mapped file (the gap stream, when spilling), counted in `nbytes` too."""
        return spill.mapped_nbytes(self.words)

    @classmethod
    def build(cls, sorted_positions: U32Array, counts: I64Array, offsets: I64Array) -> PackedRows:
        keys = counts.size
        nonempty = np.flatnonzero(counts)
        first = np.zeros(keys, dtype=np.uint32)
        first[nonempty] = sorted_positions[offsets[nonempty]]
        chunks = _key_chunks(offsets)
        widths = np.zeros(keys, dtype=np.uint8)
        for lo, hi in chunks:  # widest gap of each list
            gaps, heads = _gaps(sorted_positions, offsets, counts, lo, hi)
            if heads.size:
                # bit length of each gap: frexp's exponent, exact below 2**53
                bits = np.frexp(gaps.astype(np.float64))[1].astype(np.uint8)
                widths[lo:hi][counts[lo:hi] > 0] = np.maximum.reduceat(bits, heads)
        list_words = (np.maximum(counts - 1, 0) * widths.astype(np.int64) + 31) // 32
        word_starts = np.zeros(keys + 1, dtype=np.int64)
        np.cumsum(list_words, out=word_starts[1:])
        words = np.zeros(int(word_starts[-1]) + 2, dtype=np.uint32)  # reads touch one word past
        for lo, hi in chunks:  # lists start on word boundaries, so chunks fill disjoint words
            gaps, _ = _gaps(sorted_positions, offsets, counts, lo, hi)
            owner = np.repeat(np.arange(lo, hi, dtype=np.int64), counts[lo:hi])
            rank = np.arange(gaps.size, dtype=np.int64) + (offsets[lo] - offsets[owner])
            keep = rank > 0  # heads are in `first`
            owner, rank = owner[keep], rank[keep]
            base = int(word_starts[lo])
            slots = 32 * (word_starts[owner] - base) + (rank - 1) * widths[owner]
            span = int(word_starts[hi]) - base
            words[base : base + span + 2] |= bitpack.pack(gaps[keep], slots, 32 * span)
        narrow = word_starts[:-1].astype(np.uint32) if word_starts[-1] < 1 << 32 else word_starts[:-1]
        return cls(first, widths, narrow, spill.spill(words))

    def decode(self, keys: I64Array, lengths: I64Array) -> U32Array:
        """Concatenated positions of the first `lengths[i]` entries of each key's list.

        Few passes over the hits, as the lookup's latency is these passes: every slot comes
        from one cumsum of per-entry increments (the list's width, a jump at each list's head),
        every value from one 8-byte gather, every position from one more cumsum."""
        present = lengths > 0
        k, n = keys[present], lengths[present]
        heads = np.cumsum(n) - n
        widths = self.widths[k].astype(np.int64)
        starts = 32 * self.word_starts[k].astype(np.int64)
        # Slots: head -> its list's start (value unused), rank j >= 1 -> start + (j - 1) * width.
        last = starts + np.maximum(n - 2, 0) * widths  # slot of each list's last entry
        step = np.repeat(widths, n)
        step[heads] = starts - np.concatenate(([0], last[:-1]))
        step[heads[n > 1] + 1] = 0
        slots = np.cumsum(step)
        mask = np.repeat((np.int64(1) << widths) - 1, n)
        values = (bitpack.pairs(self.words)[slots >> 5] >> (slots.view(np.uint64) & np.uint64(31))).view(np.int64)
        values &= mask
        # A head's value is set so that one cumsum over all lists yields absolute positions:
        # its first position minus where the previous list ended.
        values[heads] = 0
        firsts = self.first[k].astype(np.int64)
        ends = firsts + np.add.reduceat(values, heads)
        values[heads] = firsts - np.concatenate(([0], ends[:-1]))
        return np.cumsum(values).astype(np.uint32)


@dataclass(frozen=True)
class InvertedLists:
    key_bits: int
    positions: U32Array  # sorted layout: grouped by key (empty in the packed layout)
    offsets: npt.NDArray[np.int64] | npt.NDArray[np.uint32] | None  # packed layout: len 2**key_bits + 1
    keys: U32Array | None  # sorted layout: the key of each position
    packed: PackedRows | None = None

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
        if sorted_keys.size >= PACKED_MIN_RATIO << key_bits:
            counts = np.bincount(sorted_keys, minlength=1 << key_bits).astype(np.int64)
            offsets = np.zeros((1 << key_bits) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            rows = PackedRows.build(sorted_positions, counts, offsets)
            narrow = offsets.astype(np.uint32) if offsets[-1] < 1 << 32 else offsets
            # Whichever layout is smaller: the packed one's tables over the key space only
            # pay off once there are a few entries per possible key.
            if rows.nbytes + narrow.nbytes < sorted_keys.nbytes + sorted_positions.nbytes or PACKED_MIN_RATIO == 0:
                return cls(key_bits, np.zeros(0, dtype=np.uint32), narrow, None, rows)
        return cls(key_bits, sorted_positions, None, sorted_keys)

    @classmethod
    def empty(cls, key_bits: int) -> InvertedLists:
        return cls(key_bits, np.zeros(0, dtype=np.uint32), None, np.zeros(0, dtype=np.uint32))

    @property
    def size(self) -> int:
        if self.offsets is not None:
            return int(self.offsets[-1])
        return int(self.positions.size)

    @property
    def nbytes(self) -> int:
        """Every byte the lists hold (tables over the key space included)."""
        extra = self.offsets.nbytes if self.offsets is not None else 0
        extra += self.keys.nbytes if self.keys is not None else 0
        extra += self.packed.nbytes if self.packed is not None else 0
        return int(self.positions.nbytes + extra)

    @property
    def mapped_nbytes(self) -> int:
        return self.packed.mapped_nbytes if self.packed is not None else 0

    def ranges(self, query_keys: U32Array) -> tuple[I64Array, I64Array]:
        """Start and length of each query key's list."""
        q = query_keys.astype(np.int64, copy=False)
        if self.offsets is not None:
            starts = self.offsets[q].astype(np.int64)
            return starts, self.offsets[q + 1].astype(np.int64) - starts
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
        if self.packed is None:
            return _gather(starts, lengths, self.positions)
        if int(lengths.sum()) == 0:
            return _NO_HITS
        query_index = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
        return Hits(query_index, self.packed.decode(query_keys.astype(np.int64), lengths))

    def entries(self) -> tuple[U32Array, U32Array]:
        """(keys, positions) of every entry, grouped by key, for merging."""
        if self.keys is not None:
            return self.keys, self.positions
        assert self.offsets is not None
        assert self.packed is not None
        offsets: I64Array = self.offsets.astype(np.int64)
        counts = offsets[1:] - offsets[:-1]
        keys = np.repeat(np.arange(1 << self.key_bits, dtype=np.uint32), counts)
        positions = np.empty(keys.size, dtype=np.uint32)
        for lo, hi in _key_chunks(self.offsets):  # in chunks, so the scratch arrays stay bounded
            span = np.arange(lo, hi, dtype=np.int64)
            start = int(self.offsets[lo])
            positions[start : int(self.offsets[hi])] = self.packed.decode(span, counts[lo:hi])
        return keys, positions

    def mean_list(self) -> float:
        """Average length of a non-empty list (to scale the stop-list cut-off)."""
        return self._mean_list

    @functools.cached_property
    def _mean_list(self) -> float:
        # Once per (immutable) lists, not once per search: a pass over every key's offset.
        if self.size == 0:
            return 0.0
        if self.offsets is not None:
            distinct = int(np.count_nonzero(np.diff(self.offsets.astype(np.int64))))
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
