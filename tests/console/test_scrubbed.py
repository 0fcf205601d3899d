"""Derivatives in the console: the Scrubbed screen (what, by whom, with what, when) and an
incident for a derivative showing its source asset and methods. Real App.run_test()/Pilot."""

from __future__ import annotations

import json
from datetime import timedelta

from textual.widgets import DataTable, Static

from agent.store import Event, MediaAsset, ScrubLineage, Store
from console.app import ConsoleApp
from console.screens.detail import IncidentDetailScreen
from console.screens.scrubbed import ScrubbedScreen
from tests.console.conftest import NOW, make_settings, plain, settle, shown, wait_for_feed, wait_until

SIZE = (160, 50)
SOURCE = "a" * 64
COPY = "c" * 64
METHODS = {
    "voice": {"mode": "anonymise", "method": "mcadams-lpc", "alpha_range": [0.75, 0.9]},
    "faces": {"mode": "blur", "model": "blazeface", "margin": 0.35},
    "people": {"mode": "keep"},
    "metadata": "stripped",
}


def _fill(store: Store) -> str:
    """A source recording, two scrub records (one of an unenrolled input), a derivative upload event."""
    with store.session() as session:
        session.add(
            MediaAsset(id=SOURCE, kind="audio", mime="audio/x-wav", path="/srv/clinical/ward-7-handover.wav", size=9)
        )
        first = ScrubLineage(
            time=NOW - timedelta(hours=2), user="dr.jones", agent_id="ws-12", source_sha256=SOURCE,
            source_asset_id=SOURCE, source_match="sha256", output_sha256=COPY, output_path="/home/j/handover-copy.wav",
            derivative_asset_id=COPY, kind="audio", size=4000, duration_s=12.0, scrub_s=0.6,
            methods=json.dumps(METHODS), tool_version="0.1.0",
        )  # fmt: skip
        other = ScrubLineage(
            time=NOW - timedelta(hours=1), user="nurse.lee", agent_id="ws-3", source_sha256="d" * 64,
            output_sha256="e" * 64, output_path="/home/l/fall-skeleton.mp4", kind="video", size=90000,
            methods=json.dumps({"voice": {"mode": "mute"}, "people": {"mode": "skeleton", "model": "blazepose-full"},
                                "metadata": "stripped"}),
            tool_version="0.1.0",
        )  # fmt: skip
        session.add_all([first, other])
        session.flush()
        session.add(
            MediaAsset(
                id=COPY, kind="audio", mime="audio/x-wav", path="/home/j/handover-copy.wav", size=4000,
                lineage_id=first.id,
            )
        )  # fmt: skip
        event = Event(
            time=NOW - timedelta(minutes=30), verdict="allow", user="dr.jones", service_id="loopback-scribe",
            reason="de-identified copy of enrolled clinical audio (scrub lineage 1, exact copy) sent to Scribe",
            asset_id=COPY, match_score=1.0, match_kind="audio",
            details=json.dumps({"derivative": {"lineage": first.id, "derivative_asset": COPY, "source_asset": SOURCE,
                                               "recognised_by": "sha256"}}),
        )  # fmt: skip
        session.add(event)
        session.commit()
        return event.id


async def test_scrubbed_screen_lists_what_who_with_what_and_when(store: Store) -> None:
    _fill(store)
    app = ConsoleApp(make_settings(store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("4")
        await wait_until(pilot, lambda: shown(app, ScrubbedScreen), what="the Scrubbed screen")
        screen = app.screen
        assert isinstance(screen, ScrubbedScreen)
        table = screen.query_one("#scrubbed", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="two scrub records")
        await settle(pilot, app)
        newest = [str(cell) for cell in table.get_row_at(0)]
        assert newest[1] == "nurse.lee"
        assert newest[2] == "not enrolled"
        assert "voice muted" in newest[5]
        assert "people drawn as skeletons (blazepose-full)" in newest[5]
        assert newest[6] == "no"
        summary = plain(screen.query_one("#scrubbed-summary", Static))
        assert "2 scrubbed copies of 1 enrolled recordings" in summary
        await pilot.press("down")
        await wait_until(pilot, lambda: "ward-7-handover" in plain(screen.query_one("#lineage-detail", Static)))
        detail = plain(screen.query_one("#lineage-detail", Static))
        assert "/srv/clinical/ward-7-handover.wav (same bytes)" in detail
        assert "voice anonymised (mcadams-lpc), faces blurred (blazeface), metadata stripped" in detail
        assert "dr.jones on ws-12" in detail
        assert "alpha" not in detail


async def test_incident_for_a_derivative_shows_its_source_and_methods(store: Store) -> None:
    event_id = _fill(store)
    app = ConsoleApp(make_settings(store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        app.push_screen(IncidentDetailScreen(event_id))
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        screen = app.screen
        assert isinstance(screen, IncidentDetailScreen)
        assert screen.detail is not None
        assert screen.detail.lineage is not None
        body = plain(screen.query_one("#detail", Static))
        assert "de-identified copy (scrub derivative), recognised by sha256" in body
        assert "De-identified copy: lineage" in body
        assert "/srv/clinical/ward-7-handover.wav (same bytes)" in body
        assert "voice anonymised (mcadams-lpc), faces blurred (blazeface), metadata stripped" in body
        assert "dr.jones on ws-12" in body
