"""The coarse offset vote that picks an audio search's candidates (`_best_assets`), against a
plain-Python reference of the same rule on random hits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from agent.media.audio_index import SLOPES, _best_assets, _slope_votes


def _reference(
    offsets: list[int], positions: list[int], width: int, base: list[int], alive: list[bool], limit: int
) -> list[int]:
    """The rule, spelled out: a bin scores its votes plus the next bin's; the best `limit * 8`
    bins (higher score, then earlier bin) are read in order; each names the asset owning
    most of its (and the next bin's) hits; alive assets are taken once each."""
    votes = Counter(o // width for o in offsets)
    score = {b: n + votes.get(b + 1, 0) for b, n in votes.items()}
    ranked = sorted(score, key=lambda b: (-score[b], b))[: limit * 8]
    chosen: list[int] = []
    for b in ranked:
        owners = Counter()
        for o, p in zip(offsets, positions, strict=True):
            if o // width in (b, b + 1):
                owner = max(i for i in range(len(base)) if base[i] <= p)
                if owner < len(alive):
                    owners[owner] += 1
        if not owners:
            continue
        most = max(owners.values())
        owner = min(a for a, n in owners.items() if n == most)
        if alive[owner] and owner not in chosen:
            chosen.append(owner)
            if len(chosen) == limit:
                break
    return chosen


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("width", [4, 16])
def test_best_assets_follows_the_rule(seed: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(50, 400, size=int(rng.integers(3, 9)))
    base = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    alive = rng.random(lengths.size) > 0.2
    # Noise hits everywhere, and a few assets with a planted excerpt (many hits, one offset).
    n_noise = int(rng.integers(20, 300))
    positions = rng.integers(0, int(base[-1]), size=n_noise)
    offsets = positions - rng.integers(0, 80, size=n_noise) + 1000
    for asset in rng.choice(lengths.size, size=min(3, lengths.size), replace=False):
        start = int(base[asset]) + 10
        times = rng.integers(0, 40, size=int(rng.integers(5, 30)))
        positions = np.concatenate([positions, start + times])
        offsets = np.concatenate([offsets, np.full(times.size, start + 1000)])
    limit = int(rng.integers(1, 5))
    got = _best_assets(offsets.astype(np.int64), positions.astype(np.int64), width, base, alive, limit)
    want = _reference(offsets.tolist(), positions.tolist(), width, base.tolist(), alive.tolist(), limit)
    assert got == want


def test_a_planted_excerpt_wins() -> None:
    base = np.array([0, 1000, 2000, 3000], dtype=np.int64)
    alive = np.ones(3, dtype=bool)
    positions = np.concatenate([np.arange(0, 3000, 37), 2100 + np.arange(0, 300, 7)])
    offsets = np.concatenate([np.arange(0, 3000, 37) * 3 % 2000, np.full(43, 2100)]) + (1 << 30)
    assert _best_assets(offsets.astype(np.int64), positions.astype(np.int64), 16, base, alive, 1) == [2]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_only_stray_hits(count: int) -> None:
    """No two hits meet: every bin scores 1 and the earliest bins name the assets."""
    base = np.array([0, 10_000, 20_000, 30_000, 40_000, 50_000], dtype=np.int64)
    positions = np.array([45_000, 5_000, 25_000, 15_000, 35_000][:count], dtype=np.int64)
    offsets = positions * 2 + (1 << 30)
    alive = np.ones(5, dtype=bool)
    want = _reference(offsets.tolist(), positions.tolist(), 16, base.tolist(), alive.tolist(), 3)
    assert _best_assets(offsets, positions, 16, base, alive, 3) == want
    assert want == sorted(int(p) // 10_000 for p in positions)[:3]


def test_no_hits_and_bad_width() -> None:
    empty = np.zeros(0, dtype=np.int64)
    base = np.array([0, 10], dtype=np.int64)
    assert _best_assets(empty, empty, 16, base, np.ones(1, dtype=bool), 3) == []
    with pytest.raises(ValueError, match="powers of two"):
        _best_assets(np.ones(2, dtype=np.int64), np.ones(2, dtype=np.int64), 12, base, np.ones(1, dtype=bool), 3)


@pytest.mark.parametrize("seed", range(6))
def test_best_assets_on_a_sparse_vote(seed: int) -> None:
    """A big index's shape: thousands of stray hits, each alone in its bin, and a few dozen
    bins where hits meet (the ranking then reads only those; the answer must not change)."""
    rng = np.random.default_rng(100 + seed)
    lengths = rng.integers(20_000, 60_000, size=40)
    base = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    alive = rng.random(lengths.size) > 0.1
    positions = rng.integers(0, int(base[-1]), size=3000)
    offsets = positions - rng.integers(0, 800, size=positions.size) + (1 << 30)
    for _ in range(int(rng.integers(40, 90))):  # chance meetings and short excerpts
        p = int(rng.integers(0, int(base[-1]) - 100))
        votes = int(rng.integers(2, 6))
        positions = np.concatenate([positions, p + rng.integers(0, 60, size=votes)])
        offsets = np.concatenate([offsets, np.full(votes, p + (1 << 30)) + rng.integers(0, 20, size=votes)])
    limit = 6
    got = _best_assets(offsets.astype(np.int64), positions.astype(np.int64), 16, base, alive, limit)
    want = _reference(offsets.tolist(), positions.tolist(), 16, base.tolist(), alive.tolist(), limit)
    assert got == want
    assert len(got) == limit


def _reference_slope_votes(tq: list[int], td: list[int]) -> list[tuple[int, set[int]]]:
    """Per slope: the most hits in a window of two 2-frame cells (cells counted from the
    lowest offset), and which hits the earliest such window holds."""
    out = []
    for slope in SLOPES.tolist():
        off = [round(d - slope * q) for q, d in zip(tq, td, strict=True)]  # round: half to even, as rint
        lo = min(off)
        cells = [(o - lo) // 2 for o in off]
        best = max(range(min(cells), max(cells) + 1), key=lambda c: (sum(c <= x <= c + 1 for x in cells), -c))
        held = {i for i, x in enumerate(cells) if best <= x <= best + 1}
        out.append((len(held), held))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_slope_votes_follow_the_rule(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    m = int(rng.integers(1, 60))
    tq = rng.integers(0, 900, size=m)
    slope = float(rng.choice(SLOPES))
    td = np.rint(slope * tq + 5000).astype(np.int64) + rng.integers(-1, 2, size=m)
    strays = rng.random(m) < 0.4
    td[strays] = rng.integers(0, 60_000, size=int(strays.sum()))
    votes, starts = _slope_votes(tq.astype(np.int64), td)
    for j, (want_votes, want_held) in enumerate(_reference_slope_votes(tq.tolist(), td.tolist())):
        off = np.rint(td - SLOPES[j] * tq).astype(np.int64)
        held = set(np.flatnonzero((off >= starts[j]) & (off < starts[j] + 4)).tolist())
        assert (votes[j], held) == (want_votes, want_held)
