"""The issue's promise: a recording enrolled on workstation A and carried to workstation B
(USB stick, share) is recognised on B, through the fleet store, with the real media service."""

from __future__ import annotations

import pytest

from agent.media import MediaService
from tests.integration.fleet.conftest import LocalAgent, link
from tests.support.media import MediaFactory

pytestmark = pytest.mark.postgres


def test_a_recording_enrolled_on_a_is_recognised_on_b(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str, media_factory: MediaFactory
) -> None:
    a, b = agents
    media_a = MediaService(a.store, agent_id=a.agent_id)
    media_b = MediaService(b.store, agent_id=b.agent_id)
    recording = media_factory.speech(
        "Ward round dictation. Bed twelve, post operative day two, wound clean, continue antibiotics."
    )
    carried = media_factory.encode(recording, ".mp3", "-ac", "1", "-b:a", "32k")  # re-encoded on the way

    assert media_b.match_path(carried).match is None  # B has never seen it
    enrolled = media_a.enroll_path(recording)
    assert enrolled.error is None
    assert enrolled.new

    link(a, pg_url).sync_once()
    report = link(b, pg_url).sync_once()
    assert report.pulled == 1
    assert media_b.refresh() == 1  # what the proxy's periodic refresh does

    outcome = media_b.match_path(carried)
    assert outcome.error is None
    assert outcome.match is not None
    assert outcome.match.asset_id == enrolled.asset_id
