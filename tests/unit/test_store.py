"""The store: creation, migration, pragmas, UTC times, refusal of newer schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from agent.errors import StoreError
from agent.store import (
    Event,
    MediaAsset,
    MediaPrint,
    StoreNotFound,
    StoreSchemaMismatch,
    StoreUnavailable,
    TriageAction,
    head_revision,
    open_store,
)


def test_new_sqlite_store_is_migrated_to_head_with_pragmas(store_url: str) -> None:
    store = open_store(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
        assert conn.execute(text("pragma foreign_keys")).scalar() == 1
        assert conn.execute(text("pragma busy_timeout")).scalar() >= 5000
    store.dispose()


def test_opening_twice_is_a_no_op(store_url: str) -> None:
    open_store(store_url).dispose()
    store = open_store(store_url)
    with store.session() as session:
        session.add(Event(verdict="block", reason="test"))
        session.commit()
    store.dispose()
    again = open_store(store_url)
    with again.session() as session:
        assert len(session.exec(select(Event)).all()) == 1
    again.dispose()


def test_times_come_back_as_utc(store) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.session() as session:
        session.add(Event(verdict="audit", reason="t", time=when))
        session.commit()
    with store.session() as session:
        row = session.exec(select(Event)).one()
    assert row.time == when
    assert row.time.tzinfo is not None


def test_naive_datetimes_are_refused(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        session.add(Event(verdict="audit", reason="t", time=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()


def test_foreign_keys_cascade_prints_with_their_asset(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        session.add(MediaAsset(id="a" * 64, kind="audio", path="/x.wav", size=10))
        session.add(MediaPrint(asset_id="a" * 64, kind="chromaprint", data=b"\x00\x01"))
        session.commit()
        session.delete(session.get(MediaAsset, "a" * 64))
        session.commit()
        assert session.exec(select(MediaPrint)).all() == []


def test_triage_action_needs_an_existing_event(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        session.add(TriageAction(event_id="nope", analyst="a", action="note", note="x"))
        with pytest.raises(Exception, match="FOREIGN KEY"):
            session.commit()


def test_store_from_a_newer_version_is_refused(store_url: str) -> None:
    store = open_store(store_url)
    with store.engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '9999_future'"))
    store.dispose()
    with pytest.raises(StoreSchemaMismatch, match="newer PhiWall"):
        open_store(store_url)
    with pytest.raises(StoreSchemaMismatch, match="newer PhiWall"):
        open_store(store_url, migrate=False)


def test_missing_store_is_not_created_when_only_reading(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(StoreNotFound, match="does not exist"):
        open_store(url, migrate=False)
    assert not (tmp_path / "absent.db").exists()


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(Exception, match="cannot create store directory"):
        open_store(f"sqlite:///{blocker / 'sub' / 'x.db'}")


def test_unreachable_postgres_is_a_one_line_error() -> None:
    with pytest.raises(StoreUnavailable) as info:
        open_store("postgresql+psycopg://nobody@127.0.0.1:9/phiwall")
    message = str(info.value)
    assert "cannot open store" in message
    assert "\n" not in message


def test_password_is_hidden_in_errors() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql+psycopg://u:s3cret@127.0.0.1:9/db")
    assert "s3cret" not in str(info.value)


def test_not_a_url() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("just words")


@pytest.mark.postgres
def test_postgres_store_is_created_and_migrated(pg_url: str) -> None:
    store = open_store(pg_url)
    with store.session() as session:
        session.add(Event(verdict="block", reason="pg"))
        session.commit()
        assert session.exec(select(Event)).one().reason == "pg"
    store.dispose()
    again = open_store(pg_url)  # second start: no migration, same data
    with again.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
    again.dispose()


def test_typed_errors_are_store_errors_with_its_exit_status() -> None:
    """Callers that only care that the store failed still catch StoreError (exit status 3)."""
    for kind in (StoreNotFound, StoreSchemaMismatch, StoreUnavailable):
        assert issubclass(kind, StoreError)
        assert kind("x").exit_code == StoreError.exit_code == 3
