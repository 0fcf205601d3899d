"""A video whose colours change but whose brightness does not (a ramp between two colours of
equal luminance) used to get no picture print at all: every picture was "flat". It is now
hashed by its colour contrast (`frames.chroma_contrast`), so its silent re-encodes, stills
and turned copies are found; another such ramp in other colours is not named.

Media generated here with ffmpeg's `gradients` (colours given: FFmpeg 5.1 draws them at random
whatever the seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.media import MediaService
from agent.media.fingerprint import fingerprint
from agent.media.model import MediaLimits
from agent.store import Store
from tests.support.media import MediaFactory, require_tools

from .conftest import asset_of, lavfi_video

# BT.601 luma of each pair: 113.3 / 112.7 (magenta, green) and 128.4 / 128.2 (orange, blue).
ISOLUMINANT = "gradients=s=480x360:rate=25:seed=31:speed=0.03:c0=0xc83ca0:c1=0x3c8c6e"
OTHER_ISOLUMINANT = "gradients=s=480x360:rate=25:seed=32:speed=0.03:c0=0xe65a3c:c1=0x468ed2"
EDITS = {
    "silent vp9 at 240p": (".webm", "-an", "-vf", "scale=-2:240", "-c:v", "libvpx-vp9", "-b:v", "150k"),
    "still as jpg": (".jpg", "-ss", "4", "-frames:v", "1", "-q:v", "5"),
    "portrait (turned 90 degrees)": (".mp4", "-an", "-vf", "transpose=1", "-c:v", "libx264", "-crf", "30"),
    "mirrored": (".mp4", "-an", "-vf", "hflip", "-c:v", "libx264", "-crf", "30"),
}


@dataclass
class Enrolled:
    service: MediaService
    ramp: Path


@pytest.fixture
def enrolled(store: Store, media_factory: MediaFactory) -> Enrolled:
    require_tools("ffmpeg")
    ramp = lavfi_video(media_factory, "isoluminant-ramp.mp4", ISOLUMINANT, 12, None, 0)
    assert MediaService(store).enroll_path(ramp).asset_id is not None
    return Enrolled(MediaService(store), ramp)


def test_the_ramp_has_flat_brightness_and_a_picture_print(enrolled: Enrolled) -> None:
    prints = fingerprint(enrolled.ramp, MediaLimits())
    assert prints.frames is not None
    assert prints.frames.count >= 10


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_copy_is_found(enrolled: Enrolled, media_factory: MediaFactory, edit: str) -> None:
    suffix, *args = EDITS[edit]
    match = enrolled.service.match_path(media_factory.encode(enrolled.ramp, suffix, *args)).match
    assert match is not None
    assert match.asset_id == asset_of(enrolled.service, enrolled.ramp)
    assert not match.ambiguous


@pytest.mark.parametrize("edit", ["silent vp9 at 240p", "still as jpg"])
def test_another_isoluminant_ramp_is_not_named(enrolled: Enrolled, media_factory: MediaFactory, edit: str) -> None:
    other = lavfi_video(media_factory, "isoluminant-other.mp4", OTHER_ISOLUMINANT, 12, None, 0)
    suffix, *args = EDITS[edit]
    assert enrolled.service.match_path(media_factory.encode(other, suffix, *args)).match is None
