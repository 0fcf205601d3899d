"""A shortlist of enrolled keyframes for a query picture: multi-index hashing over ORB descriptors.

Matching every query descriptor exactly against every enrolled keyframe (a brute-force
Hamming k-nearest-neighbour search) costs time in proportion to the enrolled videos: 4 of the
6 seconds an unrelated 51 s clip took with eight videos enrolled. Only a handful of keyframes
can be the picture a query frame shows, and they share many close descriptors with it.

Each 256-bit ORB descriptor is filed under its sixteen 16-bit chunks (multi-index hashing,
Norouzi et al.): two descriptors within d bits share at least one chunk exactly whenever
d < 16, and usually well beyond (within 30 bits, ~90 % of pairs still share one). A query
descriptor looks up its own 16 chunks, the candidates are checked on the full Hamming
distance in numpy, and each keyframe gets one vote per query descriptor that has a close
descriptor in it. Chunks shared by very many enrolled descriptors (flat or repetitive
patches) say nothing and are skipped, so a lookup touches a bounded number of entries
whatever the store holds. The exact matching and the geometric verification
(`rectify.py`) then run on the shortlisted keyframes only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.media.keypoints import DESCRIPTOR_BYTES

CHUNKS = DESCRIPTOR_BYTES // 2  # 16-bit chunks per descriptor
BUCKETS = 1 << 16
STOP_FACTOR = 40.0  # a chunk value held by more than this many times the mean is skipped ...
MIN_STOP = 64  # ... but never one held by fewer than this many descriptors

I64Array = npt.NDArray[np.int64]
U8Array = npt.NDArray[np.uint8]


def _words(desc: U8Array) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(desc).view(np.uint64).reshape(-1, DESCRIPTOR_BYTES // 8)


def _chunks(desc: U8Array) -> npt.NDArray[np.uint16]:
    return np.ascontiguousarray(desc).view(np.uint16).reshape(-1, CHUNKS)


class DescriptorIndex:
    """Inverted lists of descriptor numbers per (chunk, 16-bit value); immutable once built.

    Memory: 4 bytes per descriptor and chunk (64 per descriptor) plus 4 MB of list offsets.
    """

    def __init__(self, desc: U8Array) -> None:
        n = int(desc.shape[0])
        self.size = n
        self.words = _words(desc)
        chunks = _chunks(desc)
        self.order = np.empty((CHUNKS, n), dtype=np.int32)
        self.offsets = np.zeros((CHUNKS, BUCKETS + 1), dtype=np.int32)
        for c in range(CHUNKS):
            keys = chunks[:, c]
            self.order[c] = np.argsort(keys, kind="stable").astype(np.int32)
            np.cumsum(np.bincount(keys, minlength=BUCKETS), out=self.offsets[c, 1:])
        self.stop = max(MIN_STOP, int(STOP_FACTOR * n / BUCKETS))

    @property
    def nbytes(self) -> int:
        return int(self.order.nbytes + self.offsets.nbytes)

    def near(self, query: U8Array, max_distance: int) -> tuple[I64Array, I64Array]:
        """(query descriptor, enrolled descriptor) pairs within `max_distance` bits that share
        at least one chunk (each pair once)."""
        empty = np.zeros(0, dtype=np.int64)
        if self.size == 0 or query.shape[0] == 0:
            return empty, empty
        q_chunks = _chunks(query).astype(np.int64)
        rows = np.arange(CHUNKS)[None, :]
        starts = self.offsets[rows, q_chunks].astype(np.int64)
        sizes = self.offsets[rows, q_chunks + 1].astype(np.int64) - starts
        sizes[sizes > self.stop] = 0
        flat_sizes = sizes.ravel()
        total = int(flat_sizes.sum())
        if total == 0:
            return empty, empty
        first = np.cumsum(flat_sizes) - flat_sizes
        within = np.arange(total, dtype=np.int64) - np.repeat(first, flat_sizes)
        chunk = np.repeat(np.tile(np.arange(CHUNKS), query.shape[0]), flat_sizes)
        q_idx = np.repeat(np.repeat(np.arange(query.shape[0], dtype=np.int64), CHUNKS), flat_sizes)
        d_idx = self.order[chunk, np.repeat(starts.ravel(), flat_sizes) + within].astype(np.int64)
        # Distances first, duplicates (pairs sharing several chunks) only among the close ones.
        distance = np.bitwise_count(_words(query)[q_idx] ^ self.words[d_idx]).sum(axis=1)
        close = distance <= max_distance
        pair = np.unique(q_idx[close] * self.size + d_idx[close])
        return pair // self.size, pair % self.size


def keyframe_votes(index: DescriptorIndex, owner: I64Array, frames: int, query: U8Array, max_distance: int) -> I64Array:
    """Per enrolled keyframe, how many query descriptors have a descriptor within
    `max_distance` bits in it (`owner`: the keyframe of each enrolled descriptor)."""
    q_idx, d_idx = index.near(query, max_distance)
    if q_idx.size == 0:
        return np.zeros(frames, dtype=np.int64)
    per_frame = np.unique(q_idx * frames + owner[d_idx]) % frames
    return np.bincount(per_frame, minlength=frames).astype(np.int64)
