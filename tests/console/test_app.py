"""The real console app driven by Pilot: every screen and the analyst's workflows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from textual.command import CommandPalette
from textual.widgets import Input, RadioButton, Select, Static

from agent.store import EventWriter, Store, make_engine, make_event, open_store
from console.app import ConsoleApp
from console.data.tables import EVENT, TRIAGE
from console.screens.detail import IncidentDetailScreen
from console.screens.dialogs import CloseDialog, ConfirmDialog, ExportDialog
from console.screens.fleet import FleetScreen
from console.screens.help import HelpScreen
from console.screens.problem import StoreProblemScreen
from console.screens.services import ServicesScreen
from console.widgets.incident_table import IncidentTable
from console.widgets.status import StatusLine
from tests.console.conftest import NOW, make_settings, plain, settle, shown, wait_for_feed, wait_until

SIZE = (140, 40)


async def test_feed_opens_pages_and_filters(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        table = screen.query_one(IncidentTable)
        assert table.row_count == 200
        assert screen.count is not None
        assert screen.count.value == 400
        # Reaching the end of what is loaded fetches the next page.
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: table.row_count == 400, what="the second page")
        # A select applies at once.
        screen.query_one("#verdict", Select).value = "block"
        await wait_until(pilot, lambda: screen.feed.filter.verdicts == {"block"} and table.row_count == 60)
        assert {r.verdict for r in screen.feed.rows} == {"block"}
        # The search box applies on Enter, on top of the bar.
        await pilot.press("slash")
        await pilot.press(*"user:user008")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.feed.filter.user == "user008" and screen.count is not None)
        await settle(pilot, app)
        assert {(r.verdict, r.user) for r in screen.feed.rows} == {("block", "user008")}
        assert f"{len(screen.feed.rows)} matching" in screen.query_one(StatusLine).summary
        # A bad term is reported and the previous view stays.
        await pilot.press("slash", *" verdict:maybe", "enter")
        await pilot.pause()
        assert "verdict:maybe is not valid" in screen.query_one(StatusLine).error
        assert screen.feed.filter.user == "user008"


async def test_sorting_by_key_and_header(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        await pilot.press("s")  # time -> verdict
        await wait_until(pilot, lambda: screen.feed.sort.key == "verdict" and len(screen.feed) > 0)
        verdicts = [r.verdict for r in screen.feed.rows]
        assert verdicts == sorted(verdicts, reverse=True)
        await pilot.press("S")
        await wait_until(pilot, lambda: not screen.feed.sort.descending and len(screen.feed) > 0)
        assert screen.feed.rows[0].verdict == "allow"


async def test_open_an_incident_and_walk_the_list(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        target = next(i for i, r in enumerate(screen.feed.rows) if r.asset_id)
        screen.query_one(IncidentTable).move_cursor(row=target)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        detail_screen = app.screen
        assert isinstance(detail_screen, IncidentDetailScreen)
        assert detail_screen.detail is not None
        assert detail_screen.detail.row.id == screen.feed.rows[target].id
        body = plain(detail_screen.query_one("#detail", Static))
        assert "/srv/clinical/recordings/dictation-" in body
        assert "Triage history" in body
        first = detail_screen.event_id
        await pilot.press("j")
        await wait_until(pilot, lambda: detail_screen.detail is not None and detail_screen.detail.row.id != first)
        assert detail_screen.detail.row.id == screen.feed.rows[target + 1].id
        await pilot.press("escape")
        assert app.screen is screen


async def test_close_one_incident_from_its_detail(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        event_id = app.screen.event_id  # type: ignore[attr-defined]
        await pilot.press("c")
        await wait_until(pilot, lambda: shown(app, CloseDialog))
        await pilot.press("ctrl+s")  # no classification yet: refused in the dialog
        await pilot.pause()
        assert isinstance(app.screen, CloseDialog)
        assert "Choose a classification" in plain(app.screen.query_one("#error", Static))
        app.screen.query(RadioButton)[1].value = True  # benign
        app.screen.query_one("#note").insert("user testing the dictation app")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen))
        await settle(pilot, app)
        with small_store.engine.connect() as conn:
            state = conn.execute(select(EVENT.c.triage_state, EVENT.c.classification).where(EVENT.c.id == event_id))
            assert tuple(state.one()) == ("closed", "benign")
            action = conn.execute(select(TRIAGE).where(TRIAGE.c.event_id == event_id)).one()
        assert (action.analyst, action.state, action.note) == ("alice", "closed", "user testing the dictation app")
        assert action.time == NOW
        await pilot.press("escape")
        await wait_until(
            pilot, lambda: screen.feed.get(event_id) is not None and screen.feed.get(event_id).triage_state == "closed"
        )  # type: ignore[union-attr]


async def test_bulk_close_of_marked_rows_confirms_the_count(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        await pilot.press("space", "space", "space")
        marked = [r.id for r in screen.feed.rows[:3]]
        assert screen.feed.marked == set(marked)
        await pilot.press("c")
        await wait_until(pilot, lambda: shown(app, CloseDialog))
        app.screen.query(RadioButton)[2].value = True  # false positive
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        question = plain(app.screen.query_one("#question"))
        assert question == "Close 3 incidents as false positive?"
        await pilot.press("y")
        await wait_until(pilot, lambda: all(screen.feed.get(i).triage_state == "closed" for i in marked))  # type: ignore[union-attr]
        assert screen.feed.marked == set()
        with small_store.engine.connect() as conn:
            rows = conn.execute(select(TRIAGE.c.event_id, TRIAGE.c.classification)).all()
        assert sorted(tuple(r) for r in rows) == sorted((i, "false_positive") for i in marked)


async def test_cancelled_bulk_action_changes_nothing(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("space", "space", "a")
        await wait_until(pilot, lambda: shown(app, ConfirmDialog))
        assert plain(app.screen.query_one("#question")) == "Acknowledge 2 incidents?"
        await pilot.press("n")
        await settle(pilot, app)
    with small_store.engine.connect() as conn:
        assert conn.execute(select(TRIAGE)).all() == []


async def test_export_the_filtered_view(small_store: Store, tmp_path: Path) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    out = tmp_path / "blocks.json"
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        screen.query_one("#verdict", Select).value = "block"
        await wait_until(pilot, lambda: screen.feed.filter.verdicts == {"block"} and screen.count is not None)
        await pilot.press("x")
        await wait_until(pilot, lambda: shown(app, ExportDialog))
        app.screen.query_one("#format", Select).value = "json"
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.press("tab")
        await pilot.click("#submit")
        await wait_until(pilot, out.exists, what="the export file")
    document = json.loads(out.read_text())
    assert document["count"] == 60
    assert {e["verdict"] for e in document["events"]} == {"block"}


async def test_live_feed_keeps_the_cursor_counts_new_rows_and_pauses(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url, live=True, poll_interval=0.1))
    writer = EventWriter(small_store)
    writer.start()
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_for_feed(pilot, app)
            table = screen.query_one(IncidentTable)
            table.move_cursor(row=60)
            await pilot.pause()
            current, before = table.current_id, table.cursor_row
            assert table.scroll_y > 0
            for i in range(3):
                writer.submit(make_event(time=NOW - timedelta(seconds=i), verdict="block", user="zed", reason="new"))
            writer.flush()
            await wait_until(pilot, lambda: table.row_count == 203, what="three new rows")
            assert table.current_id == current
            assert table.cursor_row == before + 3
            assert screen.unseen == 3
            assert "3 new" in plain(screen.query_one("#live-banner", Static))
            assert screen.feed.rows[0].user == "zed"
            # Paused: new rows wait and are counted; resuming places them.
            await pilot.press("p")
            writer.submit(make_event(time=NOW, verdict="audit", user="zed", reason="while paused"))
            writer.flush()
            await wait_until(pilot, lambda: screen.feed.new_waiting == 1, what="a waiting row")
            assert table.row_count == 203
            assert "paused" in screen.query_one(StatusLine).live
            await pilot.press("p")
            assert table.row_count == 204
            assert table.current_id == current
            await pilot.press("g")
            assert table.cursor_row == 0
            assert screen.unseen == 0
    finally:
        writer.stop()


async def test_read_only_mode_offers_no_triage(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url, read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        assert screen.query_one(StatusLine).read_only
        await pilot.press("a", "c", "space", "e")
        await settle(pilot, app)
        assert not isinstance(app.screen, CloseDialog | ConfirmDialog)
        footer_keys = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not any(action.startswith("triage") for action in footer_keys)
    with small_store.engine.connect() as conn:
        assert conn.execute(select(TRIAGE)).all() == []


async def test_empty_store_says_what_will_appear(store: Store) -> None:
    app = ConsoleApp(make_settings(store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        empty = screen.query_one("#empty", Static)
        assert empty.display
        assert "No incidents yet" in plain(empty)
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen) and app.screen.data is not None)
        assert "No AI traffic recorded yet" in plain(app.screen.query_one("#service-detail", Static))
        await pilot.press("3")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.data is not None)
        assert "No agent has reported yet" in plain(app.screen.query_one("#agent-detail", Static))


async def test_unreachable_postgres_is_explained_with_retry() -> None:
    app = ConsoleApp(make_settings("postgresql+psycopg://analyst:pw@127.0.0.1:1/phiwall"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, StoreProblemScreen) and bool(app.screen.query("#problem-message")),
            timeout=15,
        )
        message = plain(app.screen.query_one("#problem-message", Static))
        assert "cannot open store" in message
        assert "Connection refused" in message
        assert "pw" not in message
        first = app.screen
        await pilot.press("r")
        await wait_until(
            pilot, lambda: isinstance(app.screen, StoreProblemScreen) and app.screen is not first, timeout=15
        )
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_read_only_on_an_older_schema_says_so(tmp_path: Path) -> None:
    from tests.console.test_data_store import make_old_store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_old_store(url)
    app = ConsoleApp(make_settings(url, read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, StoreProblemScreen) and bool(app.screen.query("#problem-message"))
        )
        assert "never migrates" in plain(app.screen.query_one("#problem-message", Static))


async def test_rows_with_missing_fields_render(store: Store) -> None:
    with store.session() as session:
        session.add(make_event(verdict="block", time=NOW, details="{broken"))
        session.add(make_event(verdict="weird-verdict", time=NOW - timedelta(seconds=1), triage_state="odd"))
        session.commit()
    app = ConsoleApp(make_settings(store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        assert screen.query_one(IncidentTable).row_count == 2
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        body = plain(app.screen.query_one("#detail", Static))
        assert "not valid JSON" in body
        assert "{broken" in body
        assert "no enrolled asset matched" in body


async def test_lost_connection_is_reported_and_recovers(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        good = app.store
        assert good is not None
        app.store = Store(
            engine=make_engine("postgresql+psycopg://x@127.0.0.1:1/x"), url="postgresql://x@127.0.0.1:1/x"
        )
        await pilot.press("r")
        await wait_until(pilot, lambda: "Connection refused" in screen.query_one(StatusLine).error, timeout=15)
        app.store.dispose()
        app.store = good
        await pilot.press("r")
        await wait_until(pilot, lambda: not screen.query_one(StatusLine).error and len(screen.feed) == 200)


async def test_services_inventory_and_jump_to_incidents(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen) and app.screen.data is not None)
        services = app.screen
        assert isinstance(services, ServicesScreen)
        assert services.data is not None
        hosts = {line.host: line for line in services.data.lines}
        assert "llm.internal-lab.example" in hosts
        assert hosts["llm.internal-lab.example"].status == "unknown"
        services.query_one("#status-filter", Select).value = "unknown"
        await pilot.pause()
        line = services.current_line()
        assert line is not None
        assert line.status == "unknown"
        await pilot.press("enter")
        incidents = app.incidents_screen()
        assert incidents is not None
        await wait_until(pilot, lambda: app.screen is incidents and incidents.feed.filter.host == line.host)


async def test_fleet_agents_health_and_charts(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.data is not None)
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        assert fleet.data is not None
        assert len(fleet.data.agents) == 6
        assert fleet.data.overview.total_blocks > 0
        summary = plain(fleet.query_one("#fleet-summary", Static))
        assert "6 agents" in summary
        assert "blocks" in summary
        top = plain(fleet.query_one("#top-lists", Static))
        assert "Top services" in top
        assert "█" in top
        await pilot.press("w")
        await wait_until(pilot, lambda: fleet.query_one("#window", Select).value == "30d")


async def test_help_and_command_palette_open_an_incident_by_id(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: shown(app, HelpScreen))
        text = plain(app.screen.query_one(Static))
        assert "incidents.close" in text
        assert "verdict:" in text
        assert "true positive" in text
        await pilot.press("escape")
        target = f"{0x42:032x}"
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: shown(app, CommandPalette))
        await pilot.press(*target)  # e.g. pasted from a block answer's X-PhiWall-Incident header
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen) and app.screen.detail is not None)
        assert app.screen.detail.row.id == target  # type: ignore[attr-defined]


async def test_audit_report_from_the_app(small_store: Store, tmp_path: Path) -> None:
    from console.data import triage
    from console.data.triage import TriageRequest
    from console.screens.dialogs import AuditDialog

    triage.apply(small_store.engine, [f"{1:032x}"], TriageRequest("acknowledge", "bob"), clock=lambda: NOW)
    out = tmp_path / "audit.json"
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_feed(pilot, app)
        await pilot.press("A")
        await wait_until(pilot, lambda: shown(app, AuditDialog))
        app.screen.query_one("#since", Input).value = "7d"
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.click("#submit")
        await wait_until(pilot, out.exists, what="the audit report")
    report = json.loads(out.read_text())
    assert report["count"] == 1
    assert report["by_analyst"] == {"bob": {"state:acknowledged": 1}}
    assert report["generated_by"] == "alice"


async def test_a_concurrent_writer_never_breaks_the_view(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    agent_store = open_store(url)
    writer = EventWriter(agent_store, batch=20)
    writer.start()
    app = ConsoleApp(make_settings(url, live=True, poll_interval=0.1))
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_for_feed(pilot, app)
            for i in range(150):
                writer.submit(make_event(time=NOW - timedelta(milliseconds=i), verdict="block", reason=f"r{i}"))
                if i % 25 == 0:
                    await pilot.pause(0.05)
            writer.flush()
            await wait_until(pilot, lambda: len(screen.feed) == 150, what="all 150 events", timeout=15)
            assert not screen.query_one(StatusLine).error
            times = [r.time for r in screen.feed.rows]
            assert times == sorted(times, reverse=True)
    finally:
        writer.stop()
        agent_store.dispose()
