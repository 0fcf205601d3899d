"""Events forwarded per second from an agent's SQLite outbox to the PostgreSQL fleet store.

The agent records N events locally (the outbox fills through the trigger), then `FleetLink`
forwards them in batches. Baseline in the same process: the same rows inserted straight into
another fleet database with one executemany per batch (no outbox, no dedupe), which is the
floor for any forwarding design on this machine.

    .venv/bin/python benchmarks/fleet_forward.py [--events 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert
from sqlmodel import select

from agent.config import FleetSection
from agent.fleet import FleetLink
from agent.fleet.rows import columns_of
from agent.store import Event, make_event, open_store, write_events
from benchmarks.fleet_common import postgres


def make_events(count: int) -> list[Event]:
    return [
        make_event(
            agent_id="ws-bench",
            kind="upload",
            verdict="block" if i % 3 else "audit",
            reason="clinical recording to an unapproved AI service",
            host="api.example-ai.com",
            path="/v1/audio/transcriptions",
            method="POST",
            service_id="example-ai",
            payload_size=1_000_000 + i,
            sniffed_types="audio/mpeg",
            details={"sha256": f"{i:064x}", "parts": 1},
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phiwall-fleet-bench-"))
    try:
        with postgres() as server:
            local = open_store(f"sqlite:///{work / 'agent.db'}")
            events = make_events(args.events)
            started = time.perf_counter()
            for i in range(0, len(events), 1000):
                write_events(local, events[i : i + 1000])
            record_s = time.perf_counter() - started

            baseline_store = open_store(server.create_database())
            rows = [columns_of(e) for e in events]
            started = time.perf_counter()
            for i in range(0, len(rows), args.batch):
                with baseline_store.engine.begin() as conn:
                    conn.execute(insert(Event.__table__), rows[i : i + args.batch])  # type: ignore[attr-defined]
            baseline_s = time.perf_counter() - started
            baseline_store.dispose()

            fleet_url = server.create_database()
            link = FleetLink(local, fleet_url, agent_id="ws-bench", settings=FleetSection(batch=args.batch))
            link.fleet_store()  # connect + migrate outside the timing
            started = time.perf_counter()
            while True:
                report = link.sync_once()
                if not report.backlog:
                    break
            forward_s = time.perf_counter() - started
            fleet = open_store(fleet_url)
            with fleet.session() as session:
                arrived = session.exec(select(func.count()).select_from(Event)).one()
            fleet.dispose()
            link.stop()
            local.dispose()
        assert arrived == args.events, arrived
        print(f"{args.events} events, batch {args.batch}")
        print(f"recorded locally (outbox trigger included): {args.events / record_s:,.0f} events/s")
        print(f"baseline, plain executemany into PostgreSQL: {args.events / baseline_s:,.0f} events/s")
        print(f"forwarded by FleetLink (outbox -> PostgreSQL, idempotent): {args.events / forward_s:,.0f} events/s")
        print(f"ratio forwarded / baseline: {baseline_s / forward_s:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
