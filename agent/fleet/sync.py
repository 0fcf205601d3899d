"""Pulling fingerprints enrolled anywhere in the fleet into this agent's local index.

Incremental by watermark: the fleet numbers assets in commit order (`fleet_asset.seq`), the
agent remembers the last number it pulled. Wall-clock time plays no part, so a clock that
jumps cannot make an agent skip or re-read assets.

The local index is bounded (`[fleet] max_assets`, `max_age_days`): a first sync against a
large fleet starts from the newest assets, and when the bound is exceeded the oldest pulled
assets are evicted (assets enrolled on this machine are never evicted). Beyond what one
workstation should hold, the plan is a sharded remote index; see docs/operations.md.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select

from agent.fleet.lineage import carry_lineage, read_lineage
from agent.fleet.rows import columns_of, insert_ignoring, upsert
from agent.store import FleetAsset, FleetOutbox, FleetSyncState, MediaAsset, MediaPrint, Store, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    pulled: int  # assets added to the local store
    seen: int  # fleet assets read (including this agent's own and those out of the age bound)
    watermark: int
    evicted: int


def watermark_name(fleet: Store) -> str:
    """Sync state is kept per fleet database, so pointing an agent elsewhere starts afresh."""
    digest = hashlib.sha256(fleet.engine.url.render_as_string(hide_password=True).encode()).hexdigest()
    return f"assets:{digest[:16]}"


def read_watermark(local: Store, name: str) -> int:
    with local.session() as session:
        state = session.get(FleetSyncState, name)
        return state.value if state else 0


def _start_after(fleet: Store, watermark: int, max_assets: int) -> int:
    """Skip to the newest `max_assets` when the backlog is larger than the bound."""
    with fleet.session() as session:
        query = (
            select(FleetAsset.seq)
            .where(col(FleetAsset.seq) > watermark)
            .order_by(col(FleetAsset.seq).desc())
            .offset(max_assets)
            .limit(1)
        )
        floor = session.exec(query).first()
    return max(watermark, floor or 0)


def pull_assets(
    local: Store,
    fleet: Store,
    *,
    agent_id: str,
    max_assets: int = 50_000,
    max_age_days: int = 0,
    batch: int = 500,
    forget: Callable[[str], None] | None = None,
) -> PullResult:
    """Pull every fleet asset newer than the watermark (within the bound); evict beyond it."""
    name = watermark_name(fleet)
    watermark = _start_after(fleet, read_watermark(local, name), max_assets)
    cutoff = utcnow() - timedelta(days=max_age_days) if max_age_days else None
    pulled = seen = 0
    while True:
        with fleet.session() as session:
            query = (
                select(FleetAsset, MediaAsset)
                .join(MediaAsset, col(MediaAsset.id) == col(FleetAsset.asset_id))
                .where(col(FleetAsset.seq) > watermark)
                .order_by(col(FleetAsset.seq))
                .limit(batch)
            )
            page = list(session.exec(query).all())
            wanted = [
                asset.id
                for _, asset in page
                if asset.origin_agent_id != agent_id and (cutoff is None or asset.enrolled_at >= cutoff)
            ]
            wanted_set = set(wanted)
            prints = session.exec(select(MediaPrint).where(col(MediaPrint.asset_id).in_(wanted))).all()
            lineage = read_lineage(session.connection(), [a.lineage_id for _, a in page if a.id in wanted_set])
        if not page:
            break
        seen += len(page)
        watermark = max(entry.seq or 0 for entry, _ in page)
        _store_page(
            local,
            name,
            watermark,
            assets=[columns_of(asset) for _, asset in page if asset.id in wanted_set],
            prints=[columns_of(p) for p in prints],
            sequence=[columns_of(entry) for entry, _ in page if entry.asset_id in wanted_set],
            lineage=lineage,
        )
        pulled += len(wanted)
        if len(page) < batch:
            break
    evicted = evict_beyond(local, max_assets, forget)
    return PullResult(pulled=pulled, seen=seen, watermark=watermark, evicted=evicted)


def _store_page(
    local: Store,
    name: str,
    watermark: int,
    *,
    assets: list[dict[str, Any]],
    prints: list[dict[str, object]],
    sequence: list[dict[str, object]],
    lineage: dict[int, dict[str, Any]],
) -> None:
    """One local transaction per page: the rows and the new watermark land together or not at all."""
    ids = [str(row["id"]) for row in assets]
    with local.engine.begin() as conn:
        carry_lineage(conn, assets, lineage)
        insert_ignoring(conn, MediaAsset.__table__, assets, ["id"])  # type: ignore[attr-defined]
        insert_ignoring(conn, MediaPrint.__table__, prints, ["asset_id", "kind"])  # type: ignore[attr-defined]
        insert_ignoring(conn, FleetAsset.__table__, sequence, ["asset_id"])  # type: ignore[attr-defined]
        if ids:  # the outbox trigger queued them: they came from the fleet, do not send them back
            conn.execute(delete(FleetOutbox).where(col(FleetOutbox.kind) == "asset", col(FleetOutbox.ref).in_(ids)))
        state = {"name": name, "value": watermark, "updated_at": utcnow()}

        upsert(conn, FleetSyncState.__table__, state, ["name"])  # type: ignore[attr-defined]


def evict_beyond(local: Store, max_assets: int, forget: Callable[[str], None] | None = None) -> int:
    """Drop the oldest pulled assets above the bound (their prints go with them)."""
    with local.session() as session:
        total = session.exec(select(func.count()).select_from(FleetAsset)).one()
        if total <= max_assets:
            return 0
        oldest = session.exec(select(FleetAsset.asset_id).order_by(col(FleetAsset.seq)).limit(total - max_assets)).all()
    for asset_id in oldest:
        if forget is not None:
            forget(asset_id)
    with local.session() as session:
        session.exec(delete(MediaPrint).where(col(MediaPrint.asset_id).in_(oldest)))
        session.exec(delete(FleetAsset).where(col(FleetAsset.asset_id).in_(oldest)))
        session.exec(delete(MediaAsset).where(col(MediaAsset.id).in_(oldest)))
        session.commit()
    log.info("fleet index bound %d: evicted %d oldest pulled assets", max_assets, len(oldest))
    return len(oldest)
