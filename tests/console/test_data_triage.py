"""Triage on SQLite and PostgreSQL: allowed moves, validation, append-only trail, caches, bulk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from agent.store import Store
from console.data import triage
from console.data.incidents import fetch_rows, triage_history
from console.data.tables import EVENT, TRIAGE
from console.data.triage import TriageError, TriageRequest, check_move
from tests.console.conftest import NOW

NEW_IDS = [f"{n:032x}" for n in (1, 2, 3, 4, 5, 6)]  # all "new" in the synthetic store


def clock() -> object:
    return NOW + timedelta(minutes=5)


def state_of(store: Store, event_id: str) -> tuple[str, str | None, bool]:
    with store.engine.connect() as conn:
        row = fetch_rows(conn, [event_id])[event_id]
    return row.triage_state, row.classification, row.escalated


def test_forward_path_with_history_and_caches(any_small_store: Store) -> None:
    eid = NEW_IDS[0]
    engine = any_small_store.engine
    for action in ("acknowledge", "start"):
        result = triage.apply(engine, [eid], TriageRequest(action, "alice"), clock=lambda: NOW)  # type: ignore[arg-type]
        assert result.applied == [eid]
    assert state_of(any_small_store, eid) == ("in_progress", None, False)
    closed = triage.apply(
        engine, [eid], TriageRequest("close", "bob", classification="false_positive", note="test upload"), clock=clock
    )
    assert closed.applied == [eid]
    assert state_of(any_small_store, eid) == ("closed", "false_positive", False)
    with engine.connect() as conn:
        history = triage_history(conn, eid)
    assert [(h.analyst, h.action, h.state, h.classification) for h in history] == [
        ("alice", "state", "acknowledged", None),
        ("alice", "state", "in_progress", None),
        ("bob", "state", "closed", "false_positive"),
    ]
    assert history[-1].note == "test upload"
    assert history[-1].time == NOW + timedelta(minutes=5)
    reopened = triage.apply(engine, [eid], TriageRequest("reopen", "carol"))
    assert reopened.applied == [eid]
    assert state_of(any_small_store, eid) == ("acknowledged", None, False)


def test_invalid_requests_are_refused_before_touching_the_store(small_store: Store) -> None:
    engine = small_store.engine
    with pytest.raises(TriageError, match="classification"):
        triage.apply(engine, NEW_IDS[:1], TriageRequest("close", "alice"))
    with pytest.raises(TriageError, match="classification"):
        triage.apply(engine, NEW_IDS[:1], TriageRequest("close", "alice", classification="maybe"))
    with pytest.raises(TriageError, match="empty"):
        triage.apply(engine, NEW_IDS[:1], TriageRequest("note", "alice", note="   "))
    with pytest.raises(TriageError, match="analyst"):
        triage.apply(engine, NEW_IDS[:1], TriageRequest("acknowledge", " "))
    with pytest.raises(TriageError, match="limited"):
        triage.apply(engine, NEW_IDS[:1], TriageRequest("note", "alice", note="x" * 5000))
    with pytest.raises(TriageError, match="no incidents"):
        triage.apply(engine, [], TriageRequest("acknowledge", "alice"))
    with small_store.engine.connect() as conn:
        assert conn.execute(select(TRIAGE)).all() == []


@pytest.mark.parametrize(
    ("state", "action", "reason"),
    [
        ("new", "acknowledge", None),
        ("new", "close", None),
        ("acknowledged", "acknowledge", "already acknowledged"),
        ("in_progress", "acknowledge", "already in progress"),
        ("closed", "start", "closed (reopen first)"),
        ("new", "reopen", "not closed"),
        ("closed", "reopen", None),
        ("acknowledged", "classify", "not closed"),
        ("closed", "classify", None),
    ],
)
def test_allowed_moves(state: str, action: str, reason: str | None) -> None:
    classification = "benign" if action in ("close", "classify") else None
    assert check_move(state, TriageRequest(action, "a", classification=classification)) == reason  # type: ignore[arg-type]


def test_bulk_close_applies_where_allowed_and_says_why_not(any_small_store: Store) -> None:
    engine = any_small_store.engine
    triage.apply(engine, NEW_IDS[:2], TriageRequest("close", "alice", classification="benign"))
    request = TriageRequest("close", "bob", classification="true_positive")
    assert request.describe(4) == "Close 4 incidents as true positive?"
    result = triage.apply(engine, [*NEW_IDS[:4], "missing-id"], request)
    assert result.applied == NEW_IDS[2:4]
    assert result.skipped == {
        NEW_IDS[0]: "already closed",
        NEW_IDS[1]: "already closed",
        "missing-id": "no longer in the store",
    }
    assert result.summary(request) == "2 closed; skipped 2 already closed, 1 no longer in the store"
    with engine.connect() as conn:
        rows = conn.execute(select(TRIAGE.c.event_id, TRIAGE.c.analyst).order_by(TRIAGE.c.id)).all()
    assert [tuple(r) for r in rows] == [
        (NEW_IDS[0], "alice"),
        (NEW_IDS[1], "alice"),
        (NEW_IDS[2], "bob"),
        (NEW_IDS[3], "bob"),
    ]


def test_escalate_notes_and_reclassify(any_small_store: Store) -> None:
    engine = any_small_store.engine
    eid = NEW_IDS[5]
    assert triage.apply(engine, [eid], TriageRequest("escalate", "alice")).applied == [eid]
    assert triage.apply(engine, [eid], TriageRequest("escalate", "alice")).skipped == {eid: "already escalated"}
    assert state_of(any_small_store, eid) == ("new", None, True)
    assert triage.apply(engine, [eid], TriageRequest("note", "alice", note="called the ward")).applied == [eid]
    triage.apply(engine, [eid], TriageRequest("close", "alice", classification="benign"))
    triage.apply(engine, [eid], TriageRequest("classify", "dave", classification="true_positive"))
    triage.apply(engine, [eid], TriageRequest("deescalate", "dave"))
    assert state_of(any_small_store, eid) == ("closed", "true_positive", False)
    with engine.connect() as conn:
        history = triage_history(conn, eid)
    assert [h.summary() for h in history] == [
        "escalated",
        "note",
        "set state closed (benign)",
        "classified true positive",
        "de-escalated",
    ]


def test_trail_is_append_only_in_time_order(small_store: Store) -> None:
    engine = small_store.engine
    for action in ("acknowledge", "start"):
        triage.apply(engine, NEW_IDS[:3], TriageRequest(action, "alice"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        ids = conn.execute(select(TRIAGE.c.id).order_by(TRIAGE.c.id)).scalars().all()
        states = conn.execute(select(EVENT.c.triage_state).where(EVENT.c.id.in_(NEW_IDS[:3]))).scalars().all()
    assert len(ids) == 6
    assert ids == sorted(ids)
    assert set(states) == {"in_progress"}
