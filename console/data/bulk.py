"""Triage of every event matching a filter, in the store, in one transaction (set-based SQL).

The incidents list loads a few hundred rows; a filter can match 75,000. Bulk triage never
walks ids through Python: one `INSERT ... SELECT` writes a `triage_action` row per eligible
event (the audit trail), then one `UPDATE` moves the event caches of exactly those events.
Eligibility is the same state machine as `console.data.triage`, spelt as SQL: closing skips
what is already closed, re-opening touches only closed events, escalating only events that
are not escalated yet.

Concurrency: SQLite takes the write lock first (a no-op write), so nothing changes in between,
and its UPDATE targets the events named by the trail rows this transaction wrote (ids above
the highest trail id read under the lock, with this analyst and this exact time). PostgreSQL
runs one statement, `WITH moved AS (UPDATE ... RETURNING id) INSERT INTO triage_action
SELECT ... FROM moved`: the UPDATE locks its rows and re-checks eligibility on any row another
analyst changed meanwhile (a note, which changes no cache, locks the rows `FOR UPDATE` first).
Either way the caches and the trail always agree, even when the agent adds matching events meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, false, func, insert, literal, select, true, update

from agent.store import utcnow
from console.data.filters import TRIAGE_STATES, EventFilter
from console.data.incidents import text_plan, where_clauses
from console.data.tables import EVENT, TRIAGE
from console.data.triage import ACTION_TARGET, REOPEN_STATE, TriageRequest, TriageResult

e = EVENT.c
t = TRIAGE.c


@dataclass(frozen=True)
class BulkScope:
    """What a bulk action would touch: every matching event, and those the action applies to."""

    matching: int
    eligible: int

    @property
    def skipped(self) -> int:
        return self.matching - self.eligible


@dataclass(frozen=True)
class BulkResult:
    matching: int
    applied: int

    def summary(self, request: TriageRequest) -> str:
        """E.g. '74,990 of 75,000 matching events closed; 10 skipped (the action does not apply)'."""
        done = TriageResult(applied=[""] * self.applied).summary(request)
        text = f"{done.replace(f'{self.applied:,} ', f'{self.applied:,} of {self.matching:,} matching events ', 1)}"
        skipped = self.matching - self.applied
        if skipped:
            text += f"; {skipped:,} skipped (the action does not apply to them)"
        return text


def eligible(request: TriageRequest) -> ColumnElement[bool]:
    """The events `request` applies to, as SQL (mirror of `triage.check_move`)."""
    state = func.coalesce(e.triage_state, "new")
    action = request.action
    if action in ACTION_TARGET:
        target = ACTION_TARGET[action]
        earlier = TRIAGE_STATES[: TRIAGE_STATES.index(target)]
        return state.in_(earlier)
    if action in ("reopen", "classify"):
        return state == "closed"
    if action == "escalate":
        return func.coalesce(e.escalated, false()) == false()
    if action == "deescalate":
        return e.escalated == true()
    return true()


def _clauses(conn: Connection, flt: EventFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions, words through the index where it pays (SQLite; PostgreSQL's
    planner takes its GIN index for these whole-set reads by itself)."""
    sqlite = conn.dialect.name == "sqlite"
    return where_clauses(flt, sqlite=sqlite, plan=text_plan(conn, flt, wanted=None) if sqlite else "scan")


def _count(conn: Connection, clauses: list[ColumnElement[bool]]) -> int:
    return int(conn.execute(select(func.count()).select_from(EVENT).where(*clauses)).scalar_one())


def scope(conn: Connection, flt: EventFilter, request: TriageRequest) -> BulkScope:
    """Exact counts for the confirmation ("Close 75,000 incidents?"), uncapped."""
    clauses = _clauses(conn, flt)
    return BulkScope(matching=_count(conn, clauses), eligible=_count(conn, [*clauses, eligible(request)]))


def _event_values(request: TriageRequest) -> dict[str, Any]:
    if request.action in ACTION_TARGET:
        target = ACTION_TARGET[request.action]
        values: dict[str, Any] = {"triage_state": target}
        if target == "closed":
            values["classification"] = request.classification
        return values
    if request.action == "reopen":
        return {"triage_state": REOPEN_STATE, "classification": None}
    if request.action == "classify":
        return {"classification": request.classification}
    if request.action in ("escalate", "deescalate"):
        return {"escalated": request.action == "escalate"}
    return {}


def _trail_values(request: TriageRequest, analyst: str, now: datetime, note: str | None) -> dict[str, Any]:
    """The constant columns of every trail row (the event id comes from the SELECT)."""
    values: dict[str, Any] = {"time": now, "analyst": analyst, "action": "state", "note": note}
    if request.action in ACTION_TARGET:
        values["state"] = ACTION_TARGET[request.action]
        if request.action == "close":
            values["classification"] = request.classification
    elif request.action == "reopen":
        values["state"] = REOPEN_STATE
    elif request.action == "classify":
        values.update(action="classify", classification=request.classification)
    elif request.action in ("escalate", "deescalate"):
        values.update(action="escalate", escalate=request.action == "escalate")
    else:
        values["action"] = "note"
    return {k: v for k, v in values.items() if v is not None}


def _lock(conn: Connection, clauses: list[ColumnElement[bool]]) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(update(EVENT).where(false()).values(triage_state=e.triage_state))
    elif conn.dialect.name == "postgresql":
        locked = select(e.id).where(*clauses).with_for_update().subquery()
        conn.execute(select(func.count()).select_from(locked))


def apply_matching(
    engine: Engine,
    flt: EventFilter,
    request: TriageRequest,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> BulkResult:
    """Record `request` on every event matching `flt` it applies to: one transaction, two statements."""
    request.validate()
    analyst = request.analyst.strip()
    note = (request.note or "").strip() or None
    now = clock()
    with engine.begin() as conn:
        clauses = _clauses(conn, flt)
        target = [*clauses, eligible(request)]
        values = _event_values(request)
        one_statement = bool(values) and conn.dialect.name == "postgresql"
        if not one_statement:  # a single UPDATE locks (and re-checks) its own rows
            _lock(conn, target)
        matching = _count(conn, clauses)
        floor = int(conn.execute(select(func.coalesce(func.max(t.id), 0))).scalar_one())
        constants = _trail_values(request, analyst, now, note)
        names = ["event_id", *constants]
        literals = [literal(v, type_=TRIAGE.c[k].type) for k, v in constants.items()]
        if one_statement:
            # One statement: the UPDATE's RETURNING feeds the trail (a data-modifying CTE), so
            # both see the same snapshot and the planner needs no estimate of fresh trail rows.
            moved = update(EVENT).where(*target).values(**values).returning(e.id).cte("moved")
            conn.execute(insert(TRIAGE).from_select(names, select(moved.c.id, *literals)))
            mine = (t.id > floor, t.analyst == analyst, t.time == now)
            applied = int(conn.execute(select(func.count()).select_from(TRIAGE).where(*mine)).scalar_one())
            return BulkResult(matching=matching, applied=applied)
        source = select(e.id, *literals).where(*target)
        conn.execute(insert(TRIAGE).from_select(names, source))
        mine = (t.id > floor, t.analyst == analyst, t.time == now)
        applied = int(conn.execute(select(func.count()).select_from(TRIAGE).where(*mine)).scalar_one())
        if values and applied:
            conn.execute(update(EVENT).where(e.id.in_(select(t.event_id).where(*mine))).values(**values))
    return BulkResult(matching=matching, applied=applied)
