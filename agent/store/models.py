"""The store's tables (SQLModel). Schema changes go through Alembic migrations only.

PHI rule: no table holds payload bytes, media or transcripts. Paths of enrolled clinical
files are kept because analysts need them; the console and block answers never send them
to the client side of an intercepted flow.

Identity: assets are keyed by the SHA-256 of their content, events by a UUID made where the
event happened, so rows keep their identity when forwarded to the fleet store.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from agent.store.types import UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def _ts(*, index: bool = False, nullable: bool = False) -> datetime:
    value: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=index, nullable=nullable)
    return value


class Agent(SQLModel, table=True):
    """One workstation agent (a row per agent in the fleet store; one row locally)."""

    __tablename__ = "agent"

    id: str = Field(primary_key=True, max_length=64)
    hostname: str = Field(max_length=255)
    os: str = Field(default="", max_length=64)
    version: str = Field(default="", max_length=32)
    first_seen: datetime = _ts()
    last_heartbeat: datetime = _ts(index=True)
    catalog_version: str | None = Field(default=None, max_length=64)
    health: str = Field(default="{}", description="JSON: component -> status/message")


class MediaAsset(SQLModel, table=True):
    """An enrolled clinical recording. `id` is the hex SHA-256 of the file's bytes."""

    __tablename__ = "media_asset"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=8, index=True, description="audio | video | image")
    mime: str = Field(default="", max_length=128)
    path: str = Field(description="where it was enrolled from (may name a patient: analysts only)")
    size: int = Field(ge=0)
    duration_s: float | None = None
    has_audio: bool = False
    has_video: bool = False
    origin_agent_id: str | None = Field(default=None, max_length=64, index=True)
    enrolled_at: datetime = _ts(index=True)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    lineage_id: int | None = Field(
        default=None,
        index=True,
        description="set on a derivative (a `phiwall scrub` output): its scrub_lineage row; NULL for originals",
    )


class MediaPrint(SQLModel, table=True):
    """One fingerprint of an asset as a compact binary array (format owned by agent.media)."""

    __tablename__ = "media_print"

    asset_id: str = Field(foreign_key="media_asset.id", primary_key=True, max_length=64, ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=32, description="chromaprint | landmarks | frames ...")
    version: int = Field(default=1)
    item_count: int = Field(default=0, ge=0)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ScrubLineage(SQLModel, table=True):
    """One `phiwall scrub` output: where it came from, what was done, by whom, when.

    Hashes, sizes and settings only: no media, no transcript, and never the McAdams coefficient
    drawn for the file (knowing it would help undo the voice shift). The output itself is
    enrolled as a derivative asset (`media_asset.lineage_id` names this row) so the proxy can
    recognise it and apply the policy's `deidentified` action.
    """

    __tablename__ = "scrub_lineage"

    id: int | None = Field(default=None, primary_key=True, description="this store's own number for the row")
    uid: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        max_length=32,
        unique=True,
        index=True,
        description="identity across stores: the fleet and other agents key the row by it",
    )
    time: datetime = _ts(index=True)
    agent_id: str = Field(default="", max_length=64, index=True)
    user: str = Field(default="", max_length=128, description="OS user who ran the scrub")
    source_sha256: str = Field(max_length=64, description="SHA-256 of the input file")
    source_asset_id: str | None = Field(
        default=None, max_length=64, index=True, description="enrolled asset the input is (NULL: not enrolled)"
    )
    source_match: str | None = Field(default=None, max_length=16, description="sha256 | fingerprint | NULL")
    source_score: float | None = None
    output_sha256: str = Field(max_length=64, index=True, description="SHA-256 of the output = its asset id")
    output_path: str = Field(default="", description="where the output was written (analysts only)")
    derivative_asset_id: str | None = Field(
        default=None, max_length=64, index=True, description="the enrolled output (NULL: nothing to fingerprint)"
    )
    kind: str = Field(max_length=8, description="audio | video | image")
    size: int = Field(ge=0)
    duration_s: float | None = None
    scrub_s: float = Field(default=0.0, description="wall-clock seconds the scrub took")
    methods: str = Field(default="{}", description="JSON: voice/faces/people/metadata and their settings")
    tool_version: str = Field(default="", max_length=32)


