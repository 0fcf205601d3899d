"""SOC workflows with the real app under Pilot: bulk triage of a whole filter, export = view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from textual.widgets import DataTable, Input, RadioButton, Select, Static, TextArea

from agent.store import Store, open_store, write_events
from console.app import ConsoleApp
from console.data.tables import EVENT, TRIAGE
from console.screens.detail import IncidentDetailScreen
from console.screens.dialogs import CloseDialog, ConfirmDialog, ExportDialog, NoteDialog
from console.widgets.incident_table import IncidentTable
from console.widgets.status import StatusLine
from tests.console.conftest import make_settings, plain, settle, shown, wait_for_feed, wait_until
from tests.support.siem import blocked_upload

SIZE = (160, 40)


async def test_bulk_close_of_every_matching_event_not_only_loaded_rows(small_store: Store) -> None:
    with small_store.engine.connect() as conn:
        open_before = conn.execute(
            select(func.count()).select_from(EVENT).where(EVENT.c.triage_state != "closed")
        ).scalar_one()
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        screen.query_one("#state", Select).value = "open"
        await wait_until(pilot, lambda: bool(screen.feed.filter.states) and screen.count is not None)
        await settle(pilot, app)
        assert len(screen.feed) == 200 < open_before  # only a page is loaded
        await pilot.press("M")
        assert "ALL" in screen.query_one(StatusLine).summary
        await pilot.press("c")
        await wait_until(pilot, lambda: shown(app, CloseDialog))
        app.screen.query(RadioButton)[1].value = True  # benign
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog), what="the confirmation with the full count")
        assert plain(app.screen.query_one("#question")) == f"Close {open_before:,} incidents as benign?"
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.count is not None and screen.count.value == 0 and len(screen.feed) == 0)
    with small_store.engine.connect() as conn:
        trail = conn.execute(select(func.count()).select_from(TRIAGE).where(TRIAGE.c.analyst == "alice")).scalar_one()
        still_open = conn.execute(
            select(func.count()).select_from(EVENT).where(EVENT.c.triage_state != "closed")
        ).scalar_one()
    assert (trail, still_open) == (open_before, 0)


async def test_cancelled_bulk_close_writes_nothing(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("M", "a")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        assert "incidents?" in plain(app.screen.query_one("#question"))
        await pilot.press("n")
        await settle(pilot, app)
    with small_store.engine.connect() as conn:
        assert conn.execute(select(TRIAGE)).all() == []


async def test_export_equals_the_view_after_triage(small_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        screen.query_one("#state", Select).value = "new"
        screen.query_one("#verdict", Select).value = "block"
        await wait_until(pilot, lambda: screen.feed.filter.states == {"new"} and bool(screen.feed.filter.verdicts))
        await settle(pilot, app)
        shown_before = len(screen.feed)
        closed = [r.id for r in screen.feed.rows[:2]]
        await pilot.press("space", "space", "a")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        await pilot.press("y")
        await wait_until(
            pilot, lambda: len(screen.feed) == shown_before - 2, what="acknowledged rows leave a state:new view"
        )
        assert not any(screen.feed.index_of(i) is not None for i in closed)
        assert screen.query_one(IncidentTable).row_count == shown_before - 2
        await pilot.press("x")
        await wait_until(pilot, lambda: shown(app, ExportDialog))
        app.screen.query_one("#format", Select).value = "json"
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.press("tab")
        await pilot.click("#submit")
        await wait_until(pilot, out.exists, what="the export file")
        view = [r.id for r in screen.feed.rows]
    document = json.loads(out.read_text())
    assert [e["id"] for e in document["events"]] == view
    assert document["count"] == len(view) > 0


async def test_feed_columns_kind_iso_time_and_width_follow_the_terminal(small_store: Store) -> None:
    from textual.widgets.data_table import ColumnKey

    widths: dict[int, int] = {}
    for width in (150, 220):
        app = ConsoleApp(make_settings(small_store.url))
        async with app.run_test(size=(width, 40)) as pilot:
            screen = await wait_for_feed(pilot, app)
            await settle(pilot, app)
            table = screen.query_one(IncidentTable)
            used = sum(c.get_render_width(table) for c in table.columns.values())
            assert used == table.scrollable_content_region.width  # no free space, nothing cut
            widths[width] = table.columns[ColumnKey("host")].width
            row = screen.feed.rows[0]
            cells = table.get_row(row.id)
            labels = [str(c.label) for c in table.columns.values()]
            assert labels[1:5] == ["Time", "Verdict", "Kind", "State"]
            assert str(cells[1]) == row.time.isoformat(sep=" ", timespec="seconds")  # UTC in tests: +00:00
            assert str(cells[1]).startswith("2026-")
            assert str(cells[1]).endswith("+00:00")
            assert str(cells[3]) == row.kind
    assert widths[220] > widths[150]


async def test_detail_shows_triage_first_then_who_what_where_when(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        target = next(i for i, r in enumerate(screen.feed.rows) if r.verdict == "block")
        row = screen.feed.rows[target]
        screen.query_one(IncidentTable).move_cursor(row=target)
        await pilot.press("n")
        await wait_until(pilot, lambda: shown(app, NoteDialog))
        app.screen.query_one(TextArea).text = "asked the ward manager"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: shown(app, IncidentDetailScreen) and app.screen.detail is not None)  # type: ignore[attr-defined]
        body = plain(app.screen.query_one("#detail", Static))
    lines = body.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.strip().startswith(word)) for word in ("Triage", "Who")]
    assert order[0] < order[1] < 10  # the triage state is at the top, above the fold
    assert "asked the ward manager" in "\n".join(lines[: order[1]])
    for label in ("parent process", "command line", "enrolled by", "how matched", "wrapper path", "payload SHA-256"):
        assert label in body, label
    assert "gnome-shell" in body or "systemd" in body
    assert "/Recordings/dictation-" in body  # the command line, as typed
    assert str(row.asset_id) in body  # payload hash of the synthetic upload = the enrolled file's
    assert "multipart:file" in body
    assert "Where" in body
    assert "When" in body


async def test_enter_on_a_fleet_agent_opens_its_incidents(small_store: Store) -> None:
    from console.screens.fleet import FleetScreen

    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("3")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.data is not None)
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        await pilot.press("down")
        agent = fleet.current_agent()
        assert agent is not None
        await pilot.press("enter")
        incidents = app.incidents_screen()
        assert incidents is not None
        await wait_until(
            pilot,
            lambda: app.screen is incidents and incidents.feed.filter.agent == agent.id and incidents.count is not None,
        )
        await settle(pilot, app)
        assert len(incidents.feed) > 0
        assert {(r.agent_id, r.verdict in ("block", "audit")) for r in incidents.feed.rows} == {(agent.id, True)}


def local_decisions(services: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(approved, blocked) of the local overlay the Services screen shows."""
    local = services.data.local if services.data is not None else None
    return (local.approved, local.blocked) if local is not None else ((), ())


