"""A dictation played faster, resampled or pitch-shifted before upload, through the real proxy.

One case per family of `agent.media.warp`: a tempo change with the pitch kept (what a player's
1.5x button does), a resampled speed change (pitch and tempo together), and a pitch shift with
the tempo kept. Each is made at test time with ffmpeg from the enrolled dictation and uploaded
as an MP3; the same edit of speech that is not enrolled must pass.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream
from tests.support.media import MediaFactory

pytestmark = pytest.mark.timeout(300)

EDITS = {
    "tempo-1.5x-pitch-kept": "atempo=1.5",
    "speed-1.25x-resampled": "asetrate=22050*1.25,aresample=22050",
    # +3 semitones with the tempo kept: resample up, then stretch back to the old duration.
    "pitch-plus-3-semitones": "asetrate=22050*1.1892,aresample=22050,atempo=0.8409",
}


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=60) as client:
        yield client


def _upload(http: httpx.Client, unapproved: Upstream, mp3: bytes) -> httpx.Response:
    files = {"file": ("dictation.mp3", mp3, "audio/mpeg")}
    return http.post(f"{unapproved.https}/v1/audio/transcriptions", files=files, data={"model": "whisper-1"})


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_dictation_blocked_other_speech_passes(
    edit: str,
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    recordings: Recordings,
    media_factory: MediaFactory,
) -> None:
    args = ("-ac", "1", "-af", EDITS[edit], "-b:a", "64k")
    clinical = media_factory.encode(recordings.clinical_wav, ".mp3", *args).read_bytes()
    other = media_factory.encode(recordings.other_mp3, ".mp3", *args).read_bytes()

    blocked = _upload(http, unapproved, clinical)
    assert blocked.status_code == 403, blocked.text[:300]
    assert blocked.headers["x-phiwall-verdict"] == "block"
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert event.service_id == UNAPPROVED_ID

    passed = _upload(http, unapproved, other)
    assert passed.status_code == 200, passed.text[:300]
