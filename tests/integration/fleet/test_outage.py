"""Two agents forward to PostgreSQL while it is stopped and started again mid-run.

Events keep being recorded locally during the outage; afterwards every event of both agents
is in the fleet store exactly once, and both agents' heartbeats are there for the console.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func
from sqlmodel import select

from agent.fleet.forward import outbox_depth
from agent.store import Agent, Event, MediaAsset, open_store, utcnow
from tests.integration.fleet.conftest import LocalAgent, add_asset, add_events, link
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SIZE = (140, 40)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_events_from_two_agents_survive_a_fleet_restart(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str, postgres_server: PostgresServer
) -> None:
    a, b = agents
    links = [link(agent, pg_url, sync_seconds=0.2, batch=50) for agent in (a, b)]
    expected: set[str] = set()
    stop_writing = threading.Event()

    def keep_writing(agent: LocalAgent) -> None:
        round_ = 0
        while not stop_writing.is_set():
            expected.update(add_events(agent, 7, label=f"round {round_}"))
            round_ += 1
            time.sleep(0.03)

    for fleet_link in links:
        fleet_link.start()
    writers = [threading.Thread(target=keep_writing, args=(agent,)) for agent in (a, b)]
    try:
        for writer in writers:
            writer.start()
        wait_for(lambda: all(fl.forwarded > 0 for fl in links), 20, "first forwards")
        postgres_server.stop()
        try:
            wait_for(lambda: all(fl.health().status == "degraded" for fl in links), 30, "links to notice the outage")
            queued_during_outage = [outbox_depth(agent.store) for agent in (a, b)]
            assert all("queued locally" in fl.health().message for fl in links)
            # Enforcement data keeps being written: an enrolment during the outage is queued too.
            add_asset(a, seed="enrolled while the fleet was down")
            time.sleep(1.0)
            assert [outbox_depth(agent.store) for agent in (a, b)] > queued_during_outage
        finally:
            postgres_server.start()
        stop_writing.set()
        for writer in writers:
            writer.join()
        wait_for(lambda: all(outbox_depth(agent.store) == 0 for agent in (a, b)), 60, "outboxes to drain")
        wait_for(lambda: all(fl.health().status == "ok" for fl in links), 10, "links healthy again")
    finally:
        stop_writing.set()
        for fleet_link in links:
            fleet_link.stop()

    fleet = open_store(pg_url)
    try:
        with fleet.session() as session:
            forwarded = session.exec(select(Event.id)).all()
            per_agent = dict(session.exec(select(Event.agent_id, func.count()).group_by(Event.agent_id)).all())
            heartbeats = {row.id for row in session.exec(select(Agent)).all()}
            shared = session.exec(select(MediaAsset.path)).all()
    finally:
        fleet.dispose()
    assert len(forwarded) == len(set(forwarded)) == len(expected)
    assert set(forwarded) == expected
    assert set(per_agent) == {"ws-a", "ws-b"}
    assert heartbeats == {"ws-a", "ws-b"}
    assert shared == ["/srv/dictations/enrolled while the fleet was down.wav"]
    assert all(fl.failures == 0 and fl.last_error is None for fl in links)


async def test_the_console_on_the_fleet_store_shows_both_agents(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    from console.app import ConsoleApp
    from tests.console.conftest import make_settings, wait_for_feed

    a, b = agents
    expected = set(add_events(a, 30, label="a")) | set(add_events(b, 20, label="b"))
    for agent in (a, b):
        link(agent, pg_url).sync_once()
    app = ConsoleApp(make_settings(pg_url, clock=utcnow))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        assert screen.count is not None
        assert screen.count.value == len(expected)
        assert {row.agent_id for row in screen.feed.rows} == {"ws-a", "ws-b"}
