"""Prints in the store: several processes share it (refresh), enrolment is idempotent by
content, forgetting is retention, damaged rows do not stop start-up; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlmodel import select

from agent.media import MediaService
from agent.media.printformat import FRAMES
from agent.store import MediaAsset, MediaPrint, open_store

from .conftest import Clinic, make


def shared_store_round_trip(url: str, clinic: Clinic) -> None:
    store = open_store(url)
    try:
        writer = MediaService(store, agent_id="ws-1")
        reader = MediaService(store, agent_id="ws-2")  # another process, same store
        query = make(clinic.factory, "sync_query.mp3", "-ss", "2", "-t", "6", "-i", str(clinic.dictation_wavs[0]))
        assert reader.match_path(query).match is None

        first = writer.enroll_path(clinic.dictations[0])
        assert first.new
        assert first.kind == "audio"
        assert first.error is None
        assert writer.enroll_path(clinic.dictations[0]).new is False  # same content: no-op
        copy = clinic.factory.root / "renamed_copy.m4a"
        copy.write_bytes(clinic.dictations[0].read_bytes())
        again = writer.enroll_bytes(copy.read_bytes(), source_path=str(copy))
        assert again.new is False
        assert again.asset_id == first.asset_id

        assert reader.refresh() == 1
        found = reader.match_path(query)
        assert found.match is not None
        assert found.match.asset_id == first.asset_id
        assert found.match.path == str(clinic.dictations[0])

        video = writer.enroll_path(clinic.video)
        assert video.kind == "video"
        fresh = MediaService(store)  # start-up load: audio and picture prints come back
        assert fresh.stats().assets == 2
        frame = make(clinic.factory, "sync_frame.jpg", "-ss", "5", "-i", str(clinic.video), "-frames:v", "1")
        assert fresh.match_path(frame).match is not None

        assert first.asset_id is not None
        writer.forget(first.asset_id)
        assert writer.match_path(query).match is None
        reader.refresh()
        assert reader.match_path(query).match is None
        with store.session() as session:
            row = session.get(MediaAsset, first.asset_id)
            assert row is not None
            assert row.deleted_at is not None
            assert session.exec(select(MediaPrint).where(MediaPrint.asset_id == first.asset_id)).first() is None
        revived = writer.enroll_path(clinic.dictations[0])
        assert revived.new
        assert writer.match_path(query).match is not None
    finally:
        store.dispose()


def test_sqlite_store_is_shared_between_services(clinic: Clinic, tmp_path: Path) -> None:
    shared_store_round_trip(f"sqlite:///{tmp_path / 'shared.db'}", clinic)


@pytest.mark.postgres
def test_postgresql_store_is_shared_between_services(clinic: Clinic, pg_url: str) -> None:
    shared_store_round_trip(pg_url, clinic)


def test_damaged_print_rows_are_skipped_at_start_up(clinic: Clinic, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'damaged.db'}")
    try:
        service = MediaService(store)
        video = service.enroll_path(clinic.silent_video)
        audio = service.enroll_path(clinic.dictations[1])
        with store.session() as session:
            row = session.exec(
                select(MediaPrint).where(MediaPrint.asset_id == video.asset_id, MediaPrint.kind == FRAMES)
            ).one()
            row.data = row.data[:40]
            session.add(row)
            session.commit()
        restarted = MediaService(store)
        assert restarted.stats().assets == 1
        assert audio.asset_id is not None
        assert audio.asset_id in restarted.index
    finally:
        store.dispose()


def test_matching_from_threads_while_enrolling(clinic: Clinic, tmp_path: Path) -> None:
    """The proxy matches from a thread pool while the watcher enrols: answers stay right."""
    store = open_store(f"sqlite:///{tmp_path / 'threads.db'}")
    try:
        service = MediaService(store)
        service.enroll_path(clinic.dictations[1])
        query = make(clinic.factory, "thread_query.ogg", "-ss", "4", "-t", "6", "-i", str(clinic.dictation_wavs[1]))
        target = service.enroll_path(clinic.dictations[1]).asset_id
        errors: list[str] = []

        def matcher() -> None:
            for _ in range(4):
                outcome = service.match_path(query)
                if outcome.match is None or outcome.match.asset_id != target:
                    errors.append(repr(outcome))

        def enroller() -> None:
            for path in (clinic.dictations[0], clinic.video, clinic.silent_video):
                if service.enroll_path(path).error:
                    errors.append(f"enrol {path}")

        threads = [threading.Thread(target=matcher) for _ in range(3)] + [threading.Thread(target=enroller)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert service.stats().assets == 4
    finally:
        store.dispose()
