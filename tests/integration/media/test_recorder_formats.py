"""Formats a recorder, a phone or an export produces that PhiWall used to refuse as "not audio,
video or an image":
- containers libmagic names only "data" or "octet-stream": MPEG transport streams (`.ts` from
  screen and medical-device recorders, HLS segments; M2TS `.mts`/`.m2ts` from AVCHD
  camcorders, 192-byte packets) and Apple's Core Audio Format (`.caf`), now named by the
  marker table, enrolled, and their copies found;
- stills and video libmagic names but PhiWall did not take: HEIC (an iPhone photo; written
  with pillow-heif, as no FFmpeg muxer writes HEIF), AVIF (Android, browsers), TIFF, JPEG 2000
  stills of an enrolled video, and DV camcorder video.
Media made here with espeak-ng and ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from agent.media import MediaService, sniff_path
from agent.store import Store
from tests.support.media import DICTATIONS, MediaFactory

from .conftest import asset_of

TS = ("-f", "mpegts", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
M2TS = (*TS, "-mpegts_m2ts_mode", "1")


@pytest.fixture
def recordings(media_factory: MediaFactory) -> dict[str, Path]:
    speech = media_factory.speech(DICTATIONS[1])
    clip = media_factory.video(speech, seconds=10.0)
    return {
        ".ts": media_factory.encode(clip, ".ts", *TS),
        ".m2ts": media_factory.encode(clip, ".m2ts", *M2TS),
        ".caf": media_factory.encode(speech, ".caf", "-c:a", "pcm_s16le"),
    }


@pytest.mark.parametrize(("suffix", "kind"), [(".ts", "video"), (".m2ts", "video"), (".caf", "audio")])
def test_recorder_format_is_enrolled_and_its_copy_found(
    store: Store, media_factory: MediaFactory, recordings: dict[str, Path], suffix: str, kind: str
) -> None:
    original = recordings[suffix]
    assert sniff_path(original).kind == kind
    enrolled = MediaService(store).enroll_path(original)
    assert enrolled.asset_id is not None, enrolled
    copy = media_factory.encode(original, ".mp4" if kind == "video" else ".mp3", "-b:a", "64k")
    service = MediaService(store)
    match = service.match_path(copy).match
    assert match is not None
    assert match.asset_id == asset_of(service, original)


def test_enrolled_mp4_is_found_as_transport_stream(store: Store, media_factory: MediaFactory) -> None:
    clip = media_factory.video(media_factory.speech(DICTATIONS[2]), seconds=10.0)
    assert MediaService(store).enroll_path(clip).asset_id is not None
    service = MediaService(store)
    match = service.match_path(media_factory.encode(clip, ".m2ts", *M2TS)).match
    assert match is not None
    assert match.asset_id == asset_of(service, clip)


STILLS = {
    "tiff": (".tiff", "-ss", "4", "-frames:v", "1"),
    "jpeg 2000": (".jp2", "-ss", "4", "-frames:v", "1"),
    "avif": (".avif", "-ss", "4", "-frames:v", "1", "-c:v", "libaom-av1", "-cpu-used", "8", "-still-picture", "1"),
    "dv video": (".dv", "-an", "-s", "720x576", "-r", "25", "-pix_fmt", "yuv420p"),
}


@pytest.mark.parametrize("name", list(STILLS))
def test_stills_and_camcorder_video_of_an_enrolled_video_are_found(
    store: Store, media_factory: MediaFactory, name: str
) -> None:
    clip = media_factory.video(None, seconds=10.0)
    assert MediaService(store).enroll_path(clip).asset_id is not None
    suffix, *args = STILLS[name]
    upload = media_factory.encode(clip, suffix, *args)
    service = MediaService(store)
    outcome = service.match_path(upload)
    assert outcome.media_kind == ("video" if name == "dv video" else "image")
    assert outcome.match is not None, outcome
    assert outcome.match.asset_id == asset_of(service, clip)


def test_heic_still_of_an_enrolled_video_is_found(store: Store, media_factory: MediaFactory) -> None:
    clip = media_factory.video(None, seconds=10.0)
    assert MediaService(store).enroll_path(clip).asset_id is not None
    png = media_factory.encode(clip, ".png", "-ss", "6", "-frames:v", "1")
    heic = png.with_suffix(".heic")
    pillow_heif.from_pillow(Image.open(png).convert("RGB")).save(heic, quality=70)
    service = MediaService(store)
    outcome = service.match_path(heic)
    assert outcome.mime == "image/heic"
    assert outcome.media_kind == "image"
    assert outcome.match is not None, outcome
    assert outcome.match.asset_id == asset_of(service, clip)
