"""What the trigram text index (revision 0007) costs the agent: event writes, disk, backfill.

The console's word search got fast by an index that every event write now also fills. This
prints, in one process:

* events written per second through `EventWriter`-sized batches (`write_events`, 200 a
  transaction) into a store with the index, and into the same kind of store with its
  triggers and table dropped (the baseline), with the ratio;
* the index's size on disk per 1,000 events (FTS5 shadow tables, `dbstat` when compiled in,
  else the file size difference after dropping the index and VACUUM);
* the time `INSERT INTO event_text(event_text) VALUES ('rebuild')` takes per 100,000 events
  (what the migration does to an existing store).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/event_text_index.py [--events 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.exc import OperationalError

from agent.store import Store, open_store
from agent.store.events import make_event, write_events
from agent.store.models import Event
from agent.store.text_index import SQLITE_TABLE

BATCH = 200
START = datetime(2026, 3, 1, tzinfo=UTC)


def events(count: int, offset: int) -> list[Event]:
    """Realistic rows: a host, a user, a process, a reason, a path, ids (no payload)."""
    return [
        make_event(
            time=START + timedelta(seconds=offset + n),
            agent_id=f"ws-{(offset + n) % 50:03d}",
            kind="upload",
            user=f"user{(offset + n) % 300:03d}",
            pid=1000 + n,
            process_name=("firefox", "chrome", "python3", "Dictation")[n % 4],
            host=("api.openai.com", "gemini.google.com", "api.otter.ai", "upload.example.net")[n % 4],
            path="/v1/audio/transcriptions",
            method="POST",
            service_id=("openai", "gemini", "otter", None)[n % 4],
            verdict=("block", "audit", "allow", "allow")[n % 4],
            reason="clinical recording matched an enrolled asset" if n % 4 == 0 else "no clinical media",
            asset_id=f"{(offset + n) % 997:064x}" if n % 4 == 0 else None,
            details={"parts": 1},
            triage_state="new",
        )
        for n in range(count)
    ]


def drop_index(store: Store) -> None:
    with store.engine.begin() as conn:
        for action in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_{action}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")


def write_rate(store: Store, count: int) -> float:
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        write_events(store, events(min(BATCH, count - offset), offset))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-text-index-") as temp:
        indexed = open_store(f"sqlite:///{temp}/indexed.db")
        plain = open_store(f"sqlite:///{temp}/plain.db")
        drop_index(plain)
        # Alternate halves so both stores see the same machine load.
        half = args.events // 2
        rates = {"indexed": [write_rate(indexed, half)], "plain": [write_rate(plain, half)]}
        rates["plain"].append(write_rate(plain, half))
        rates["indexed"].append(write_rate(indexed, half))
        with_index, without = (sum(rates[k]) / 2 for k in ("indexed", "plain"))
        print(f"events written per second ({BATCH} a transaction, {args.events:,} events):")
        print(f"  with the text index {with_index:8,.0f}/s, without {without:8,.0f}/s: x{with_index / without:.2f}")

        with indexed.engine.begin() as conn:
            size_sql = "SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?"
            try:
                index_bytes = int(conn.exec_driver_sql(size_sql, (f"{SQLITE_TABLE}%",)).scalar() or 0)
                event_bytes = int(conn.exec_driver_sql(size_sql, ("event",)).scalar() or 0)
            except OperationalError:  # dbstat is a compile-time option
                index_bytes = event_bytes = 0
            total = int(conn.exec_driver_sql("SELECT count(*) FROM event").scalar_one())
            started = time.perf_counter()
            conn.exec_driver_sql(f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}) VALUES ('rebuild')")
            rebuild_s = time.perf_counter() - started
        if index_bytes:
            per_thousand = 1000 / total / 1024
            print(
                f"on disk per 1,000 events: text index {index_bytes * per_thousand:.0f} KB, "
                f"event table {event_bytes * per_thousand:.0f} KB (x{index_bytes / max(event_bytes, 1):.2f})"
            )
        else:
            print("on disk: this SQLite has no dbstat table; not measured")
        print(f"rebuild (the migration's backfill): {rebuild_s / total * 100_000:.1f} s per 100,000 events")
        indexed.dispose()
        plain.dispose()


if __name__ == "__main__":
    main()