async def test_approve_and_block_a_service_from_the_services_screen(small_store: Store, tmp_path: Path) -> None:
    from agent.config import Config
    from agent.policy.local import read_audit
    from agent.updates.active import load_active
    from console.screens.services import ServicesScreen

    data_dir = tmp_path / "agent"
    agent = load_active(data_dir, Config(), check_interval=0.0)  # what the running proxy holds
    perplexity = agent.current().catalog.service("perplexity")
    assert perplexity is not None
    assert agent.current().policy.status(perplexity, {}) == "unapproved"
    app = ConsoleApp(make_settings(small_store.url, agent_data_dir=data_dir))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen) and app.screen.data is not None)
        services = app.screen
        assert isinstance(services, ServicesScreen)
        table = services.query_one("#services", DataTable)
        table.move_cursor(row=table.get_row_index("www.perplexity.ai"))
        await pilot.press("a")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        assert plain(app.screen.query_one("#question")) == "Approve perplexity on this agent?"
        await pilot.press("y")
        await wait_until(pilot, lambda: "perplexity" in local_decisions(services)[0])
        assert str(table.get_row("www.perplexity.ai")[2]) == "approved*"
        assert agent.reload_if_changed() is True  # the running agent picks it up, no restart
        assert agent.current().policy.status(perplexity, {}) == "approved"
        await pilot.press("b")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        assert plain(app.screen.query_one("#question")) == "Block perplexity on this agent?"
        await pilot.press("y")
        await wait_until(pilot, lambda: "perplexity" in local_decisions(services)[1])
        assert agent.reload_if_changed() is True
        assert agent.current().policy.status(perplexity, {}) == "unapproved"
    trail = [(e["analyst"], e["decision"]) for e in read_audit(data_dir)]
    assert trail == [("alice", "approved"), ("alice", "blocked")]


async def test_read_only_console_cannot_change_the_policy(small_store: Store, tmp_path: Path) -> None:
    from console.screens.services import ServicesScreen

    data_dir = tmp_path / "agent"
    app = ConsoleApp(make_settings(small_store.url, agent_data_dir=data_dir, read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen) and app.screen.data is not None)
        await pilot.press("a")
        await settle(pilot, app)
        assert not shown(app, ConfirmDialog)
    assert not data_dir.exists()


async def test_detail_lists_every_asset_an_ambiguous_match_may_be(tmp_path: Path) -> None:
    """An upload whose pictures fit two enrolled videos equally: the detail names the second
    one beside the first, not only under "Other details"."""
    store = open_store(f"sqlite:///{tmp_path / 'ambiguous.db'}")
    other, third = "cd" * 32, "ef" * 32
    event = blocked_upload("agent-1", 0, details={"matched_part": "multipart:file", "also_matches": f"{other},{third}"})
    write_events(store, [event])
    app = ConsoleApp(make_settings(store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: shown(app, IncidentDetailScreen) and app.screen.detail is not None)  # type: ignore[attr-defined]
        body = plain(app.screen.query_one("#detail", Static))
    lines = body.splitlines()
    row = next(i for i, line in enumerate(lines) if "or equally" in line)
    assert other in lines[row]
    assert third in "".join(lines[row : row + 3])  # the second id may wrap to the next line
    assert "also_matches" not in body  # placed, not repeated under "Other details"
    store.dispose()
