"""Fleet forwarding and fingerprint sync against a real PostgreSQL, one cycle at a time."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from agent.fleet.forward import outbox_depth
from agent.fleet.sync import read_watermark, watermark_name
from agent.store import Agent, Event, FleetAsset, MediaAsset, MediaPrint, open_store, utcnow
from tests.integration.fleet.conftest import LocalAgent, add_asset, add_events, link

pytestmark = pytest.mark.postgres


def prints_of(agent: LocalAgent, asset_id: str) -> dict[str, bytes]:
    with agent.store.session() as session:
        rows = session.exec(select(MediaPrint).where(MediaPrint.asset_id == asset_id)).all()
    return {row.kind: row.data for row in rows}


def test_asset_enrolled_on_a_reaches_b_with_its_prints(agents: tuple[LocalAgent, LocalAgent], pg_url: str) -> None:
    a, b = agents
    asset = add_asset(a, seed="one")
    link_a, link_b = link(a, pg_url), link(b, pg_url)
    assert link_a.sync_once().pushed == 1
    report = link_b.sync_once()
    assert report.pulled == 1
    assert prints_of(b, asset.id) == prints_of(a, asset.id)
    with b.store.session() as session:
        pulled = session.get(MediaAsset, asset.id)
        assert pulled is not None
        assert (pulled.origin_agent_id, pulled.path) == ("ws-a", asset.path)
    # What B pulled is not queued to be sent back, and a second cycle changes nothing.
    assert outbox_depth(b.store) == 0
    assert link_b.sync_once().pulled == 0
    assert link_a.sync_once().pulled == 0  # A's own asset is not pulled back
    fleet = open_store(pg_url)
    with fleet.session() as session:
        assert len(session.exec(select(FleetAsset)).all()) == 1
        assert len(session.exec(select(MediaPrint)).all()) == 2
    fleet.dispose()


def test_events_are_forwarded_once_even_when_resent(agents: tuple[LocalAgent, LocalAgent], pg_url: str) -> None:
    a, _ = agents
    ids = add_events(a, 1203, label="a")
    fleet_link = link(a, pg_url, batch=500)
    assert fleet_link.sync_once().forwarded == 1203
    assert outbox_depth(a.store) == 0
    # A crash after the fleet committed but before the outbox was trimmed re-sends rows.
    with a.store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO fleet_outbox (kind, ref, queued_at) SELECT 'event', id, '2026-01-01 00:00:00' FROM event")
        )
    assert fleet_link.sync_once().forwarded == 1203
    fleet = open_store(pg_url)
    with fleet.session() as session:
        forwarded = session.exec(select(Event.id).where(Event.agent_id == "ws-a")).all()
        heartbeat = session.get(Agent, "ws-a")
    fleet.dispose()
    assert sorted(forwarded) == sorted(ids)
    assert heartbeat is not None
    assert json.loads(heartbeat.health)["fleet"]["forwarded"] == "2406"


def test_first_sync_takes_the_newest_assets_within_the_bound(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    a, b = agents
    assets = [add_asset(a, seed=f"bounded {i}") for i in range(7)]
    link(a, pg_url).sync_once()
    report = link(b, pg_url, max_assets=3).sync_once()
    assert report.pulled == 3
    with b.store.session() as session:
        held = set(session.exec(select(MediaAsset.id)).all())
    assert held == {asset.id for asset in assets[-3:]}
    # Two more arrive: the bound holds by evicting the oldest pulled ones, prints included.
    newer = [add_asset(a, seed=f"newer {i}") for i in range(2)]
    link(a, pg_url).sync_once()
    report = link(b, pg_url, max_assets=3).sync_once()
    assert (report.pulled, report.evicted) == (2, 2)
    with b.store.session() as session:
        held = set(session.exec(select(MediaAsset.id)).all())
        orphan_prints = session.exec(select(MediaPrint).where(col(MediaPrint.asset_id).not_in(held))).all()
    assert held == {assets[-1].id, *(asset.id for asset in newer)}
    assert orphan_prints == []


def test_sync_follows_the_fleet_sequence_not_clocks(agents: tuple[LocalAgent, LocalAgent], pg_url: str) -> None:
    a, b = agents
    add_asset(a, seed="before")
    link(a, pg_url).sync_once()
    link_b = link(b, pg_url)
    link_b.sync_once()
    fleet = open_store(pg_url)
    watermark = read_watermark(b.store, watermark_name(fleet))
    fleet.dispose()
    # A's clock jumped a day back: the asset's timestamp is older than anything B has seen.
    late = add_asset(a, seed="after the jump", enrolled_at=utcnow() - timedelta(days=1))
    link(a, pg_url).sync_once()
    assert link_b.sync_once().pulled == 1
    assert prints_of(b, late.id)
    fleet = open_store(pg_url)
    assert read_watermark(b.store, watermark_name(fleet)) > watermark
    fleet.dispose()


def test_age_bound_skips_old_assets_but_moves_the_watermark(agents: tuple[LocalAgent, LocalAgent], pg_url: str) -> None:
    a, b = agents
    add_asset(a, seed="ancient", enrolled_at=utcnow() - timedelta(days=400))
    recent = add_asset(a, seed="recent")
    link(a, pg_url).sync_once()
    report = link(b, pg_url, max_age_days=30).sync_once()
    assert (report.pulled, report.seen) == (1, 2)
    with b.store.session() as session:
        assert set(session.exec(select(MediaAsset.id)).all()) == {recent.id}
