"""Triage: the incident state machine and the append-only trail of analysts' actions.

States move forward, new -> acknowledged -> in_progress -> closed (steps may be skipped:
an obvious false positive is closed straight from new), and a closed incident can be
reopened (back to acknowledged). Closing needs a classification. Every action is one
`triage_action` row with the analyst and the time; the `event` row's caches
(`triage_state`, `classification`, `escalated`) change in the same transaction.

Two analysts on one incident: each state change is a conditional UPDATE
(`WHERE triage_state = <the state this analyst saw>`), and PostgreSQL also locks the rows
first, so the loser of a race is told the incident moved instead of silently overwriting it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from console.data.filters import TRIAGE_STATES

if TYPE_CHECKING:  # the dialogs import this module's rules before any database work
    from sqlalchemy import Connection, Engine

CLASSIFICATIONS = ("true_positive", "benign", "false_positive")
MAX_NOTE_CHARS = 4000
MAX_ANALYST_CHARS = 128
CHUNK = 500

# Allowed moves: forward along the line, or reopen a closed incident.
_ORDER = {state: i for i, state in enumerate(TRIAGE_STATES)}
REOPEN_STATE = "acknowledged"

Action = Literal["acknowledge", "start", "close", "reopen", "note", "escalate", "deescalate", "classify"]
ACTION_TARGET: dict[str, str] = {"acknowledge": "acknowledged", "start": "in_progress", "close": "closed"}


class TriageError(ValueError):
    """An action that cannot be recorded as asked (bad input, not an allowed move)."""


@dataclass(frozen=True)
class TriageRequest:
    """One analyst action, applied to one or many incidents."""

    action: Action
    analyst: str
    classification: str | None = None
    note: str | None = None

    def validate(self) -> None:
        if not self.analyst.strip():
            raise TriageError("an analyst name is required for the audit trail")
        if len(self.analyst) > MAX_ANALYST_CHARS:
            raise TriageError(f"analyst name is longer than {MAX_ANALYST_CHARS} characters")
        if self.action in ("close", "classify"):
            if self.classification not in CLASSIFICATIONS:
                raise TriageError(
                    f"closing needs a classification: {', '.join(c.replace('_', ' ') for c in CLASSIFICATIONS)}"
                )
        elif self.classification is not None:
            raise TriageError(f"a classification only goes with close or classify, not {self.action}")
        note = (self.note or "").strip()
        if self.action == "note" and not note:
            raise TriageError("a note cannot be empty")
        if len(note) > MAX_NOTE_CHARS:
            raise TriageError(f"a note is limited to {MAX_NOTE_CHARS} characters ({len(note)} given)")

    def describe(self, count: int) -> str:
        """The confirmation question for `count` incidents, e.g. 'Close 12 incidents as false positive?'."""
        noun = "incident" if count == 1 else "incidents"
        verb = {
            "acknowledge": "Acknowledge",
            "start": "Start work on",
            "close": "Close",
            "reopen": "Reopen",
            "note": "Add this note to",
            "escalate": "Escalate",
            "deescalate": "De-escalate",
            "classify": "Re-classify",
        }[self.action]
        text = f"{verb} {count:,} {noun}"
        if self.classification:
            text += f" as {self.classification.replace('_', ' ')}"
        return text + "?"


@dataclass
class TriageResult:
    applied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self, request: TriageRequest) -> str:
        verb = {
            "acknowledge": "acknowledged",
            "start": "in progress",
            "close": "closed",
            "reopen": "reopened",
            "note": "noted",
            "escalate": "escalated",
            "deescalate": "de-escalated",
            "classify": "re-classified",
        }[request.action]
        text = f"{len(self.applied):,} {verb}"
        if self.skipped:
            reasons: dict[str, int] = {}
            for reason in self.skipped.values():
                reasons[reason] = reasons.get(reason, 0) + 1
            text += "; skipped " + ", ".join(f"{n:,} {why}" for why, n in sorted(reasons.items()))
        return text


def check_move(current: str, request: TriageRequest) -> str | None:
    """Why `request` cannot apply to an incident in state `current`, or None when it can."""
    action = request.action
    if action in ACTION_TARGET:
        target = ACTION_TARGET[action]
        if current == target:
            return f"already {target.replace('_', ' ')}"
        if current == "closed":
            return "closed (reopen first)"
        if _ORDER.get(current, 0) > _ORDER[target]:
            return f"already {current.replace('_', ' ')}"
        return None
    if action == "reopen":
        return None if current == "closed" else "not closed"
    if action == "classify":
        return None if current == "closed" else "not closed"
    return None


def _lock_and_read(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, bool, str | None]]:
    """Read the incidents' current triage caches, holding the write lock until commit.

    SQLite: a write statement first (it matches no row) takes the database's write lock
    before the snapshot is read, so no other writer can commit in between (which would
    otherwise fail the transaction with SQLITE_BUSY_SNAPSHOT). PostgreSQL: SELECT ... FOR UPDATE.
    """
    from sqlalchemy import false, select, update

    from console.data.tables import EVENT

    e = EVENT.c
    if conn.dialect.name == "sqlite":
        conn.execute(update(EVENT).where(false()).values(triage_state=e.triage_state))
    found: dict[str, tuple[str, bool, str | None]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        query = select(e.id, e.triage_state, e.escalated, e.classification).where(e.id.in_(chunk))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in conn.execute(query).all():
            found[row.id] = (row.triage_state or "new", bool(row.escalated), row.classification)
    return found


def apply(
    engine: Engine,
    event_ids: Sequence[str],
    request: TriageRequest,
    *,
    clock: Callable[[], datetime] | None = None,
) -> TriageResult:
    """Record `request` on every incident in `event_ids` it is allowed for, in one transaction."""
    from sqlalchemy import insert

    from agent.store import utcnow
    from console.data.tables import TRIAGE

    clock = clock or utcnow
    request.validate()
    unique_ids = list(dict.fromkeys(event_ids))
    if not unique_ids:
        raise TriageError("no incidents selected")
    now = clock()
    note = (request.note or "").strip() or None
    result = TriageResult()
    with engine.begin() as conn:
        current = _lock_and_read(conn, unique_ids)
        actions: list[dict[str, object]] = []
        for event_id in unique_ids:
            if event_id not in current:
                result.skipped[event_id] = "no longer in the store"
                continue
            state, escalated, _classification = current[event_id]
            reason = check_move(state, request)
            if reason is None and request.action == "escalate" and escalated:
                reason = "already escalated"
            if reason is None and request.action == "deescalate" and not escalated:
                reason = "not escalated"
            if reason is not None:
                result.skipped[event_id] = reason
                continue
            row = _apply_one(conn, event_id, state, escalated, request, now, note)
            if row is None:
                result.skipped[event_id] = "changed by someone else meanwhile"
                continue
            actions.append(row)
            result.applied.append(event_id)
        if actions:
            conn.execute(insert(TRIAGE), actions)
    return result


def _apply_one(
    conn: Connection,
    event_id: str,
    state: str,
    escalated: bool,
    request: TriageRequest,
    now: datetime,
    note: str | None,
) -> dict[str, object] | None:
    """Update the caches if nobody changed the incident since it was read; the action row to insert."""
    from sqlalchemy import update

    from console.data.tables import EVENT

    e = EVENT.c
    values: dict[str, object] = {}
    action_row: dict[str, object] = {
        "event_id": event_id,
        "time": now,
        "analyst": request.analyst.strip(),
        "action": "state",
        "state": None,
        "classification": None,
        "note": note,
        "escalate": None,
    }
    if request.action in ACTION_TARGET:
        target = ACTION_TARGET[request.action]
        values = {"triage_state": target}
        if target == "closed":
            values["classification"] = request.classification
            action_row["classification"] = request.classification
        action_row["state"] = target
    elif request.action == "reopen":
        values = {"triage_state": REOPEN_STATE, "classification": None}
        action_row["state"] = REOPEN_STATE
    elif request.action == "classify":
        values = {"classification": request.classification}
        action_row.update(action="classify", classification=request.classification)
    elif request.action in ("escalate", "deescalate"):
        flag = request.action == "escalate"
        values = {"escalated": flag}
        action_row.update(action="escalate", escalate=flag)
    elif request.action == "note":
        action_row["action"] = "note"
    if values:
        guard = [e.id == event_id, e.triage_state == state]
        if "escalated" in values:
            guard.append(e.escalated == escalated)
        updated = conn.execute(update(EVENT).where(*guard).values(**values))
        if updated.rowcount != 1:
            return None
    return action_row
