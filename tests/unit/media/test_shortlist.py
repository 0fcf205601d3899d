"""The keyframe shortlist (multi-index hashing over ORB descriptors) and the decisions the
keypoint stage makes with it: a picture is still found among many enrolled videos, an
unrelated one is not, the CPU budget stops the stage, and siblings the evidence cannot
separate are refused rather than guessed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from agent.media import keypoints as kp
from agent.media import rectify
from agent.media.rectify import GeoHit, KeypointBank, Scored, shortlist, verify
from agent.media.shortlist import DescriptorIndex

from .test_geometry import embedded, query, textured

VIDEOS = 120
KEYFRAMES = 3


def test_index_finds_every_pair_within_15_bits() -> None:
    """Two descriptors within 15 bits share one of 16 chunks exactly: the index must return
    every such pair (and only pairs within the distance asked for)."""
    rng = np.random.default_rng(5)
    enrolled = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    near = enrolled[rng.choice(3000, 200, replace=False)].copy()
    bits = np.unpackbits(near, axis=1)
    for row in bits:
        row[rng.choice(256, int(rng.integers(0, 16)), replace=False)] ^= 1
    queries = np.concatenate([np.packbits(bits, axis=1), rng.integers(0, 256, (100, 32), dtype=np.uint8)])
    q_idx, d_idx = DescriptorIndex(enrolled).near(queries, 15)
    distance = np.unpackbits(queries[:, None, :] ^ enrolled[None, :, :], axis=2).sum(axis=2)
    want = {(int(q), int(d)) for q, d in zip(*np.nonzero(distance <= 15), strict=True)}
    assert len(want) >= 200
    assert set(zip(q_idx.tolist(), d_idx.tolist(), strict=True)) == want


@pytest.fixture(scope="module")
def many() -> KeypointBank:
    """VIDEOS enrolled "videos" of KEYFRAMES generated pictures each."""
    bank = KeypointBank()
    for v in range(VIDEOS):
        frames = [kp.describe(textured(1000 + v * 10 + i), float(2 * i), kp.ENROL_FEATURES) for i in range(KEYFRAMES)]
        bank.add([(f"video{v}", kp.KeypointPrint(tuple(f for f in frames if f is not None)))])
    return bank


def test_match_found_among_many_enrolled_videos(many: KeypointBank) -> None:
    """A two-frame query showing video 77 turned, at 30 % of a larger frame: the shortlist
    keeps its keyframes among a few, and the video is named."""
    frames = [query(embedded(textured(1000 + 77 * 10 + i), 0.3)) for i in range(2)]
    stack = many.stacked()
    for frame in frames:
        chosen = shortlist(stack, frame)
        assert chosen.size <= rectify.SHORTLIST_ASSETS * rectify.SHORTLIST_PER_ASSET
        assert chosen.size * 10 <= len(stack.frames)
        assert "video77" in {stack.frames[int(k)][0] for k in chosen}
    found = verify(many, frames, image=False, total=2)
    assert found is not None
    assert found.asset_id == "video77"


def test_unrelated_video_among_many_is_not_matched(many: KeypointBank) -> None:
    frames = [query(embedded(textured(90_000 + i), 0.5)) for i in range(3)]
    assert verify(many, frames, image=False, total=3) is None
    assert verify(many, frames[:1], image=True, total=1) is None


def test_budget_stops_describing_frames(many: KeypointBank) -> None:
    """Past its CPU budget the stage stops pulling (describing) query frames."""
    pulled: list[int] = []

    def frames() -> Iterator[kp.KeyFrame]:
        for i in range(4):
            pulled.append(i)
            yield query(embedded(textured(91_000 + i), 0.5))

    assert verify(many, frames(), image=False, total=4, budget_s=0.0) is None
    assert pulled == [0]
    pulled.clear()
    assert verify(many, frames(), image=False, total=4) is None
    assert pulled == [0, 1, 2, 3]


def _hits(*inliers: int, colour: float = 1.0) -> list[Scored]:
    return [Scored(GeoHit("x", n, float(i)), colour) for i, n in enumerate(inliers)]


def test_sibling_that_missed_a_frame_is_not_outvoted() -> None:
    """Two assets with the same pictures: one was verified on two frames, its sibling on one
    (as many inliers). The lead does not win by the sum: with nothing else to tell them
    apart, the answer is the lead with its sibling as an equally likely alternative."""
    per_asset = {"a": _hits(174, 145), "b": _hits(152)}
    assert rectify._decided(per_asset, single=False, final=False, tie=lambda _a: 0.0) is None
    assert rectify._decided(per_asset, single=False, final=True, tie=lambda _a: 0.0) == ("a", ("b",))


def test_siblings_separated_by_colour_or_whole_length() -> None:
    per_asset = {"a": _hits(80, 70, colour=0.990), "b": _hits(60, 57, colour=0.999)}
    assert rectify._decided(per_asset, single=False, final=True, tie=lambda _a: 0.0) == ("b", ())
    same = {"a": _hits(80, 70), "b": _hits(60, 57)}
    lengths = {"a": 5.0, "b": 0.3}  # the query spans b's whole length
    assert rectify._decided(same, single=False, final=True, tie=lambda a: lengths[a]) == ("b", ())
    far = {"a": 5.0, "b": 3.0}  # an excerpt: being nearer one length is no evidence
    assert rectify._decided(same, single=False, final=True, tie=lambda a: far[a]) == ("a", ("b",))


def test_weak_unrelated_hit_does_not_block_a_clear_lead() -> None:
    per_asset = {"a": _hits(80, 70), "b": _hits(12)}
    assert rectify._decided(per_asset, single=False, final=False, tie=lambda _a: 0.0) == ("a", ())
