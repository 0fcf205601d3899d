"""Discovery aggregation: one row per host, one event per discovery, bounded state, store failures."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from agent.shadow.classifier import ShapeVerdict
from agent.shadow.discovery import DiscoveryRecorder, DiscoverySettings, belief_after
from agent.store import AIServiceSeen, Event, EventWriter, Store, open_store, utcnow

AI = ShapeVerdict("ai", 0.9, 6)
STRONG = ShapeVerdict("ai", 0.995, 9)
ORDINARY = ShapeVerdict("not_ai", 0.05, 6)
UNSURE = ShapeVerdict("unknown", 0.45, 1)


def _rows(store: Store) -> list[AIServiceSeen]:
    with store.session() as session:
        return list(session.exec(select(AIServiceSeen)).all())


def _events(store: Store) -> list[Event]:
    with store.session() as session:
        return list(session.exec(select(Event).where(Event.kind == "discovery")).all())


def test_a_busy_host_is_one_row_and_one_event(store: Store) -> None:
    writer = EventWriter(store)
    writer.start()
    recorder = DiscoveryRecorder(store, agent_id="ws-1", events=writer)
    for i in range(3000):
        recorder.observe(
            "API.New-LLM.example.",
            AI,
            process=f"python{i % 3}",
            user="dr.who" if i % 2 else "nurse",
            blocked=i % 100 == 0,
        )
        if i == 1500:
            recorder.flush()  # a mid-stream flush must add, not overwrite
    recorder.flush()
    writer.flush()
    writer.stop()
    rows = _rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert row.host == "api.new-llm.example"
    assert row.request_count == 3000
    assert row.block_count == 30
    assert row.status == "unknown"
    assert row.category == "unknown-ai"
    assert row.confidence is not None
    assert row.confidence > 0.9
    assert sorted(json.loads(row.users)) == ["dr.who", "nurse"]
    assert sorted(json.loads(row.processes)) == ["python0", "python1", "python2"]
    events = _events(store)
    assert len(events) == 1
    assert events[0].reason == "unknown AI service seen: api.new-llm.example"
    assert events[0].verdict == "info"
    assert json.loads(events[0].details)["first_report"] is True


def test_ordinary_and_unsure_hosts_leave_no_trace(store: Store) -> None:
    recorder = DiscoveryRecorder(store, agent_id="ws-1")
    for _ in range(50):
        recorder.observe("cdn.example.com", ORDINARY)
        recorder.observe("rare.example.com", UNSURE)
    assert recorder.flush() == 0
    assert _rows(store) == []
    ordinary = recorder.belief("cdn.example.com")
    unsure = recorder.belief("rare.example.com")
    assert ordinary is not None
    assert ordinary.status == "not_ai"
    assert unsure is not None
    assert unsure.status == "unknown"
    assert unsure.confidence == 0.5


def test_a_host_that_flips_stays_unknown_and_quiet(store: Store) -> None:
    writer = EventWriter(store)
    writer.start()
    recorder = DiscoveryRecorder(store, agent_id="ws-1", events=writer)
    for i in range(400):
        belief = recorder.observe("flip.example.com", AI if i % 2 else ORDINARY)
    writer.flush()
    writer.stop()
    assert belief.status == "unknown"
    assert 0.3 < belief.confidence < 0.7
    assert _events(store) == []


def test_status_changes_are_reported_at_most_once_per_cooldown(store: Store) -> None:
    writer = EventWriter(store)
    writer.start()
    settings = DiscoverySettings(status_event_cooldown_s=3600)
    recorder = DiscoveryRecorder(store, agent_id="ws-1", events=writer, settings=settings)
    start = utcnow()

    def phase(verdict: ShapeVerdict, at: timedelta, count: int = 100) -> str:
        for i in range(count):
            belief = recorder.observe("model.example.net", verdict, now=start + at + timedelta(seconds=i))
        return belief.status

    assert phase(AI, timedelta(0), 5) == "ai"  # first report
    assert phase(ORDINARY, timedelta(minutes=1)) == "not_ai"  # within the hour: dropped
    assert phase(AI, timedelta(minutes=10)) == "ai"  # back to what was reported: nothing new
    assert phase(ORDINARY, timedelta(hours=2)) == "not_ai"  # reported
    assert phase(AI, timedelta(hours=2, minutes=30)) == "ai"  # within the hour of that report: dropped
    assert phase(ORDINARY, timedelta(hours=2, minutes=40)) == "not_ai"  # same as reported: nothing
    assert phase(AI, timedelta(hours=5)) == "ai"  # reported
    writer.flush()
    writer.stop()
    reasons = [e.reason for e in sorted(_events(store), key=lambda e: e.time)]
    assert reasons == [
        "unknown AI service seen: model.example.net",
        "model.example.net, reported as an AI API before, no longer looks like one",
        "model.example.net looks like an AI API again",
    ]


def test_one_strong_uncontradicted_request_is_enough() -> None:
    assert belief_after([STRONG]).status == "ai"
    assert belief_after([AI]).status == "unknown"
    assert belief_after([AI, AI]).status == "ai"
    assert belief_after([AI, ORDINARY]).status == "unknown"
    assert belief_after([UNSURE] * 20).status == "unknown"


def test_memory_is_bounded_and_evicted_counts_are_still_written(store: Store) -> None:
    settings = DiscoverySettings(max_hosts=50)
    recorder = DiscoveryRecorder(store, agent_id="ws-1", settings=settings)
    for i in range(120):
        recorder.observe(f"h{i}.ai.example", STRONG)
    assert len(recorder._hosts) == 50
    assert recorder.flush() == 100  # 50 tracked + 50 evicted-but-unwritten (the bound)
    assert recorder.dropped == 20
    healthy, message = recorder.health_summary()
    assert not healthy
    assert "20 requests not recorded" in message
    assert len(_rows(store)) == 100


def test_a_failing_store_keeps_the_counts_for_the_next_flush(store: Store) -> None:
    recorder = DiscoveryRecorder(store, agent_id="ws-1")
    for _ in range(7):
        recorder.observe("down.ai.example", STRONG)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE ai_service_seen RENAME TO ai_service_seen_away"))
    assert recorder.flush() == 0
    assert recorder.last_error is not None
    assert recorder.health_summary()[0] is False
    recorder.observe("down.ai.example", STRONG)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE ai_service_seen_away RENAME TO ai_service_seen"))
    assert recorder.flush() == 1
    assert recorder.last_error is None
    assert [row.request_count for row in _rows(store)] == [8]


def test_a_write_racing_the_flush_on_sqlite_is_retried_not_lost(store: Store) -> None:
    """Another connection commits between the flush's read and its write (the EventWriter does
    this in the agent): SQLite refuses the stale transaction at once, without waiting; the
    recorder must retry in a fresh one rather than give up until the next flush."""
    database = store.engine.url.database
    assert database
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE race_probe (x INTEGER)"))
    raced: list[str] = []

    def race(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not raced and statement.lstrip().upper().startswith("INSERT INTO AI_SERVICE_SEEN"):
            other = sqlite3.connect(database, isolation_level=None)
            other.execute("INSERT INTO race_probe VALUES (1)")
            other.close()
            raced.append(statement)

    event.listen(store.engine, "before_cursor_execute", race)
    try:
        recorder = DiscoveryRecorder(store, agent_id="ws-1")
        for _ in range(3):
            recorder.observe("raced.ai.example", STRONG)
        assert recorder.flush() == 1
    finally:
        event.remove(store.engine, "before_cursor_execute", race)
    assert raced, "the racing write never happened: the test no longer exercises the conflict"
    assert recorder.last_error is None
    assert [(row.host, row.request_count) for row in _rows(store)] == [("raced.ai.example", 3)]


def test_catalog_services_are_inventoried_as_the_catalog_says(store: Store) -> None:
    recorder = DiscoveryRecorder(store, agent_id="ws-1")
    for _ in range(3):
        recorder.observe(
            "api.openai.com", None, service_id="openai", category="chat", status="unapproved", blocked=True
        )
    recorder.flush()
    (row,) = _rows(store)
    assert (row.service_id, row.category, row.status, row.confidence) == ("openai", "chat", "unapproved", 1.0)
    assert (row.request_count, row.block_count) == (3, 3)


def test_background_thread_writes_in_batches(store: Store) -> None:
    recorder = DiscoveryRecorder(store, agent_id="ws-1", settings=DiscoverySettings(flush_interval_s=0.05))
    recorder.start()
    try:
        recorder.observe("bg.ai.example", STRONG)
        deadline = threading.Event()
        for _ in range(100):
            if _rows(store):
                break
            deadline.wait(0.05)
    finally:
        recorder.stop()
    assert [row.host for row in _rows(store)] == ["bg.ai.example"]


@pytest.mark.postgres
def test_two_recorders_on_postgresql_add_up(pg_url: str) -> None:
    """Two processes' recorders (same agent) racing on one host: the unique key and the retry keep both counts."""
    store = open_store(pg_url)
    try:
        recorders = [DiscoveryRecorder(store, agent_id="ws-pg") for _ in range(2)]
        for recorder in recorders:
            for _ in range(250):
                recorder.observe("race.ai.example", STRONG, user="u")
        barrier = threading.Barrier(2)

        def flush(recorder: DiscoveryRecorder) -> None:
            barrier.wait()
            recorder.flush()

        threads = [threading.Thread(target=flush, args=(r,)) for r in recorders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        rows = _rows(store)
        assert len(rows) == 1
        assert rows[0].request_count == 500
    finally:
        store.dispose()
