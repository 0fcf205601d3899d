"""The fleet view: agents with their heartbeat, catalog version and health; overview figures.

Overview figures are aggregates over a time window read through the `(time)` and
`(verdict, time)` indexes, bucketed in SQL (dialect-specific bucket arithmetic), so a
million events become a few dozen numbers before they leave the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, case, cast, func, literal, select

from console.data.tables import AGENT, EVENT, SIGNATURE_INSTALL

HEARTBEAT_STALE = timedelta(minutes=2)
HEARTBEAT_OFFLINE = timedelta(hours=1)
_HEALTH_RANK = {"ok": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class AgentLine:
    id: str
    hostname: str
    os: str
    version: str
    first_seen: datetime
    last_heartbeat: datetime
    catalog_version: str | None
    components: tuple[ComponentHealth, ...]
    health_error: str | None

    @property
    def health(self) -> str:
        """Worst component status ("ok" | "degraded" | "down"), "unknown" when unreadable or empty."""
        if self.health_error or not self.components:
            return "unknown"
        return max((c.status for c in self.components), key=lambda s: _HEALTH_RANK.get(s, 1))

    def liveness(self, now: datetime) -> str:
        """ "live" | "stale" (missed a few heartbeats) | "offline" (none for an hour)."""
        age = now - self.last_heartbeat
        if age > HEARTBEAT_OFFLINE:
            return "offline"
        if age > HEARTBEAT_STALE:
            return "stale"
        return "live"


def parse_health(raw: str | None) -> tuple[tuple[ComponentHealth, ...], str | None]:
    """Components from the heartbeat's health JSON; a broken document is reported, not raised."""
    if not raw:
        return (), None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return (), "health is not valid JSON"
    if not isinstance(value, dict):
        return (), "health is not a JSON object"
    parts = []
    for name, item in sorted(value.items()):
        if isinstance(item, dict):
            parts.append(ComponentHealth(str(name), str(item.get("status", "unknown")), str(item.get("message", ""))))
        else:
            parts.append(ComponentHealth(str(name), str(item), ""))
    return tuple(parts), None


def fetch_agents(conn: Connection) -> list[AgentLine]:
    a = AGENT.c
    lines = []
    for r in conn.execute(select(AGENT).order_by(a.last_heartbeat.desc())).all():
        components, error = parse_health(r.health)
        lines.append(
            AgentLine(
                id=r.id,
                hostname=r.hostname,
                os=r.os,
                version=r.version,
                first_seen=r.first_seen,
                last_heartbeat=r.last_heartbeat,
                catalog_version=r.catalog_version,
                components=components,
                health_error=error,
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class InstallLine:
    agent_id: str
    version: str
    status: str
    reason: str
    installed_at: datetime
    expires_at: datetime | None


def fetch_installs(conn: Connection, agent_id: str, *, limit: int = 10) -> list[InstallLine]:
    s = SIGNATURE_INSTALL.c
    query = select(SIGNATURE_INSTALL).where(s.agent_id == agent_id).order_by(s.installed_at.desc()).limit(limit)
    return [
        InstallLine(
            agent_id=r.agent_id,
            version=r.version,
            status=r.status,
            reason=r.reason,
            installed_at=r.installed_at,
            expires_at=r.expires_at,
        )
        for r in conn.execute(query).all()
    ]


@dataclass(frozen=True)
class Overview:
    """What the fleet screen charts: per-bucket uploads and blocks, top services and users."""

    since: datetime
    until: datetime
    bucket: timedelta
    uploads: tuple[int, ...]
    blocks: tuple[int, ...]
    top_services: tuple[tuple[str, int], ...]
    top_users: tuple[tuple[str, int], ...]
    catalog_versions: tuple[tuple[str, int], ...]

    @property
    def total_uploads(self) -> int:
        return sum(self.uploads)

    @property
    def total_blocks(self) -> int:
        return sum(self.blocks)


def _bucket_expr(conn: Connection, since: datetime, width_s: float) -> Any:
    """Integer bucket number of `event.time` counted from `since`, in SQL."""
    e = EVENT.c
    if conn.dialect.name == "sqlite":
        seconds = (func.julianday(e.time) - func.julianday(literal(since, EVENT.c.time.type))) * 86400.0
    else:
        seconds = func.extract("epoch", e.time - literal(since, EVENT.c.time.type))
    return func.floor(cast(seconds, Float) / width_s)


def fetch_overview(conn: Connection, since: datetime, until: datetime, *, buckets: int = 48, top: int = 8) -> Overview:
    e = EVENT.c
    width = (until - since) / buckets
    width_s = max(width.total_seconds(), 1.0)
    bucket = _bucket_expr(conn, since, width_s).label("bucket")
    in_range = (e.time >= since, e.time < until)
    uploads = [0] * buckets
    blocks = [0] * buckets
    rows = conn.execute(
        select(
            bucket,
            func.sum(case((e.kind == "upload", 1), else_=0)).label("uploads"),
            func.sum(case((e.verdict == "block", 1), else_=0)).label("blocks"),
        )
        .where(*in_range)
        .group_by(bucket)
    ).all()
    for r in rows:
        index = int(r.bucket)
        if 0 <= index < buckets:
            uploads[index] += int(r.uploads or 0)
            blocks[index] += int(r.blocks or 0)
    incident = e.verdict.in_(("block", "audit"))
    service_label = func.coalesce(e.service_id, e.host, literal("(unknown)"))
    top_services = conn.execute(
        select(service_label.label("name"), func.count().label("n"))
        .where(*in_range, incident)
        .group_by(service_label)
        .order_by(func.count().desc(), service_label)
        .limit(top)
    ).all()
    user_label = func.coalesce(e.user, literal("(unknown)"))
    top_users = conn.execute(
        select(user_label.label("name"), func.count().label("n"))
        .where(*in_range, incident)
        .group_by(user_label)
        .order_by(func.count().desc(), user_label)
        .limit(top)
    ).all()
    version_label = func.coalesce(AGENT.c.catalog_version, literal("(none)"))
    versions = conn.execute(
        select(version_label.label("name"), func.count().label("n"))
        .group_by(version_label)
        .order_by(func.count().desc(), version_label)
    ).all()
    return Overview(
        since=since,
        until=until,
        bucket=width,
        uploads=tuple(uploads),
        blocks=tuple(blocks),
        top_services=tuple((r.name, int(r.n)) for r in top_services),
        top_users=tuple((r.name, int(r.n)) for r in top_users),
        catalog_versions=tuple((r.name, int(r.n)) for r in versions),
    )
