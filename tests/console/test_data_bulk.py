"""Bulk triage over every event matching a filter (set-based SQL) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from agent.store import Store
from console.data import bulk, triage
from console.data.filters import EventFilter
from console.data.tables import EVENT, TRIAGE
from console.data.triage import TriageRequest
from tests.console.conftest import NOW

BLOCKS = EventFilter(verdicts=frozenset({"block"}))


def later() -> object:
    return NOW + timedelta(minutes=7)


def _states(store: Store, flt: EventFilter) -> dict[str, str]:
    from console.data.incidents import where_clauses

    with store.engine.connect() as conn:
        rows = conn.execute(select(EVENT.c.id, EVENT.c.triage_state).where(*where_clauses(flt))).all()
    return {r.id: r.triage_state for r in rows}


def test_close_every_matching_event_with_one_trail_row_each(any_small_store: Store) -> None:
    before = _states(any_small_store, BLOCKS)
    already_closed = {i for i, s in before.items() if s == "closed"}
    request = TriageRequest("close", "carol", classification="benign", note="known test uploads")
    with any_small_store.engine.connect() as conn:
        found = bulk.scope(conn, BLOCKS, request)
    assert found.matching == len(before) > 0
    assert found.eligible == len(before) - len(already_closed)

    result = bulk.apply_matching(any_small_store.engine, BLOCKS, request, clock=later)  # type: ignore[arg-type]
    assert (result.matching, result.applied) == (found.matching, found.eligible)
    assert set(_states(any_small_store, BLOCKS).values()) == {"closed"}
    with any_small_store.engine.connect() as conn:
        trail = conn.execute(
            select(TRIAGE.c.event_id, TRIAGE.c.state, TRIAGE.c.classification, TRIAGE.c.note, TRIAGE.c.time).where(
                TRIAGE.c.analyst == "carol"
            )
        ).all()
        other = conn.execute(select(func.count()).select_from(EVENT).where(EVENT.c.verdict != "block")).scalar_one()
        untouched = conn.execute(
            select(func.count())
            .select_from(EVENT)
            .where(EVENT.c.verdict != "block", EVENT.c.classification == "benign")
        ).scalar_one()
    assert sorted(r.event_id for r in trail) == sorted(set(before) - already_closed)
    assert {(r.state, r.classification, r.note) for r in trail} == {("closed", "benign", "known test uploads")}
    assert {r.time for r in trail} == {later()}
    assert other > 0
    assert untouched == 0
    assert "skipped" in result.summary(request) or not already_closed

    # Again: nothing left to close, nothing written.
    again = bulk.apply_matching(any_small_store.engine, BLOCKS, request, clock=later)  # type: ignore[arg-type]
    assert again.applied == 0


def test_bulk_follows_the_state_machine(any_small_store: Store) -> None:
    engine = any_small_store.engine
    everything = EventFilter()
    closed_before = sum(1 for s in _states(any_small_store, everything).values() if s == "closed")
    reopen = bulk.apply_matching(engine, everything, TriageRequest("reopen", "dan"))
    assert reopen.applied == closed_before > 0
    assert "closed" not in _states(any_small_store, everything).values()
    escalated = bulk.apply_matching(engine, BLOCKS, TriageRequest("escalate", "dan"))
    assert escalated.applied > 0
    assert bulk.apply_matching(engine, BLOCKS, TriageRequest("escalate", "dan")).applied == 0
    down = bulk.apply_matching(engine, everything, TriageRequest("deescalate", "dan"))
    assert down.applied >= escalated.applied
    # A single-incident action sees the bulk result.
    some = next(iter(_states(any_small_store, BLOCKS)))
    skipped = triage.apply(engine, [some], TriageRequest("deescalate", "dan"))
    assert skipped.skipped == {some: "not escalated"}


def test_words_and_terms_narrow_the_bulk_scope(small_store: Store) -> None:
    flt = EventFilter(verdicts=frozenset({"block"}), user="user008")
    with small_store.engine.connect() as conn:
        found = bulk.scope(conn, flt, TriageRequest("acknowledge", "erin"))
    result = bulk.apply_matching(small_store.engine, flt, TriageRequest("acknowledge", "erin"))
    assert result.applied == found.eligible
    with small_store.engine.connect() as conn:
        users = conn.execute(
            select(EVENT.c.user, EVENT.c.verdict).join(TRIAGE, TRIAGE.c.event_id == EVENT.c.id).distinct()
        ).all()
    assert {tuple(u) for u in users} <= {("user008", "block")}
