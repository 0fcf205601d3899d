"""Fingerprint sync time for 10,000 new assets: pushed by agent A, pulled by agent B.

Assets carry two prints each of realistic size (an audio print of ~2 KB and a landmark print
of ~12 KB: a 1-2 minute dictation). Baseline in the same process: reading the same asset and
print rows from PostgreSQL with one plain SELECT each, without writing them anywhere.

    .venv/bin/python benchmarks/fleet_sync.py [--assets 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from agent.config import FleetSection
from agent.fleet import FleetLink
from agent.store import MediaAsset, MediaPrint, open_store, utcnow
from benchmarks.fleet_common import postgres


def enrol_many(url: str, count: int) -> None:
    store = open_store(url)
    assets, prints = [], []
    for i in range(count):
        asset_id = hashlib.sha256(f"asset {i}".encode()).hexdigest()
        assets.append(
            {"id": asset_id, "kind": "audio", "mime": "audio/x-wav", "path": f"/srv/dictations/{i}.wav",
             "size": 1_500_000, "duration_s": 90.0, "has_audio": True, "has_video": False,
             "origin_agent_id": "ws-a", "enrolled_at": utcnow(), "deleted_at": None}
        )  # fmt: skip
        prints.append(
            {"asset_id": asset_id, "kind": "chromaprint", "version": 1, "item_count": 700, "data": os.urandom(2_800)}
        )
        prints.append(
            {"asset_id": asset_id, "kind": "landmarks", "version": 1, "item_count": 3000, "data": os.urandom(12_000)}
        )
    with store.engine.begin() as conn:
        conn.execute(insert(MediaAsset.__table__), assets)  # type: ignore[attr-defined]
        conn.execute(insert(MediaPrint.__table__), prints)  # type: ignore[attr-defined]
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phiwall-fleet-sync-"))
    try:
        with postgres() as server:
            fleet_url = server.create_database()
            a_url, b_url = f"sqlite:///{work / 'a.db'}", f"sqlite:///{work / 'b.db'}"
            enrol_many(a_url, args.assets)
            a, b = open_store(a_url), open_store(b_url)
            link_a = FleetLink(a, fleet_url, agent_id="ws-a", settings=FleetSection())
            link_b = FleetLink(b, fleet_url, agent_id="ws-b", settings=FleetSection())
            link_a.fleet_store()
            link_b.fleet_store()
            started = time.perf_counter()
            pushed = link_a.sync_once().pushed
            push_s = time.perf_counter() - started
            started = time.perf_counter()
            pulled = link_b.sync_once().pulled
            pull_s = time.perf_counter() - started
            fleet = open_store(fleet_url)
            started = time.perf_counter()
            with fleet.engine.connect() as conn:
                conn.execute(text("SELECT * FROM media_asset")).fetchall()
                conn.execute(text("SELECT * FROM media_print")).fetchall()
            read_s = time.perf_counter() - started
            mib = sum(os.path.getsize(work / n) for n in ("b.db", "b.db-wal") if (work / n).exists()) / 2**20
            fleet.dispose()
            for link in (link_a, link_b):
                link.stop()
            a.dispose()
            b.dispose()
        assert pushed == pulled == args.assets, (pushed, pulled)
        print(f"{args.assets} assets, 2 prints each (~15 KB of prints per asset)")
        print(f"push from A to the fleet: {push_s:.1f} s ({args.assets / push_s:,.0f} assets/s)")
        print(
            f"pull into B (sync time): {pull_s:.1f} s ({args.assets / pull_s:,.0f} assets/s); B's store {mib:.0f} MiB"
        )
        print(f"baseline, plain SELECT of the same rows: {read_s:.2f} s; ratio pull / baseline {pull_s / read_s:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
