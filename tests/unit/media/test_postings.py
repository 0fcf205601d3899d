"""Inverted lists: both layouts answer exactly like a brute-force scan."""

from __future__ import annotations

import numpy as np
import pytest

from agent.media.postings import InvertedLists, merge


def brute(keys: np.ndarray, positions: np.ndarray, query: np.ndarray) -> list[tuple[int, int]]:
    return sorted((qi, int(p)) for qi, q in enumerate(query) for k, p in zip(keys, positions, strict=True) if k == q)


@pytest.mark.parametrize("size", [50, 5000])  # below and above 2**key_bits: sorted and packed layouts
def test_lookup_matches_brute_force(size: int) -> None:
    rng = np.random.default_rng(size)
    keys = rng.integers(0, 1 << 10, size=size, dtype=np.uint32)
    positions = rng.integers(0, 1 << 31, size=size, dtype=np.uint32)
    lists = InvertedLists.build(keys, positions, key_bits=10)
    assert (lists.offsets is not None) == (size >= 1 << 10)  # packed only when it is the smaller
    query = np.concatenate([keys[:20], rng.integers(0, 1 << 10, size=20, dtype=np.uint32)])
    hits = lists.lookup(query)
    got = sorted(zip(hits.query_index.tolist(), hits.positions.tolist(), strict=True))
    assert got == brute(keys, positions, query)


def test_stop_list_skips_common_keys() -> None:
    keys = np.array([7] * 100 + [3, 4], dtype=np.uint32)
    lists = InvertedLists.build(keys, np.arange(keys.size, dtype=np.uint32), key_bits=8)
    hits = lists.lookup(np.array([7, 3], dtype=np.uint32), max_list=10)
    assert hits.positions.tolist() == [100]
    assert hits.query_index.tolist() == [1]


def test_entries_round_trip_and_merge_shifts_positions() -> None:
    a = InvertedLists.build(np.array([1, 2, 2], dtype=np.uint32), np.array([0, 1, 2], dtype=np.uint32), 4)
    b = InvertedLists.build(np.array([2, 5], dtype=np.uint32), np.array([0, 1], dtype=np.uint32), 4)
    merged = merge([(a, 0), (b, 10)], 4)
    hits = merged.lookup(np.array([2, 5], dtype=np.uint32))
    found = sorted(zip(hits.query_index.tolist(), hits.positions.tolist(), strict=True))
    assert found == [(0, 1), (0, 2), (0, 10), (1, 11)]
    keys, positions = merged.entries()
    assert sorted(zip(keys.tolist(), positions.tolist(), strict=True)) == [(1, 0), (2, 1), (2, 2), (2, 10), (5, 11)]


def test_empty_lists_answer_nothing() -> None:
    lists = InvertedLists.empty(12)
    assert lists.lookup(np.array([1, 2, 3], dtype=np.uint32)).size == 0
    assert lists.mean_list() == 0.0
