"""Applying a filter: the old rows stay on screen (inert) until the new ones come, an empty view
keeps the table and its focus, the footer follows the focus once the screen settles, and the
app may hold Python's garbage collector while a filter's rows are drawn."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from agent.store import Store
from console.app import ConsoleApp
from console.data import incidents
from console.screens.detail import IncidentDetailScreen
from console.screens.incidents import HOLD_ROWS
from console.widgets import footer as footer_module
from console.widgets.footer import SteadyFooter
from console.widgets.incident_table import IncidentTable
from tests.console.conftest import make_settings, settle, wait_for_feed, wait_until

SIZE = (140, 40)


async def test_old_rows_stay_inert_until_the_new_page_and_go_when_it_is_slow(
    small_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fetch = incidents.fetch_page
    delay = {"seconds": 0.0}

    def slow_fetch(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay["seconds"])  # a slow database (a far PostgreSQL, a cold cache)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(incidents, "fetch_page", slow_fetch)
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        table = screen.query_one(IncidentTable)
        assert table.row_count == 200
        assert table.current_id is not None
        delay["seconds"] = 1.0 + HOLD_ROWS
        screen.query_one("#search", Input).value = "verdict:block"
        screen.apply_filter()
        await pilot.pause()
        # Held: the previous rows are on screen, but no key acts on them.
        assert table.stale
        assert table.row_count == 200
        assert table.current_id is None
        await pilot.press("space", "enter")
        assert not screen.feed.marked
        assert not isinstance(app.screen, IncidentDetailScreen)
        # Past HOLD_ROWS the table empties rather than show another filter's rows.
        await wait_until(pilot, lambda: table.row_count == 0, timeout=HOLD_ROWS + 0.9, what="the release")
        assert not table.stale
        await wait_until(pilot, lambda: table.row_count == 60, timeout=10, what="the new rows")
        assert table.current_id == screen.feed.rows[0].id
        assert {r.verdict for r in screen.feed.rows} == {"block"}


async def test_an_empty_view_keeps_the_table_header_and_the_focus(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        table = screen.query_one(IncidentTable)
        empty = screen.query_one("#empty", Static)
        await pilot.press("slash", *"no-such-host.example", "enter")
        await wait_until(pilot, lambda: empty.display, what="the empty view")
        await settle(pilot, app)
        assert table.has_class("-empty")
        assert table.display
        assert table.size.height == 1
        assert screen.focused is table
        await pilot.press("slash", "end", "ctrl+u", *"verdict:block", "enter")
        await wait_until(pilot, lambda: table.row_count == 60, what="rows again")
        await settle(pilot, app)
        assert not table.has_class("-empty")
        assert not empty.display
        assert table.size.height > 30
        assert screen.focused is table


class _Keys(Static, can_focus=True):
    def __init__(self, bindings: list[Binding], id: str) -> None:
        super().__init__(id, id=id)
        self._bindings_list = bindings

    def on_mount(self) -> None:
        for binding in self._bindings_list:
            self._bindings.bind(binding.key, binding.action, binding.description, show=binding.show)


class FooterApp(App[None]):
    BINDINGS = [Binding("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield _Keys([], "plain-1")
        yield _Keys([], "plain-2")
        yield _Keys([Binding("x", "bell", "Xray")], "with-x")
        yield SteadyFooter()


async def test_the_footer_rebuilds_once_after_the_focus_settles_and_only_for_new_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(footer_module, "SETTLE", 0.1)
    app = FooterApp()
    async with app.run_test(size=(100, 10)) as pilot:
        footer = app.query_one(SteadyFooter)
        composed: list[float] = []
        original = SteadyFooter.compose

        def counting(self: SteadyFooter) -> Any:
            composed.append(time.monotonic())
            return original(self)

        monkeypatch.setattr(SteadyFooter, "compose", counting)
        app.query_one("#plain-1").focus()
        await pilot.pause(0.3)
        before = len(composed)
        # Same keys shown: no rebuild.
        app.query_one("#plain-2").focus()
        await pilot.pause(0.3)
        assert len(composed) == before
        # New keys: one rebuild, after the focus settled (here two changes in a row).
        app.query_one("#with-x").focus()
        app.query_one("#plain-1").focus()
        app.query_one("#with-x").focus()
        await pilot.pause()
        assert len(composed) == before
        await wait_until(pilot, lambda: len(composed) == before + 1, timeout=2, what="the rebuild")
        await pilot.pause(0.3)
        assert len(composed) == before + 1
        assert any("Xray" in str(key.render()) for key in footer.query("FooterKey"))


async def test_a_footer_settling_while_the_app_closes_reads_no_bindings() -> None:
    """The settle timer may fire once the app's screen stack is empty (closing): reading the
    bindings then raised ScreenStackError (seen once in CI)."""
    app = FooterApp()
    async with app.run_test(size=(100, 10)) as pilot:
        footer = app.query_one(SteadyFooter)
        screen = footer.screen
        await pilot.pause()
        with pytest.MonkeyPatch.context() as patch:
            # What closing leaves while the widgets are still attached:
            patch.setitem(app._screen_stacks, app._current_mode, [])
            footer._settled(screen)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("collector_restored")
async def test_the_console_freezes_startup_objects_and_holds_the_collector_while_drawing(small_store: Store) -> None:
    frozen_before = gc.get_freeze_count()
    app = ConsoleApp(make_settings(small_store.url, tune_garbage_collector=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        await wait_until(pilot, lambda: gc.get_freeze_count() > frozen_before, what="the freeze")
        assert gc.isenabled()
        screen.query_one("#search", Input).value = "verdict:block"
        screen.metrics.pop("painted_ms", None)
        screen.apply_filter()
        assert not gc.isenabled()
        await wait_until(pilot, lambda: "painted_ms" in screen.metrics, what="the rows drawn")
        assert gc.isenabled()


async def test_an_embedded_console_leaves_the_collector_alone(small_store: Store) -> None:
    frozen_before = gc.get_freeze_count()
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        screen.query_one("#search", Input).value = "verdict:block"
        screen.apply_filter()
        assert gc.isenabled()
        await settle(pilot, app)
    assert gc.get_freeze_count() == frozen_before


def _footer_keys(screen: Any) -> list[str]:
    return [str(key.render()) for key in screen.query("FooterKey")]


@pytest.mark.parametrize(
    ("keymap", "key", "shown"), [({}, "enter", "⏎"), ({"incidents.open": "ctrl+o"}, "ctrl+o", "^o")]
)
async def test_the_footer_names_the_open_key_while_the_table_has_the_focus(
    small_store: Store, keymap: dict[str, str], key: str, shown: str
) -> None:
    app = ConsoleApp(make_settings(small_store.url, keymap=keymap))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_feed(pilot, app)
        assert screen.focused is screen.query_one(IncidentTable)
        await wait_until(pilot, lambda: any("Open" in k for k in _footer_keys(screen)), what="Open in the footer")
        opened = [k for k in _footer_keys(screen) if "Open" in k]
        assert len(opened) == 1
        assert shown in opened[0]
        await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), what="the detail")
