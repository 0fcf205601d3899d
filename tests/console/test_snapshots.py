"""Snapshots of the main screens (SVG, in __snapshots__/): a fixed store, clock, zone and size.

Regenerate after an intended change with `pytest tests/console/test_snapshots.py --snapshot-update`
and look at the SVGs (`snapshot_report.html`) before committing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.store import open_store
from console.app import ConsoleApp
from console.data import triage
from console.data.synthetic import generate
from console.data.triage import TriageRequest
from console.screens.detail import IncidentDetailScreen
from console.screens.fleet import FleetScreen
from console.screens.services import ServicesScreen
from tests.console.conftest import NOW, SMALL, make_settings, settle, wait_for_feed, wait_until

SIZE = (140, 40)


@pytest.fixture
def snapshot_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The small store at a relative URL (the status line shows it: it must not vary)."""
    monkeypatch.chdir(tmp_path)
    url = "sqlite:///console.db"
    store = open_store(url)
    generate(store, SMALL)
    ids = [f"{n:032x}" for n in (399, 398)]
    triage.apply(store.engine, ids[:1], TriageRequest("escalate", "alice"), clock=lambda: NOW)
    triage.apply(store.engine, ids[1:], TriageRequest("close", "bob", classification="benign"), clock=lambda: NOW)
    store.dispose()
    return url


def app_for(url: str) -> ConsoleApp:
    return ConsoleApp(make_settings(url))


def test_incidents_screen(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        await wait_for_feed(pilot, app)
        await pilot.press("down", "space", "down", "space")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_incident_detail_screen(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        screen = await wait_for_feed(pilot, app)
        await settle(pilot, app)
        target = next(r.id for r in screen.feed.rows if r.verdict == "block")
        while screen.table.current_id != target:
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(140, 60), run_before=ready)


def test_close_dialog(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        await wait_for_feed(pilot, app)
        await pilot.press("space", "space", "space", "c")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_services_screen(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        await wait_for_feed(pilot, app)
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen) and app.screen.data is not None)
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_fleet_screen(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        await wait_for_feed(pilot, app)
        await pilot.press("3")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.data is not None)
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(140, 50), run_before=ready)


def test_help_screen(snap_compare: Any, snapshot_url: str) -> None:
    app = app_for(snapshot_url)

    async def ready(pilot: Any) -> None:
        await wait_for_feed(pilot, app)
        await pilot.press("question_mark")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
