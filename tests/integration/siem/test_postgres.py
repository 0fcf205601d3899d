"""The SIEM outbox on a PostgreSQL (fleet) store: concurrent writers, fleet-console triage, in order."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from agent.config import SiemDestination, SiemSection
from agent.siem import outbox
from agent.siem.component import SiemForwarder
from agent.siem.destination import build_destination
from agent.store import open_store
from tests.support.siem import add_events, close_as_false_positive

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def test_concurrent_agents_and_fleet_triage_are_forwarded_completely_in_order(pg_url: str, tmp_path: Path) -> None:
    store = open_store(pg_url)
    out = tmp_path / "siem.jsonl"
    destination = SiemDestination(name="central", transport="file", path=out)
    forwarder = SiemForwarder(
        store,
        [build_destination(destination, "fleet-forwarder")],
        SiemSection(destinations=[destination], batch=25, poll_seconds=0.02),
    )
    forwarder.start()  # registers the destination: the triggers start queueing
    produced: dict[str, list[str]] = {f"ws-{n}": [] for n in range(4)}

    def agent(name: str) -> None:  # FleetLink-like writers committing at the same time
        for round_ in range(15):
            produced[name] += add_events(store, name, 5, round_ * 5)

    writers = [threading.Thread(target=agent, args=(name,)) for name in produced]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    close_as_false_positive(store, produced["ws-0"][:10])  # a fleet console's triage
    deadline = time.monotonic() + 60
    while outbox.backlog(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    forwarder.stop()
    store.dispose()
    findings = [json.loads(line) for line in out.read_text().splitlines()]
    seen: list[str] = []
    for finding in findings:
        if finding["metadata"]["uid"] not in seen:
            seen.append(finding["metadata"]["uid"])
    by_uid = {f["metadata"]["uid"]: f for f in findings}
    for name, ids in produced.items():
        assert [u for u in seen if by_uid[u]["device"].get("uid") == name and "." not in u] == ids
    assert [u.split(".")[0] for u in seen if "." in u] == produced["ws-0"][:10]
    sequences = [by_uid[u]["metadata"]["sequence"] for u in seen]
    assert sequences == sorted(sequences)
