"""Edited copies of an enrolled silent video, uploaded through a real proxy on loopback.

One test per family of real-life edits: turned or mirrored (portrait phone video, front
camera), embedded or cut (picture-in-picture at 30 % of a larger frame, a 25 % corner crop
with a caption bar), and re-filmed (the screen filmed with a phone: perspective, blur,
brightness), and a caption bar across a smooth picture (a gradient: no keypoints, and the
bar changes every informative pHash bit). Each edit is made by the test with ffmpeg from an
ffmpeg test pattern; an unrelated video with the same edit passes. A silent excerpt of one of two enrolled videos
with the same pictures (one template, two recordings) is blocked and names both.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.store import Event
from tests.integration.proxy.conftest import enroll
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream
from tests.support.media import MediaFactory, ffmpeg

pytestmark = pytest.mark.timeout(300)

PIP = ["-f", "lavfi", "-i", "color=c=0x304050:s=1280x720:r=25", "-t", "10"]
EDITS: dict[str, list[tuple[str, ...]]] = {
    "turned-or-mirrored": [("-vf", "transpose=1,scale=-2:480"), ("-vf", "hflip")],
    "embedded-or-cut": [
        (*PIP, "-filter_complex", "[0:v]scale=384:-2[s];[1:v][s]overlay=700:320:shortest=1"),
        ("-vf", "crop=iw*0.75:ih*0.75:0:0,drawbox=x=0:y=ih*0.8:w=iw:h=ih*0.2:color=black@0.8:t=fill"),
    ],
    "re-filmed": [
        (
            "-vf",
            "pad=iw*1.3:ih*1.3:(ow-iw)/2:(oh-ih)/2:color=0x202020,"
            "perspective=x0=60:y0=30:x1=W-20:y1=0:x2=0:y2=H-10:x3=W-70:y3=H-40,"
            "gblur=sigma=1.5,eq=brightness=0.08:contrast=0.9",
        ),
    ],
}


@pytest.fixture(scope="module")
def videos(media_factory: MediaFactory) -> tuple[Path, Path]:
    """(enrolled clinical video, unrelated video), both silent, 10 s."""
    clinical = media_factory.video(None, seconds=10, pattern="testsrc2", size="640x360")
    other = media_factory.video(None, seconds=10, pattern="testsrc", size="640x360")
    return clinical, other


# FFmpeg 5.1's `gradients` draws random colours whatever the seed: they are given here.
GRADIENTS = (
    "gradients=s=640x360:rate=25:seed=31:speed=0.02:c0=0x3b6ea5:c1=0xf0d58c",
    "gradients=s=640x360:rate=25:seed=47:speed=0.02:c0=0x6d2f5a:c1=0x8fd3c1",
)
CAPTION = ("-ss", "2", "-t", "5", "-vf", "drawbox=x=0:y=ih*0.72:w=iw:h=ih*0.28:color=0x101010@0.85:t=fill")


@pytest.fixture(scope="module")
def gradients(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(enrolled smooth clinical video, unrelated smooth video), silent, 10 s."""
    root = tmp_path_factory.mktemp("gradients")
    made = []
    for i, source in enumerate(GRADIENTS):
        path = root / f"gradient{i}.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            source,
            "-t",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(path),
        )
        made.append(path)
    return made[0], made[1]


@pytest.fixture(scope="module")
def twins(media_factory: MediaFactory, videos: tuple[Path, Path]) -> tuple[Path, Path]:
    """Two silent videos showing the same pictures, 10 s and 7 s long (the clinical pattern
    with its colours turned half-way round: they are not the clinical video)."""
    graded = ("-vf", "hue=h=180", "-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23")
    return media_factory.encode(videos[0], ".mp4", *graded), media_factory.encode(videos[0], ".mp4", "-t", "7", *graded)


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_ca_file: Path,
    videos: tuple[Path, Path],
    twins: tuple[Path, Path],
    gradients: tuple[Path, Path],
) -> Iterator[ProxyProcess]:
    process = ProxyProcess(tmp_path_factory.mktemp("proxy"), upstream_ca=upstream_ca_file)
    enroll(process.store_url, [videos[0], *twins, gradients[0]])
    process.start()
    yield process
    code = process.stop()
    assert code == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=120) as client:
        yield client


def _upload(http: httpx.Client, upstream: Upstream, data: bytes) -> httpx.Response:
    return http.post(f"{upstream.https}/v1/files", files={"file": ("visit.mp4", data, "video/mp4")})


def _blocked_unrelated_passes(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    media_factory: MediaFactory,
    pair: tuple[Path, Path],
    args: tuple[str, ...],
) -> Event:
    """The clinical video of `pair` edited by `args` is refused (its event returned), the
    unrelated one edited alike goes through."""
    clinical, other = pair
    edited = media_factory.encode(clinical, ".mp4", *args, "-an", "-c:v", "libx264", "-crf", "28")
    blocked = _upload(http, unapproved, edited.read_bytes())
    assert blocked.status_code == 403, (args, blocked.text[:300])
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.service_id == UNAPPROVED_ID
    unrelated = media_factory.encode(other, ".mp4", *args, "-an", "-c:v", "libx264", "-crf", "28")
    passed = _upload(http, unapproved, unrelated.read_bytes())
    assert passed.status_code == 200, (args, passed.text[:300])
    return event


@pytest.mark.parametrize("family", list(EDITS))
def test_edited_video_blocked_unrelated_passes(
    family: str,
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    videos: tuple[Path, Path],
    media_factory: MediaFactory,
) -> None:
    for args in EDITS[family]:
        event = _blocked_unrelated_passes(proxy, http, unapproved, media_factory, videos, args)
        assert event.asset_id is not None


def test_captioned_smooth_video_blocked_unrelated_passes(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    gradients: tuple[Path, Path],
    media_factory: MediaFactory,
) -> None:
    event = _blocked_unrelated_passes(proxy, http, unapproved, media_factory, gradients, CAPTION)
    assert event.asset_id == hashlib.sha256(gradients[0].read_bytes()).hexdigest()


def test_excerpt_of_one_of_two_identical_videos_is_blocked_naming_both(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    twins: tuple[Path, Path],
    media_factory: MediaFactory,
) -> None:
    """Seconds 1-5 of the longer twin, mirrored and silent: no picture, colour or length
    tells the twins apart, so the event names one and lists the other; the upload is
    enrolled media either way and is blocked."""
    excerpt = media_factory.encode(
        twins[0], ".mp4", "-ss", "1", "-t", "4", "-vf", "hflip", "-an", "-c:v", "libx264", "-crf", "28"
    )
    blocked = _upload(http, unapproved, excerpt.read_bytes())
    assert blocked.status_code == 403, blocked.text[:300]
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    ids = {hashlib.sha256(path.read_bytes()).hexdigest() for path in twins}
    also = json.loads(event.details).get("also_matches")
    assert isinstance(also, str), event.details
    assert {event.asset_id, *also.split(",")} == ids
