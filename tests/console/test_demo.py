"""The demo store: realistic enough to learn the console on, and nothing real in it."""

from __future__ import annotations

from pathlib import Path

from agent.store import open_store
from console.app import ConsoleApp
from console.data.demo import build_demo_store
from console.screens.detail import IncidentDetailScreen
from tests.console.conftest import NOW, make_settings, shown, wait_for_feed, wait_until


async def test_demo_store_has_a_week_of_events_and_a_triage_history(tmp_path: Path) -> None:
    url = build_demo_store(tmp_path / "demo", events=2_000, now=NOW)
    store = open_store(url)
    store.dispose()
    app = ConsoleApp(make_settings(url))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await wait_for_feed(pilot, app)
        assert screen.count is not None
        assert screen.count.value == 2_000
        assert {r.kind for r in screen.feed.rows} >= {"upload"}
        await pilot.press("slash", *"state:closed verdict:block", "enter")
        await wait_until(pilot, lambda: bool(screen.feed.filter.states) and len(screen.feed) > 0)
        screen.open_incident(next(r.id for r in screen.feed.rows if r.classification == "true_positive"))
        await wait_until(pilot, lambda: shown(app, IncidentDetailScreen) and app.screen.detail is not None)  # type: ignore[attr-defined]
        detail = app.screen.detail  # type: ignore[attr-defined]
        assert [h.analyst for h in detail.history][:1] == ["j.doe"]
        assert any(h.note for h in detail.history)