class WatchedFile(SQLModel, table=True):
    """What the folder watcher last saw of a file, so unchanged files are not re-read."""

    __tablename__ = "watched_file"

    path: str = Field(primary_key=True)
    size: int = Field(ge=0)
    mtime_ns: int
    asset_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default="enrolled", max_length=16, description="enrolled | skipped | error | deleted")
    error: str | None = None
    seen_at: datetime = _ts()


class Event(SQLModel, table=True):
    """One decision worth keeping (docs/configuration.md "What the store holds"). Never payload bytes or transcripts."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_time_verdict", "time", "verdict"),
        Index("ix_event_service_time", "service_id", "time"),
        Index("ix_event_user_time", "user", "time"),
        Index("ix_event_state_time", "triage_state", "time"),
        # Console: "blocks in the last 24 h" and block/audit charts read a verdict's time range directly.
        Index("ix_event_verdict_time", "verdict", "time"),
        # Console "is:escalated": a partial index holds only the (few) escalated events.
        Index(
            "ix_event_escalated_time",
            "time",
            sqlite_where=text("escalated = 1"),
            postgresql_where=text("escalated = true"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    time: datetime = _ts(index=True)
    agent_id: str = Field(default="", max_length=64, index=True)
    kind: str = Field(
        default="upload",
        max_length=32,
        index=True,
        description="upload | discovery | bypass | pinned | signature | watcher | health",
    )
    user: str | None = Field(default=None, max_length=128)
    pid: int | None = None
    process_name: str | None = Field(default=None, max_length=255)
    process_exe: str | None = None
    host: str | None = Field(default=None, max_length=255, index=True)
    path: str | None = Field(default=None, description="request path without query string")
    method: str | None = Field(default=None, max_length=16)
    service_id: str | None = Field(default=None, max_length=64)
    service_category: str | None = Field(default=None, max_length=32)
    verdict: str = Field(max_length=16, description="allow | audit | block | info")
    reason: str = Field(default="")
    asset_id: str | None = Field(default=None, max_length=64, index=True)
    match_score: float | None = None
    match_kind: str | None = Field(default=None, max_length=8)
    match_offset_s: float | None = None
    payload_size: int | None = None
    sniffed_types: str | None = Field(default=None, description="comma-separated MIME types of parts")
    catalog_version: str | None = Field(default=None, max_length=64)
    details: str = Field(default="{}", description="JSON of non-PHI facts (hashes, sizes, counts)")
    triage_state: str = Field(default="new", max_length=16, description="cache of the latest triage action")
    # Caches of the triage trail (the `triage_action` rows are the record), updated in the same
    # transaction as each action so the console can filter and export without joining history.
    escalated: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    classification: str | None = Field(
        default=None, max_length=32, description="close classification: true_positive | benign | false_positive"
    )


class TriageAction(SQLModel, table=True):
    """An analyst's action on an event: append-only, the audit trail."""

    __tablename__ = "triage_action"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="event.id", max_length=32, index=True, ondelete="CASCADE")
    time: datetime = _ts(index=True)
    analyst: str = Field(max_length=128)
    action: str = Field(max_length=16, description="state | classify | note | escalate")
    state: str | None = Field(default=None, max_length=16)
    classification: str | None = Field(default=None, max_length=32)
    note: str | None = None
    escalate: bool | None = None


class SignatureInstall(SQLModel, table=True):
    """Every signature bundle the agent tried to install, accepted or rejected."""

    __tablename__ = "signature_install"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(default="", max_length=64, index=True)
    version: str = Field(max_length=64)
    status: str = Field(max_length=16, description="active | superseded | rejected")
    sha256: str | None = Field(default=None, max_length=64)
    source: str = Field(default="")
    reason: str = Field(default="")
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    installed_at: datetime = _ts(index=True)


