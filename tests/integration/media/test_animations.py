"""A clinical video turned into an animated GIF, PNG or WebP (how short clips get shared) is
sampled like a video and recognised; a one-frame picture stays a picture; other clips do not match."""

from __future__ import annotations

import pytest

from .conftest import Clinic, make

ANIMATIONS = {
    "gif": ("clip.gif", ["-vf", "fps=8,scale=320:-1"]),
    "apng": ("clip.apng", ["-ss", "3", "-vf", "fps=6,scale=240:-1", "-plays", "0", "-f", "apng"]),
    "webp": ("clip.webp", ["-vf", "fps=8,scale=320:-1", "-loop", "0"]),
}


@pytest.mark.parametrize("case", sorted(ANIMATIONS))
def test_video_made_into_an_animation_is_recognised_as_the_video(clinic: Clinic, case: str) -> None:
    name, args = ANIMATIONS[case]
    query = make(clinic.factory, name, "-i", str(clinic.video), "-an", *args)
    outcome = clinic.service.match_path(query)
    assert outcome.error is None, outcome.error
    assert outcome.match is not None, case
    assert outcome.match.asset_id == clinic.asset_of(clinic.video)
    assert outcome.match.kind == "video"


def test_one_frame_gif_is_a_picture_and_unrelated_animations_do_not_match(clinic: Clinic) -> None:
    still = make(clinic.factory, "still.gif", "-ss", "5", "-i", str(clinic.video), "-frames:v", "1")
    outcome = clinic.service.match_path(still)
    assert outcome.match is not None
    assert outcome.match.kind == "image"
    assert outcome.match.asset_id == clinic.asset_of(clinic.video)
    other = make(clinic.factory, "other.webp", "-f", "lavfi", "-i", "life=s=320x240:rate=8", "-t", "6", "-loop", "0")
    assert clinic.service.match_path(other).match is None
