"""What a SIEM sees of a queued row: a fixed allow-list of columns, never payloads.

Events hold no payload bytes or transcripts by construction (agent.store.events), but SIEM
output leaves the machine, so this module reads named columns only (never `SELECT *`) and
passes `details` through `safe_details`: scalar values only, strings cut short, and keys
that could carry content (`body`, `transcript`, ...) dropped, whatever a writer put there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from agent.siem.outbox import Queued
from agent.store import Event, Store, TriageAction

EVENT = Event.__table__  # type: ignore[attr-defined]
TRIAGE = TriageAction.__table__  # type: ignore[attr-defined]

EVENT_COLUMNS = (
    "id",
    "time",
    "agent_id",
    "kind",
    "user",
    "pid",
    "process_name",
    "process_exe",
    "host",
    "path",
    "method",
    "service_id",
    "service_category",
    "verdict",
    "reason",
    "asset_id",
    "match_score",
    "match_kind",
    "match_offset_s",
    "payload_size",
    "sniffed_types",
    "catalog_version",
    "details",
    "triage_state",
    "escalated",
    "classification",
)
TRIAGE_COLUMNS = ("id", "event_id", "time", "analyst", "action", "state", "classification", "note", "escalate")

# `details` keys that could hold content rather than facts about it: never forwarded.
CONTENT_KEYS = frozenset(
    {"body", "content", "data", "payload", "text", "transcript", "transcription", "raw", "excerpt"}
)
MAX_DETAIL_CHARS = 200
MAX_NOTE_CHARS = 1000


@dataclass(frozen=True)
class TriageFacts:
    id: int
    time: datetime
    analyst: str
    action: str  # state | classify | note | escalate
    state: str | None
    classification: str | None
    note: str | None
    escalate: bool | None


@dataclass(frozen=True)
class SiemRecord:
    """One outbox row ready to format: the event, plus the triage action when it is one."""

    seq: int
    kind: str  # event | triage
    event: dict[str, Any]
    details: dict[str, str | int | float | bool] = field(default_factory=dict)
    triage: TriageFacts | None = None

    @property
    def uid(self) -> str:
        """The id receivers dedupe on: the event id, or `<event id>.t<triage id>`."""
        if self.triage is not None:
            return f"{self.event['id']}.t{self.triage.id}"
        return str(self.event["id"])

    @property
    def time(self) -> datetime:
        if self.triage is not None:
            return self.triage.time
        moment: datetime = self.event["time"]
        return moment

    @property
    def agent_id(self) -> str:
        return str(self.event.get("agent_id") or "")


def safe_details(raw: str | None) -> dict[str, str | int | float | bool]:
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    safe: dict[str, str | int | float | bool] = {}
    for key, value in parsed.items():
        if key.lower() in CONTENT_KEYS or value is None:
            continue
        if isinstance(value, bool | int | float):
            safe[key] = value
        elif isinstance(value, str):
            safe[key] = value[:MAX_DETAIL_CHARS]
    return safe


def load(store: Store, queued: Sequence[Queued]) -> list[SiemRecord]:
    """The records for `queued`, in the same order; rows whose source was deleted are skipped."""
    event_ids = {q.ref for q in queued if q.kind == "event"}
    triage_ids = {int(q.ref) for q in queued if q.kind == "triage" and q.ref.isdigit()}
    with store.engine.connect() as conn:
        triage_rows = {
            int(r.id): r
            for r in conn.execute(
                select(*(TRIAGE.c[name] for name in TRIAGE_COLUMNS)).where(TRIAGE.c.id.in_(triage_ids))
            )
        }
        event_ids |= {str(r.event_id) for r in triage_rows.values()}
        events = {
            str(r["id"]): dict(r)
            for r in conn.execute(
                select(*(EVENT.c[name] for name in EVENT_COLUMNS)).where(EVENT.c.id.in_(event_ids))
            ).mappings()
        }
    records: list[SiemRecord] = []
    for q in queued:
        if q.kind == "event" and q.ref in events:
            event = dict(events[q.ref])
            records.append(SiemRecord(q.seq, "event", event, safe_details(event.pop("details", None))))
        elif q.kind == "triage" and q.ref.isdigit() and int(q.ref) in triage_rows:
            row = triage_rows[int(q.ref)]
            if str(row.event_id) not in events:
                continue
            event = dict(events[str(row.event_id)])
            details = safe_details(event.pop("details", None))
            note = row.note[:MAX_NOTE_CHARS] if row.note else None
            facts = TriageFacts(
                int(row.id), row.time, row.analyst, row.action, row.state, row.classification, note, row.escalate
            )
            records.append(SiemRecord(q.seq, "triage", event, details, facts))
    return records
