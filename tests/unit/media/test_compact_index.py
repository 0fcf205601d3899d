"""The packed posting layout is lossless: the audio index built on it answers every query with
exactly the candidates of a plain reference index (uint32 positions, binary-search lookups)
over the same generated prints, through builds, merges and forgetting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.media import audio_index, bitpack, spill
from agent.media.audio_index import AudioSegment, half_keys
from agent.media.fingerprint import AudioPrint
from agent.media.postings import InvertedLists


def reference(keys: np.ndarray, positions: np.ndarray, key_bits: int) -> InvertedLists:
    """The straightforward layout: every (key, position) sorted, positions as plain uint32."""
    order = np.lexsort((positions, keys))
    return InvertedLists(key_bits, positions[order].astype(np.uint32), None, keys[order].astype(np.uint32))


def generated(count: int, seconds: float, seed: int) -> list[tuple[str, AudioPrint]]:
    """Prints with a skewed hash distribution (long and short lists, some stop-listed)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(46 * seconds)
        hashes = np.minimum(rng.zipf(1.15, n) - 1, (1 << audio_index.LM_KEY_BITS) - 1).astype(np.uint32)
        times = np.sort(rng.integers(0, int(seconds / audio_index.FRAME_S), n)).astype(np.uint32)
        chroma = rng.integers(0, 1 << 32, int(seconds * 8.07), dtype=np.uint64).astype(np.uint32)
        chroma[::5] = chroma[0]  # a repeated item: a long chromaprint list
        out.append((f"asset{seed}-{i}", AudioPrint(chroma, hashes, times, seconds)))
    return out


