"""A video whose colours change but whose brightness does not (a ramp between two colours of
equal luminance) used to get no picture print at all: every picture was "flat". It is now
hashed by its colour contrast (`frames.chroma_contrast`), so its silent re-encodes, stills
and turned copies are found, and so are copies under a caption bar (the band stage reads the
rows the bar leaves by colour contrast); another such ramp in other colours is not named.

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
    # Bars leave rows of even brightness: the band stage compares them by colour contrast.
    "caption bar, 8 s": (
        ".mp4", "-ss", "2", "-t", "8", "-an", "-vf",
        "drawbox=x=0:y=ih*0.75:w=iw:h=ih*0.25:color=black@0.8:t=fill", "-c:v", "libx264", "-crf", "28",
    ),
    "caption bar and a logo": (
        ".mp4", "-an", "-vf",
        "drawbox=x=0:y=ih*0.8:w=iw:h=ih*0.2:color=black@0.7:t=fill,"
        "drawbox=x=iw*0.78:y=ih*0.05:w=iw*0.17:h=ih*0.1:color=white@0.6:t=fill",
        "-c:v", "libx264", "-crf", "28",
    ),
    "title strip on top": (
        ".mp4", "-an", "-vf", "drawbox=x=0:y=0:w=iw:h=ih*0.2:color=navy@0.9:t=fill", "-c:v", "libx264", "-crf", "28",
    ),
}  # fmt: skip


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


@pytest.mark.parametrize(
    "edit", ["silent vp9 at 240p", "still as jpg", "caption bar, 8 s", "caption bar and a logo", "title strip on top"]
)
def test_another_isoluminant_ramp_is_not_named(enrolled: Enrolled, media_factory: MediaFactory, edit: str) -> None:
    other = lavfi_video(media_factory, "isoluminant-other.mp4", OTHER_ISOLUMINANT, 12, None, 0)
    suffix, *args = EDITS[edit]
    assert enrolled.service.match_path(media_factory.encode(other, suffix, *args)).match is None
