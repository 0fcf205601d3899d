"""Scrub lineage: every output recorded (source by SHA-256 or fingerprint, or none), enrolled as a
derivative, methods without the secret McAdams alpha; the proxy's lookup sees the roles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlmodel import select

from agent import __version__
from agent.media import MediaService
from agent.scrub.files import scrub_file
from agent.scrub.lineage import IndexOnFirstMatch, os_user, record_output
from agent.scrub.options import ScrubOptions
from agent.store import MediaAsset, ScrubLineage, Store, asset_roles
from tests.support.media import DICTATIONS, MediaFactory

ALPHA = 0.8123456  # fixed so the test can look for it; never stored
OPTIONS = ScrubOptions(voice="anonymise", faces="keep", alpha=ALPHA)


def _scrub(
    store: Store, media: MediaService | IndexOnFirstMatch, source: Path, target: Path, options: ScrubOptions = OPTIONS
) -> int:
    result = scrub_file(source, target, options)
    record = record_output(
        store, media, source=source, target=target, options=options, result=result, scrub_s=0.5, agent_id="ws-1"
    )
    return record.lineage_id


def _row(store: Store, lineage_id: int) -> ScrubLineage:
    with store.session() as session:
        row = session.get(ScrubLineage, lineage_id)
        assert row is not None
        return row


@pytest.fixture
def dictation(media_factory: MediaFactory) -> Path:
    return media_factory.speech(DICTATIONS[2])


def test_enrolled_input_is_the_source_and_the_output_a_derivative(
    store: Store, dictation: Path, tmp_path: Path
) -> None:
    media = MediaService(store, agent_id="ws-1")
    source = media.enroll_path(dictation)
    assert source.error is None
    target = tmp_path / "copy.wav"
    row = _row(store, _scrub(store, media, dictation, target))
    output_sha = hashlib.sha256(target.read_bytes()).hexdigest()
    assert row.source_asset_id == source.asset_id
    assert row.source_match == "sha256"
    assert row.source_sha256 == source.asset_id
    assert row.output_sha256 == output_sha
    assert row.derivative_asset_id == output_sha
    assert row.size == target.stat().st_size
    assert row.kind == "audio"
    assert row.duration_s is not None
    assert row.duration_s > 1
    assert row.user == os_user()
    assert row.agent_id == "ws-1"
    assert row.tool_version == __version__
    methods = json.loads(row.methods)
    assert methods["voice"] == {"mode": "anonymise", "method": "mcadams-lpc", "alpha_range": [0.75, 0.9]}
    assert methods["metadata"] == "stripped"
    assert methods["faces"]["mode"] == "keep"
    assert "0.812" not in row.methods, "the McAdams alpha drawn for the file is never stored"
    with store.session() as session:
        derivative = session.get(MediaAsset, output_sha)
        assert derivative is not None
        assert derivative.lineage_id == row.id
        original = session.get(MediaAsset, source.asset_id)
        assert original is not None
        assert original.lineage_id is None
    assert row.id is not None
    roles = asset_roles(store, [output_sha, source.asset_id or "", "f" * 64])
    assert roles[output_sha].lineage_id == row.id
    assert roles[output_sha].source_asset_id == source.asset_id
    assert not roles[source.asset_id or ""].derivative
    assert "f" * 64 not in roles


def test_a_re_encoded_copy_of_an_enrolled_recording_finds_its_source_by_fingerprint(
    store: Store, dictation: Path, media_factory: MediaFactory, tmp_path: Path
) -> None:
    media = MediaService(store, agent_id="ws-1")
    source = media.enroll_path(dictation)
    mp3 = media_factory.encode(dictation, ".mp3", "-ac", "1", "-b:a", "64k")
    row = _row(store, _scrub(store, media, mp3, tmp_path / "copy.m4a"))
    assert row.source_asset_id == source.asset_id
    assert row.source_match == "fingerprint"
    assert row.source_score is not None
    assert row.source_score > 0.5
    assert row.source_sha256 == hashlib.sha256(mp3.read_bytes()).hexdigest()


def test_input_that_is_not_enrolled_is_still_recorded(store: Store, dictation: Path, tmp_path: Path) -> None:
    media = MediaService(store, agent_id="ws-1")
    row = _row(store, _scrub(store, media, dictation, tmp_path / "copy.wav"))
    assert row.source_asset_id is None
    assert row.source_match is None
    assert row.derivative_asset_id is not None


def test_silent_output_is_recorded_without_a_derivative(store: Store, dictation: Path, tmp_path: Path) -> None:
    media = MediaService(store, agent_id="ws-1")
    muted = ScrubOptions(voice="mute", faces="keep")
    row = _row(store, _scrub(store, media, dictation, tmp_path / "muted.wav", muted))
    assert row.derivative_asset_id is None, "silence has nothing to fingerprint"
    assert json.loads(row.methods)["voice"] == {"mode": "mute"}
    with store.session() as session:
        assert session.exec(select(MediaAsset).where(MediaAsset.lineage_id == row.id)).first() is None


def test_output_that_keeps_the_voice_is_recorded_but_never_a_derivative(
    store: Store, dictation: Path, tmp_path: Path
) -> None:
    """A re-encode with the voice kept is not de-identified: it must not pass where copies may."""
    media = MediaService(store, agent_id="ws-1")
    media.enroll_path(dictation)
    kept = ScrubOptions(voice="keep", faces="keep")
    target = tmp_path / "kept.wav"
    result = scrub_file(dictation, target, kept)
    record = record_output(store, media, source=dictation, target=target, options=kept, result=result, scrub_s=0.1)
    assert record.derivative_asset_id is None
    assert "not enrolled as a derivative (not de-identified: voice kept)" in record.describe()
    row = _row(store, record.lineage_id)
    assert row.derivative_asset_id is None
    assert row.source_match == "sha256"
    with store.session() as session:
        assert session.exec(select(MediaAsset).where(MediaAsset.lineage_id == row.id)).first() is None


def test_scrub_reads_the_enrolled_index_only_when_it_must_match_by_fingerprint(
    store: Store, dictation: Path, media_factory: MediaFactory, tmp_path: Path
) -> None:
    """`phiwall scrub` of an enrolled file costs one store read, not a load of every print."""
    source = MediaService(store, agent_id="agent").enroll_path(dictation)  # the agent, another process
    service = MediaService(store, agent_id="ws-1", preload=False)
    lazy = IndexOnFirstMatch(service)
    by_bytes = _row(store, _scrub(store, lazy, dictation, tmp_path / "same.wav"))
    assert by_bytes.source_asset_id == source.asset_id
    assert by_bytes.source_match == "sha256"
    assert not lazy.loaded
    assert set(service.index.state.assets) == {by_bytes.derivative_asset_id}, "only the new derivative is indexed"

    mp3 = media_factory.encode(dictation, ".mp3", "-ac", "1", "-b:a", "64k")
    by_print = _row(store, _scrub(store, lazy, mp3, tmp_path / "copy.m4a"))
    assert lazy.loaded
    assert by_print.source_asset_id == source.asset_id
    assert by_print.source_match == "fingerprint"