def excerpt(p: AudioPrint, start_s: float, seconds: float, rng: np.random.Generator) -> AudioPrint:
    """A noisy excerpt: a share of the landmarks kept, time-shifted, plus random ones."""
    lo, hi = int(start_s / audio_index.FRAME_S), int((start_s + seconds) / audio_index.FRAME_S)
    keep = (p.times >= lo) & (p.times < hi) & (rng.random(p.times.size) < 0.6)
    extra = int(keep.sum() // 2)
    hashes = np.concatenate([p.hashes[keep], rng.integers(0, 1 << 19, extra).astype(np.uint32)])
    times = np.concatenate([p.times[keep] - lo, rng.integers(0, hi - lo, extra).astype(np.uint32)])
    c0 = int(start_s * 8.07)
    chroma = p.chroma[c0 : c0 + int(seconds * 8.07)] ^ np.uint32(1 << 7)
    return AudioPrint(chroma.copy(), hashes.astype(np.uint32), times.astype(np.uint32), seconds)


def plain_copy(segment: AudioSegment) -> AudioSegment:
    """The same segment with reference lists built from the segment's own raw inputs."""
    lm_keys = np.concatenate([p.hashes for p in raw_prints(segment)])
    lm_pos = np.concatenate([p.times.astype(np.int64) + segment.lm_base[i] for i, p in enumerate(raw_prints(segment))])
    cp_keys, cp_pos = half_keys(segment.cp_items)
    return replace(
        segment,
        lm=reference(lm_keys, lm_pos.astype(np.uint32), audio_index.LM_KEY_BITS),
        cp=reference(cp_keys, cp_pos.astype(np.uint32), audio_index.CP_KEY_BITS),
    )


_PRINTS: dict[str, AudioPrint] = {}


def raw_prints(segment: AudioSegment) -> list[AudioPrint]:
    return [_PRINTS[a] for a in segment.asset_ids]


def test_bitpack_round_trips_every_width() -> None:
    rng = np.random.default_rng(3)
    widths = rng.integers(0, 33, 5000).astype(np.uint8)
    values = rng.integers(0, 1 << 32, 5000, dtype=np.uint64) & ((np.uint64(1) << widths.astype(np.uint64)) - 1)
    starts = np.zeros(widths.size, dtype=np.int64)
    np.cumsum(widths[:-1].astype(np.int64), out=starts[1:])
    words = bitpack.pack(values, starts, int(widths.sum(dtype=np.int64)))
    assert np.array_equal(bitpack.unpack(words, starts, widths), values)
    pair = bitpack.pairs(words)[starts >> 5] >> (starts & 31).astype(np.uint64)
    assert np.array_equal(pair & ((np.uint64(1) << widths.astype(np.uint64)) - np.uint64(1)), values)


@pytest.mark.parametrize("chunk", [1 << 24, 1000])  # listing entries in one piece and in many
def test_packed_lists_hold_exactly_what_went_in(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr("agent.media.postings.DECODE_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    keys = np.minimum(rng.zipf(1.3, 40_000) - 1, 4095).astype(np.uint32)
    positions = rng.integers(0, 1 << 32, keys.size, dtype=np.uint64).astype(np.uint32)
    positions[:50] = positions[50]  # repeated positions: zero gaps
    keys[:50] = keys[50]
    packed = InvertedLists.build(keys, positions, 12)
    plain = reference(keys, positions, 12)
    assert packed.packed is not None
    assert packed.nbytes < plain.nbytes
    for got, want in zip(packed.entries(), plain.entries(), strict=True):
        assert np.array_equal(got, want)
    query = np.concatenate([keys[:300], rng.integers(0, 4096, 300).astype(np.uint32)])
    for limit in (None, 50):
        a, b = packed.lookup(query, limit), plain.lookup(query, limit)
        assert np.array_equal(a.query_index, b.query_index)
        assert np.array_equal(a.positions, b.positions)
    assert packed.mean_list() == pytest.approx(plain.mean_list())


def test_compact_audio_index_returns_the_reference_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.media.postings.PACKED_MIN_RATIO", 0)  # packed at every size
    rng = np.random.default_rng(11)
    batches = [generated(7, 600.0, seed) for seed in (1, 2, 3)]
    for batch in batches:
        _PRINTS.update(batch)
    parts = [AudioSegment.build(batch) for batch in batches]
    assert all(part.lm.packed is not None for part in parts)
    merged = AudioSegment.merged([parts[0], parts[1].without("asset2-3"), parts[2]])
    assert merged.lm.packed is not None
    assert merged.cp.packed is not None
    for segment in (*parts, merged):
        plain = plain_copy(segment)
        queries = [excerpt(p, float(rng.uniform(0, 580)), 10.0, rng) for p in raw_prints(segment)]
        queries.append(generated(1, 10.0, 99)[0][1])  # unrelated
        for query in queries:
            assert segment.search(query) == plain.search(query)
            assert segment.coarse_best(query) == plain.coarse_best(query)
        found = segment.search(queries[0])
        assert found
        assert found[0].asset_id == segment.asset_ids[0]


def test_spilled_index_answers_the_same_and_leaves_no_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("agent.media.postings.PACKED_MIN_RATIO", 0)
    monkeypatch.setattr("agent.media.spill.MIN_BYTES", 0)
    rng = np.random.default_rng(5)
    batch = generated(4, 300.0, 7)
    in_memory = AudioSegment.build(batch)
    spill.configure(tmp_path)
    try:
        spilled = AudioSegment.merged([AudioSegment.build(batch[:2]), AudioSegment.build(batch[2:])])
    finally:
        spill.configure(None)
    assert spilled.lm.packed is not None
    assert spilled.cp.packed is not None
    gap_streams = spilled.lm.packed.words.nbytes + spilled.cp.packed.words.nbytes
    assert spilled.mapped_nbytes == gap_streams + spilled.cp_items.nbytes
    assert in_memory.mapped_nbytes == 0
    assert list(tmp_path.iterdir()) == []  # unlinked at once: nothing to clean up
    for _, p in batch:
        query = excerpt(p, float(rng.uniform(0, 280)), 10.0, rng)
        assert spilled.search(query) == in_memory.search(query)