class AIServiceSeen(SQLModel, table=True):
    """Shadow-AI inventory: one row per (agent, host), however busy the host is."""

    __tablename__ = "ai_service_seen"
    __table_args__ = (UniqueConstraint("agent_id", "host", name="uq_ai_service_seen_agent_host"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(default="", max_length=64)
    host: str = Field(max_length=255, index=True)
    service_id: str | None = Field(default=None, max_length=64, index=True)
    category: str | None = Field(default=None, max_length=32)
    status: str = Field(default="unknown", max_length=16, description="approved | unapproved | unknown")
    confidence: float | None = None
    first_seen: datetime = _ts()
    last_seen: datetime = _ts(index=True)
    request_count: int = 0
    block_count: int = 0
    users: str = Field(default="[]", description="JSON list of user names seen")
    processes: str = Field(default="[]", description="JSON list of process names seen")


class LocalAIApp(SQLModel, table=True):
    """Inventory of local AI apps and model servers found running on the workstation."""

    __tablename__ = "local_ai_app"
    __table_args__ = (UniqueConstraint("agent_id", "signature_id", "exe", name="uq_local_ai_app"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(default="", max_length=64, index=True)
    signature_id: str = Field(max_length=64)
    name: str = Field(max_length=255)
    exe: str = Field(default="")
    user: str | None = Field(default=None, max_length=128)
    ports: str = Field(default="[]", description="JSON list of listening ports")
    first_seen: datetime = _ts()
    last_seen: datetime = _ts(index=True)


class FleetOutbox(SQLModel, table=True):
    """Local rows waiting to be forwarded to the fleet store (the transactional outbox).

    On SQLite, triggers made by the `0002` migration add a row here in the same transaction
    as every new `event` and `media_asset`, whichever process wrote it (proxy child, watcher,
    CLI), so nothing can be written without being queued. The fleet forwarder deletes rows
    once the fleet store has committed them; the fleet side dedupes by the rows' own ids.
    """

    __tablename__ = "fleet_outbox"

    seq: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="event | asset")
    ref: str = Field(max_length=64, description="event.id or media_asset.id")
    queued_at: datetime = _ts()


class FleetAsset(SQLModel, table=True):
    """The order in which assets reached the fleet store: the watermark fingerprint sync reads.

    `seq` is allocated by the fleet database under an advisory lock, so it grows in commit
    order and never depends on any machine's clock. In an agent's local store the same table
    lists the fleet assets pulled into the local index, with their fleet `seq`.
    """

    __tablename__ = "fleet_asset"

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    asset_id: str = Field(foreign_key="media_asset.id", unique=True, max_length=64, ondelete="CASCADE")
    origin_agent_id: str = Field(default="", max_length=64)
    added_at: datetime = _ts()


class FleetSyncState(SQLModel, table=True):
    """An agent's sync position per fleet store (watermark = last fleet_asset.seq pulled)."""

    __tablename__ = "fleet_sync_state"

    name: str = Field(primary_key=True, max_length=128)
    value: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = _ts()


class SiemOutbox(SQLModel, table=True):
    """Records waiting for the SIEM destinations: events and analysts' triage actions.

    On SQLite, triggers made by the `0004` migration add a row here in the same transaction
    as every new `event` and `triage_action`, whoever wrote it (proxy, watcher, the console's
    triage), but only while at least one SIEM destination is registered in `siem_cursor`.
    `seq` is AUTOINCREMENT: never reused, so a destination's cursor can never skip a row.
    """

    __tablename__ = "siem_outbox"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="event | triage")
    ref: str = Field(max_length=64, description="event.id, or triage_action.id as text")
    queued_at: datetime = _ts()


class SiemCursor(SQLModel, table=True):
    """How far each configured SIEM destination has delivered the outbox (last `siem_outbox.seq`).

    `replay_seq` trails `seq` by the last delivered batch: syslog has no acknowledgement, so
    after a failed delivery that batch is sent again (see agent/siem/component.py), and the
    outbox keeps its rows until every destination's `replay_seq` has passed them.
    """

    __tablename__ = "siem_cursor"

    destination: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default=0, sa_type=BigInteger)
    replay_seq: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = _ts()
