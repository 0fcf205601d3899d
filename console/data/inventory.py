"""The shadow-AI inventory: AI services and unknown AI hosts seen, and local AI apps.

`ai_service_seen` holds one row per (agent, host); the console folds a fleet's rows into one
line per host (first/last seen, requests, blocks, agents, users, processes). Its size is
bounded by agents x hosts, not by traffic, so it is read whole and folded in Python, which
keeps the JSON user/process lists portable across SQLite and PostgreSQL.

Hosts of catalog services that the inventory does not list (the proxy may only record them
as events) are added from the event table over a bounded time window, so every AI service
seen shows up here, approved or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, RowMapping, case, func, select

from console.data.tables import EVENT, LOCAL_APP, SERVICE_SEEN

MAX_INVENTORY_ROWS = 200_000
# Worst status wins when agents disagree (e.g. a tenant approved on some workstations only).
_STATUS_RANK = {"unapproved": 3, "unknown": 2, "approved": 1}


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One AI host across the fleet."""

    host: str
    service_id: str | None
    category: str | None
    status: str
    confidence: float | None
    first_seen: datetime | None
    last_seen: datetime | None
    requests: int
    blocks: int
    agents: int
    users: tuple[str, ...]
    processes: tuple[str, ...]
    events: int = 0
    source: str = "inventory"  # "inventory" | "events"


@dataclass(frozen=True, slots=True)
class LocalAppLine:
    agent_id: str
    signature_id: str
    name: str
    exe: str
    user: str | None
    ports: tuple[int, ...]
    first_seen: datetime
    last_seen: datetime


def _json_list(raw: str | None) -> list[str]:
    """A JSON list of names from the inventory; anything unreadable counts as empty."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return []
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if v is not None]


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


@dataclass
class _Fold:
    """Running totals for one host while folding the per-agent rows."""

    service_id: str | None = None
    category: str | None = None
    status: str = "approved"
    confidence: float | None = None
    first: datetime | None = None
    last: datetime | None = None
    requests: int = 0
    blocks: int = 0
    agents: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)

    def add(self, r: RowMapping) -> None:
        self.service_id = self.service_id or r["service_id"]
        self.category = self.category or r["category"]
        status = r["status"] or "unknown"
        if _STATUS_RANK.get(status, 2) > _STATUS_RANK.get(self.status, 2):
            self.status = status
        if r["confidence"] is not None:
            self.confidence = r["confidence"] if self.confidence is None else max(self.confidence, r["confidence"])
        self.first = _min(self.first, r["first_seen"])
        self.last = _max(self.last, r["last_seen"])
        self.requests += int(r["request_count"] or 0)
        self.blocks += int(r["block_count"] or 0)
        self.agents.add(r["agent_id"])
        self.users.update(_json_list(r["users"]))
        self.processes.update(_json_list(r["processes"]))

    def line(self, host: str) -> ServiceLine:
        return ServiceLine(
            host=host,
            service_id=self.service_id,
            category=self.category,
            status=self.status,
            confidence=self.confidence,
            first_seen=self.first,
            last_seen=self.last,
            requests=self.requests,
            blocks=self.blocks,
            agents=len(self.agents),
            users=tuple(sorted(self.users)),
            processes=tuple(sorted(self.processes)),
        )


def fold_inventory(rows: Iterable[Row[Any]]) -> list[ServiceLine]:
    """One line per host from the per-(agent, host) rows."""
    acc: dict[str, _Fold] = {}
    for row in rows:
        acc.setdefault(row._mapping["host"], _Fold()).add(row._mapping)
    return [fold.line(host) for host, fold in acc.items()]


def fetch_inventory(conn: Connection) -> list[ServiceLine]:
    s = SERVICE_SEEN.c
    rows = conn.execute(select(SERVICE_SEEN).order_by(s.last_seen.desc()).limit(MAX_INVENTORY_ROWS)).all()
    return fold_inventory(rows)


@dataclass(frozen=True, slots=True)
class EventServiceStats:
    host: str
    service_id: str | None
    category: str | None
    events: int
    blocks: int
    first_seen: datetime | None
    last_seen: datetime | None


def fetch_event_stats(conn: Connection, since: datetime | None) -> list[EventServiceStats]:
    """Per-host counts of events to catalog services (uses the time index when bounded)."""
    e = EVENT.c
    query = (
        select(
            e.host,
            func.max(e.service_id).label("service_id"),
            func.max(e.service_category).label("category"),
            func.count().label("events"),
            func.sum(case((e.verdict == "block", 1), else_=0)).label("blocks"),
            func.min(e.time).label("first_seen"),
            func.max(e.time).label("last_seen"),
        )
        .where(e.host.is_not(None), e.service_id.is_not(None))
        .group_by(e.host)
    )
    if since is not None:
        query = query.where(e.time >= since)
    return [
        EventServiceStats(
            host=r.host,
            service_id=r.service_id,
            category=r.category,
            events=int(r.events or 0),
            blocks=int(r.blocks or 0),
            first_seen=r.first_seen,
            last_seen=r.last_seen,
        )
        for r in conn.execute(query).all()
    ]


def merge(inventory: list[ServiceLine], stats: list[EventServiceStats]) -> list[ServiceLine]:
    """The inventory plus event counts; hosts only events know about are added as such."""
    by_host = {line.host: line for line in inventory}
    merged: list[ServiceLine] = []
    seen: set[str] = set()
    for stat in stats:
        seen.add(stat.host)
        line = by_host.get(stat.host)
        if line is None:
            merged.append(
                ServiceLine(
                    host=stat.host,
                    service_id=stat.service_id,
                    category=stat.category,
                    status="catalog",
                    confidence=None,
                    first_seen=stat.first_seen,
                    last_seen=stat.last_seen,
                    requests=stat.events,
                    blocks=stat.blocks,
                    agents=0,
                    users=(),
                    processes=(),
                    events=stat.events,
                    source="events",
                )
            )
        else:
            merged.append(
                replace(
                    line,
                    events=stat.events,
                    first_seen=_min(line.first_seen, stat.first_seen),
                    last_seen=_max(line.last_seen, stat.last_seen),
                )
            )
    merged.extend(line for line in inventory if line.host not in seen)
    return sorted(merged, key=lambda line: (line.last_seen is None, -(line.last_seen or _EPOCH).timestamp()))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fetch_local_apps(conn: Connection) -> list[LocalAppLine]:
    a = LOCAL_APP.c
    rows = conn.execute(select(LOCAL_APP).order_by(a.last_seen.desc()).limit(MAX_INVENTORY_ROWS)).all()
    lines = []
    for r in rows:
        ports: list[int] = []
        for p in _json_list(r.ports):
            try:
                ports.append(int(p))
            except ValueError:
                continue
        lines.append(
            LocalAppLine(
                agent_id=r.agent_id,
                signature_id=r.signature_id,
                name=r.name,
                exe=r.exe,
                user=r.user,
                ports=tuple(ports),
                first_seen=r.first_seen,
                last_seen=r.last_seen,
            )
        )
    return lines
