"""Scrub lineage travels with its derivative through a real PostgreSQL fleet store.

Lineage row numbers are local: each agent has a lineage 1. The derivative must reach the fleet
and the other agent still naming its own lineage (by uid), so the proxy there sees a derivative
of the right source, not whatever lineage happens to carry the same number.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from agent.store import FleetOutbox, MediaAsset, ScrubLineage, Store, asset_roles, open_store
from tests.integration.fleet.conftest import LocalAgent, add_asset, link

pytestmark = pytest.mark.postgres


def add_lineage(agent: LocalAgent, *, source: str, derivative: str) -> ScrubLineage:
    row = ScrubLineage(
        agent_id=agent.agent_id,
        source_sha256=source,
        source_asset_id=source,
        source_match="sha256",
        output_sha256=derivative,
        derivative_asset_id=derivative,
        kind="audio",
        size=1000,
        methods='{"voice": {"mode": "anonymise"}}',
    )
    with agent.store.session() as session:
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def set_lineage(store: Store, asset_id: str, lineage_id: int | None) -> None:
    with store.session() as session:
        session.execute(update(MediaAsset).where(col(MediaAsset.id) == asset_id).values(lineage_id=lineage_id))
        session.commit()


def test_a_derivative_reaches_the_other_agent_with_its_own_lineage(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    a, b = agents
    # B already has a lineage row 1 of its own, about something else entirely.
    unrelated = add_lineage(b, source="b" * 64, derivative="c" * 64)
    original = add_asset(a, seed="dictation")
    derivative = add_asset(a, seed="dictation, scrubbed")
    lineage = add_lineage(a, source=original.id, derivative=derivative.id)
    assert lineage.id == unrelated.id == 1, "both stores number their first lineage 1"
    set_lineage(a.store, derivative.id, lineage.id)

    assert link(a, pg_url).sync_once().pushed == 2
    fleet = open_store(pg_url)
    try:
        fleet_roles = asset_roles(fleet, [original.id, derivative.id])
        with fleet.session() as session:
            fleet_lineage = session.exec(select(ScrubLineage)).one()
    finally:
        fleet.dispose()
    assert fleet_lineage.uid == lineage.uid
    assert fleet_roles[derivative.id].source_asset_id == original.id
    assert not fleet_roles[original.id].derivative

    assert link(b, pg_url).sync_once().pulled == 2
    roles = asset_roles(b.store, [original.id, derivative.id])
    assert roles[derivative.id].derivative
    assert roles[derivative.id].source_asset_id == original.id, "not B's unrelated lineage 1"
    assert not roles[original.id].derivative
    with b.store.session() as session:
        by_uid = {row.uid: row for row in session.exec(select(ScrubLineage)).all()}
    assert set(by_uid) == {unrelated.uid, lineage.uid}
    assert roles[derivative.id].lineage_id == by_uid[lineage.uid].id != unrelated.id


def test_a_derivative_sent_before_its_lineage_gets_it_on_the_next_cycle(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    """`phiwall scrub` enrols the output, then records its lineage: a sync can fall in between."""
    a, _ = agents
    original = add_asset(a, seed="video")
    derivative = add_asset(a, seed="video, faces blurred")
    fleet_link = link(a, pg_url)
    assert fleet_link.sync_once().pushed == 2  # the derivative went out as if it were an original
    lineage = add_lineage(a, source=original.id, derivative=derivative.id)
    set_lineage(a.store, derivative.id, lineage.id)
    with a.store.session() as session:  # what record_output queues with the lineage
        session.add(FleetOutbox(kind="asset", ref=derivative.id))
        session.commit()
    fleet_link.sync_once()
    fleet = open_store(pg_url)
    try:
        role = asset_roles(fleet, [derivative.id])[derivative.id]
    finally:
        fleet.dispose()
    assert role.derivative
    assert role.source_asset_id == original.id


def test_a_derivative_whose_lineage_is_gone_travels_as_an_original(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    """No lineage to carry: the receiver must not borrow a lineage by number; an original is blocked."""
    a, b = agents
    add_lineage(b, source="d" * 64, derivative="e" * 64)
    derivative = add_asset(a, seed="orphan")
    set_lineage(a.store, derivative.id, 1)  # names a lineage row A does not have
    link(a, pg_url).sync_once()
    link(b, pg_url).sync_once()
    role = asset_roles(b.store, [derivative.id])[derivative.id]
    assert not role.derivative
    assert hashlib.sha256(b"recording orphan").hexdigest() == derivative.id
