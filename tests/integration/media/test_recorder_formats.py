"""Containers that libmagic names only "data" or "octet-stream": MPEG transport streams (`.ts`
from screen and medical-device recorders, HLS segments; M2TS `.mts`/`.m2ts` from AVCHD
camcorders, 192-byte packets) and Apple's Core Audio Format (`.caf`). A clinical folder
holding them used to refuse them at enrolment ("not audio, video or an image"); now the
marker table names them and they are enrolled, and their copies found, like any other file.
Media made here with espeak-ng and ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

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
