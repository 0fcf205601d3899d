"""Stores from before keypoints existed: enrolling the same file again adds its keypoint print
(and only that), after which a turned, embedded copy is recognised."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete
from sqlmodel import col

from agent.media import MediaService, printformat, repository
from agent.store import Store
from agent.store.models import MediaPrint
from tests.support.media import MediaFactory

PIP = ("-f", "lavfi", "-i", "color=c=0x304050:s=1280x720:r=25", "-t", "8")
TURNED_PIP = "[0:v]transpose=1,scale=-2:300[s];[1:v][s]overlay=500:200:shortest=1"


def test_enrolling_again_backfills_keypoints(store: Store, media_factory: MediaFactory, tmp_path: Path) -> None:
    video = media_factory.video(None, seconds=8, pattern="testsrc2", size="640x360")
    query = media_factory.encode(video, ".mp4", *PIP, "-filter_complex", TURNED_PIP, "-an")
    first = MediaService(store).enroll_path(video)
    assert first.asset_id is not None
    with store.session() as session:  # as an older build would have stored it
        session.execute(delete(MediaPrint).where(col(MediaPrint.kind) == printformat.KEYPOINTS))
        session.commit()
    old = MediaService(store)
    assert old.match_path(query).match is None
    again = old.enroll_path(video)
    assert again.asset_id == first.asset_id
    assert not again.new
    assert repository.has_print(store, first.asset_id, printformat.KEYPOINTS)
    match = MediaService(store).match_path(query).match
    assert match is not None
    assert match.asset_id == first.asset_id
