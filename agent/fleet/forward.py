"""Forwarding the local outbox to the fleet store: events, and enrolled assets with their prints.

Order of commits is what makes this exactly-once: the fleet transaction commits first, the
local outbox rows are deleted after. A crash or outage in between re-sends the same rows,
which the fleet ignores by primary key (`event.id` is a UUID made where the event happened,
`media_asset.id` the SHA-256 of the file). Nothing is deleted locally before the fleet has it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, text
from sqlmodel import col, select

from agent.fleet.lineage import carry_lineage, link_late_lineage, read_lineage
from agent.fleet.rows import columns_of, insert_ignoring
from agent.store import Event, FleetAsset, FleetOutbox, MediaAsset, MediaPrint, Store, utcnow

log = logging.getLogger(__name__)

# Serialises fleet_asset inserts so their sequence numbers become visible in commit order:
# without it a reader could see seq 12 before seq 11 commits and skip 11 forever.
FLEET_ASSET_LOCK = 0x5048_4941  # "PHIA"

# An asset whose prints are not in the store yet is waiting for its enrolment to finish;
# after this long without prints it is dropped from the outbox (there is nothing to share).
PRINTLESS_GRACE = timedelta(minutes=10)


def _outbox(local: Store, kind: str, batch: int, after: int = 0) -> list[FleetOutbox]:
    with local.session() as session:
        query = (
            select(FleetOutbox)
            .where(FleetOutbox.kind == kind, col(FleetOutbox.seq) > after)
            .order_by(col(FleetOutbox.seq))
            .limit(batch)
        )
        return list(session.exec(query).all())


def _done(local: Store, seqs: list[int]) -> None:
    if seqs:
        with local.session() as session:
            session.exec(delete(FleetOutbox).where(col(FleetOutbox.seq).in_(seqs)))
            session.commit()


def outbox_depth(local: Store) -> int:
    with local.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM fleet_outbox")).scalar_one())


def forward_events(local: Store, fleet: Store, *, batch: int = 500) -> int:
    """Forward one batch of queued events; returns how many outbox rows were settled."""
    queued = _outbox(local, "event", batch)
    if not queued:
        return 0
    table = Event.__table__  # type: ignore[attr-defined]
    with local.engine.connect() as conn:  # plain rows: no ORM objects on the hot path
        ids = [row.ref for row in queued]
        rows = [dict(r) for r in conn.execute(table.select().where(table.c.id.in_(ids))).mappings()]
    with fleet.engine.begin() as conn:
        insert_ignoring(conn, Event.__table__, rows, ["id"])  # type: ignore[attr-defined]
    # Rows whose event was deleted locally (retention) have nothing to send: settle them too.
    _done(local, [row.seq for row in queued if row.seq is not None])
    return len(queued)


def push_assets(local: Store, fleet: Store, *, agent_id: str, batch: int = 200) -> int:
    """Share locally enrolled assets and their prints with the fleet; returns assets settled."""
    settled = 0
    after = 0
    while True:
        queued = _outbox(local, "asset", batch, after)
        if not queued:
            return settled
        after = max(row.seq or 0 for row in queued)
        ids = [row.ref for row in queued]
        with local.session() as session:
            assets = {a.id: a for a in session.exec(select(MediaAsset).where(col(MediaAsset.id).in_(ids))).all()}
            prints = session.exec(select(MediaPrint).where(col(MediaPrint.asset_id).in_(ids))).all()
        prints_by_asset: dict[str, list[MediaPrint]] = {}
        for media_print in prints:
            prints_by_asset.setdefault(media_print.asset_id, []).append(media_print)
        ready: list[MediaAsset] = []
        finished: list[int] = []
        now = utcnow()
        for row in queued:
            asset = assets.get(row.ref)
            if asset is None:  # forgotten before it was shared
                finished.append(row.seq or 0)
            elif row.ref in prints_by_asset:
                ready.append(asset)
                finished.append(row.seq or 0)
            elif now - row.queued_at > PRINTLESS_GRACE:
                log.warning("asset %s has no prints after %s: not shared", row.ref[:12], PRINTLESS_GRACE)
                finished.append(row.seq or 0)
        if ready:
            _push(local, fleet, ready, prints_by_asset, agent_id)
        _done(local, finished)
        settled += len(ready)


def _push(
    local: Store, fleet: Store, assets: list[MediaAsset], prints: dict[str, list[MediaPrint]], agent_id: str
) -> None:
    asset_rows = []
    for asset in assets:
        row = columns_of(asset)
        row["origin_agent_id"] = asset.origin_agent_id or agent_id
        asset_rows.append(row)
    print_rows = [columns_of(p) for asset in assets for p in prints[asset.id]]
    sequence_rows = [
        {"asset_id": row["id"], "origin_agent_id": row["origin_agent_id"], "added_at": utcnow()} for row in asset_rows
    ]
    with local.engine.connect() as conn:
        lineage = read_lineage(conn, [row["lineage_id"] for row in asset_rows])
    with fleet.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FLEET_ASSET_LOCK})
        carry_lineage(conn, asset_rows, lineage)
        insert_ignoring(conn, MediaAsset.__table__, asset_rows, ["id"])  # type: ignore[attr-defined]
        link_late_lineage(conn, asset_rows)
        insert_ignoring(conn, MediaPrint.__table__, print_rows, ["asset_id", "kind"])  # type: ignore[attr-defined]
        insert_ignoring(conn, FleetAsset.__table__, sequence_rows, ["asset_id"])  # type: ignore[attr-defined]
