"""`phiwall doctor` in fleet mode: a reachable fleet store is ok, an unreachable one a warning."""

from __future__ import annotations

import socket

import pytest

from agent.checkup import DoctorContext
from agent.config import Config, StoreSection
from agent.fleet.doctor import check_fleet
from agent.store import make_event, write_events
from tests.integration.fleet.conftest import LocalAgent

pytestmark = pytest.mark.postgres


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fleet_check_reports_reachability_and_the_local_queue(
    agents: tuple[LocalAgent, LocalAgent], pg_url: str
) -> None:
    a, _ = agents
    write_events(a.store, [make_event(agent_id="ws-a", verdict="block", reason="x") for _ in range(3)])
    reachable = check_fleet(DoctorContext(config=Config(store=StoreSection(fleet_url=pg_url)), store_url=a.store.url))
    assert reachable.level == "ok"
    assert "3 rows queued" in reachable.detail
    down_url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/fleet"
    down = check_fleet(DoctorContext(config=Config(store=StoreSection(fleet_url=down_url)), store_url=a.store.url))
    assert down.level == "warn"
    assert "3 rows queued locally" in down.detail
    assert "refused" in down.detail
