"""Two agents with their own SQLite stores, and helpers to make rows they would have made."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from agent.config import FleetSection
from agent.fleet import FleetLink
from agent.store import MediaAsset, MediaPrint, Store, make_event, open_store, utcnow, write_events


@dataclass
class LocalAgent:
    agent_id: str
    store: Store


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[tuple[LocalAgent, LocalAgent]]:
    a = LocalAgent("ws-a", open_store(f"sqlite:///{tmp_path / 'a.db'}"))
    b = LocalAgent("ws-b", open_store(f"sqlite:///{tmp_path / 'b.db'}"))
    yield a, b
    a.store.dispose()
    b.store.dispose()


def link(agent: LocalAgent, fleet_url: str, **settings: object) -> FleetLink:
    return FleetLink(agent.store, fleet_url, agent_id=agent.agent_id, settings=FleetSection(**settings))  # type: ignore[arg-type]


def add_asset(agent: LocalAgent, *, seed: str, enrolled_at: datetime | None = None) -> MediaAsset:
    """An enrolled asset with two prints, as the media service would store it (opaque bytes)."""
    content = f"recording {seed}".encode()
    asset = MediaAsset(
        id=hashlib.sha256(content).hexdigest(),
        kind="audio",
        mime="audio/x-wav",
        path=f"/srv/dictations/{seed}.wav",
        size=len(content),
        duration_s=12.5,
        has_audio=True,
        origin_agent_id=agent.agent_id,
        enrolled_at=enrolled_at or utcnow(),
    )
    prints = [
        MediaPrint(asset_id=asset.id, kind="chromaprint", version=1, item_count=4, data=os.urandom(16)),
        MediaPrint(asset_id=asset.id, kind="landmarks", version=1, item_count=8, data=os.urandom(64)),
    ]
    with agent.store.session() as session:
        session.add(asset)
        session.add_all(prints)
        session.commit()
    return asset


def add_events(agent: LocalAgent, count: int, *, label: str) -> list[str]:
    events = [
        make_event(agent_id=agent.agent_id, kind="upload", verdict="block", reason=f"{label} {i}", host="api.example")
        for i in range(count)
    ]
    write_events(agent.store, events)
    return [event.id for event in events]
