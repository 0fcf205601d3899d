"""Videos made from one picture source: a silent, turned or embedded copy names the asset it
was made from, not whichever sibling was enrolled first.

Three enrolled testsrc2 videos: `long` and `short` show the same pictures (12 s and 8 s, as
two recordings of one template under different sound would), `graded` the same pattern with
its hue turned by 10 degrees (close enough to pass the colour gate). Siblings are enrolled
before the asset each query is made from, so naming the first enrolled one fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.media import MediaService
from agent.store import Store
from tests.support.media import MediaFactory, require_tools

from .conftest import asset_of, lavfi_video

SOURCE = "testsrc2=s=480x360:rate=25"
BACKGROUND = ("-f", "lavfi", "-i", "color=c=0x303848:s=1280x720:r=25")


@dataclass
class Siblings:
    service: MediaService
    long: Path
    short: Path
    graded: Path

    def asset_of(self, path: Path) -> str:
        return asset_of(self.service, path)


@pytest.fixture
def siblings(store: Store, media_factory: MediaFactory) -> Siblings:
    require_tools("ffmpeg")
    long = lavfi_video(media_factory, "sibling-long.mp4", SOURCE, 12, None, 0)
    short = lavfi_video(media_factory, "sibling-short.mp4", SOURCE, 8, None, 0)
    graded = lavfi_video(media_factory, "sibling-graded.mp4", SOURCE, 8, None, 10)
    enrolling = MediaService(store)
    for path in (long, short, graded):
        assert enrolling.enroll_path(path).asset_id is not None
    return Siblings(MediaService(store), long, short, graded)


def silent(media_factory: MediaFactory, src: Path, graph: str, background: bool = False) -> Path:
    inputs = (*BACKGROUND, "-filter_complex") if background else ("-vf",)
    return media_factory.encode(src, ".mp4", *inputs, graph, "-an", "-c:v", "libx264", "-preset", "ultrafast")


@pytest.mark.parametrize("graph", ["transpose=1,transpose=1", "hflip"])
def test_turned_copy_of_a_graded_sibling_names_it(siblings: Siblings, media_factory: MediaFactory, graph: str) -> None:
    match = siblings.service.match_path(silent(media_factory, siblings.graded, graph)).match
    assert match is not None
    assert match.asset_id == siblings.asset_of(siblings.graded)


def test_whole_file_names_the_sibling_of_its_length(siblings: Siblings, media_factory: MediaFactory) -> None:
    match = siblings.service.match_path(silent(media_factory, siblings.short, "hflip")).match
    assert match is not None
    assert match.asset_id == siblings.asset_of(siblings.short)


def test_embedded_graded_sibling_names_it(siblings: Siblings, media_factory: MediaFactory) -> None:
    graph = "[0:v]scale=512:-2[s];[1:v][s]overlay=80:60:shortest=1"
    query = silent(media_factory, siblings.graded, graph, background=True)
    match = siblings.service.match_path(query).match
    assert match is not None
    assert match.method in ("inset", "keypoints")  # an outlined inset is hashed before keypoints
    assert match.asset_id == siblings.asset_of(siblings.graded)


SMALL_PIP = "[0:v]scale=iw*0.33:-2[s];color=c=0x383428:s=960x540:d=60[b];[b][s]overlay=560:300:shortest=1"


def test_small_picture_in_picture_of_a_graded_sibling_names_it(siblings: Siblings, media_factory: MediaFactory) -> None:
    """The graded sibling at a third of its size in a larger frame: found by the zoomed
    second description of the query frames, and named by its colours, not its siblings."""
    query = media_factory.encode(
        siblings.graded, ".mp4", "-filter_complex", SMALL_PIP, "-an", "-c:v", "libx264", "-preset", "ultrafast"
    )
    match = siblings.service.match_path(query).match
    assert match is not None
    assert match.method in ("inset", "keypoints")  # an outlined inset is hashed before keypoints
    assert match.asset_id == siblings.asset_of(siblings.graded)


def test_excerpt_of_identical_siblings_is_not_guessed(siblings: Siblings, media_factory: MediaFactory) -> None:
    """The first 4 s of `long`, embedded: `short` shows the same pictures in the same
    colours and the excerpt spans neither's length, so naming one would be a guess. It is
    enrolled media all the same: the match lists both, and names neither."""
    query = media_factory.encode(
        siblings.long,
        ".mp4",
        *BACKGROUND,
        "-filter_complex",
        "[0:v]scale=512:-2[s];[1:v][s]overlay=80:60:shortest=1",
        "-t",
        "4",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
    )
    match = siblings.service.match_path(query).match
    assert match is not None
    assert match.ambiguous
    twins = {siblings.asset_of(siblings.long), siblings.asset_of(siblings.short)}
    assert {match.asset_id, *match.alternatives} == twins


def test_whole_embedded_file_names_its_sibling_after_the_first_frames_tie(
    store: Store, media_factory: MediaFactory
) -> None:
    """All of a 14 s video, embedded, with a 20 s sibling of the same pictures enrolled: the
    inset stage's first pass (8 grey copies a second apart, 8 s) reaches neither end and
    cannot tell them apart; the pass over every sampled picture spans the whole 14 s and
    names it. An undecided first answer must not stop that pass."""
    long = lavfi_video(media_factory, "sibling-20s.mp4", SOURCE, 20, None, 40)
    short = lavfi_video(media_factory, "sibling-14s.mp4", SOURCE, 14, None, 40)
    enrolling = MediaService(store)
    for path in (short, long):
        assert enrolling.enroll_path(path).asset_id is not None
    service = MediaService(store)
    graph = "[0:v]scale=512:-2[s];[1:v][s]overlay=80:60:shortest=1"
    match = service.match_path(silent(media_factory, short, graph, background=True)).match
    assert match is not None
    assert not match.ambiguous
    assert match.asset_id == asset_of(service, short)
