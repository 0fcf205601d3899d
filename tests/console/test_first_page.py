"""The first page read with plain sqlite3 (console.data.first_page) against the SQLAlchemy path.

The console shows this page before SQLAlchemy is imported, so it must be exactly the rows,
cursor and count `console.data.incidents` gives for the same view; any other store or view
must fall back to the usual path (which migrates or names the problem).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Footer, Input, Select, Static
from textual.widgets._footer import FooterKey

from agent.store import Store, head_revision, open_store
from console.app import ConsoleApp
from console.data import first_page
from console.data import incidents as queries
from console.data.filters import EventFilter, Sort
from console.data.first_page import head_revision_from_files, read_first_page
from console.data.rows import Count, Page
from console.data.synthetic import SyntheticSpec, generate
from console.screens.problem import StoreProblemScreen
from console.widgets.filter_bar import FilterBar
from console.widgets.incident_table import IncidentTable
from tests.console.conftest import NOW, SMALL, make_settings, wait_until


def sqlalchemy_view(store: Store, *, cap: int | None = None) -> tuple[Page, Count]:
    with store.engine.connect() as conn:
        page = queries.fetch_page(conn, EventFilter(), Sort("time"))
        return page, queries.count_matching(conn, EventFilter(), cap=cap)


def set_schema_version(url: str, version: str) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (version,))
    conn.close()


def test_the_constants_and_head_are_the_sqlalchemy_paths() -> None:
    assert first_page.PAGE_SIZE == queries.PAGE_SIZE
    assert first_page.COUNT_CAP == queries.COUNT_CAP
    assert head_revision_from_files() == head_revision()


def test_first_page_equals_the_sqlalchemy_page_and_count(small_store: Store) -> None:
    found = read_first_page(small_store.url, EventFilter(), Sort("time"))
    assert found is not None
    page, count = found
    expected_page, expected_count = sqlalchemy_view(small_store)
    assert len(page.rows) == queries.PAGE_SIZE  # 400 events: a full page and more
    assert page.has_more
    assert page == expected_page  # every field of every row, the cursor and has_more
    assert count == expected_count


def test_a_last_page_and_a_capped_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'few.db'}")
    try:
        # 150 events within seconds: one page, nothing more, and a count over a lowered cap.
        generate(store, SyntheticSpec(count=150, end=NOW, span=SMALL.span / 100_000, users=3, assets=5, agents=2))
        monkeypatch.setattr(first_page, "COUNT_CAP", 100)
        found = read_first_page(store.url, EventFilter(), Sort("time"))
        expected = sqlalchemy_view(store, cap=100)
    finally:
        store.dispose()
    assert found is not None
    assert found[0] == expected[0]
    assert not found[0].has_more
    assert found[1] == expected[1]
    assert found[1].capped


def test_other_views_and_stores_take_the_usual_path(small_store: Store, tmp_path: Path) -> None:
    url = small_store.url
    assert read_first_page(url, EventFilter(verdicts=frozenset({"block"})), Sort("time")) is None
    assert read_first_page(url, EventFilter(), Sort("score")) is None
    assert read_first_page(url, EventFilter(), Sort("time", descending=False)) is None
    assert read_first_page(f"sqlite:///{tmp_path / 'missing.db'}", EventFilter(), Sort("time")) is None
    assert read_first_page("postgresql://u@localhost/x", EventFilter(), Sort("time")) is None
    older = tmp_path / "older.db"
    source, copy = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(older)
    source.backup(copy)
    source.close()
    copy.close()
    set_schema_version(f"sqlite:///{older}", "0005")
    assert read_first_page(f"sqlite:///{older}", EventFilter(), Sort("time")) is None
    not_a_store = tmp_path / "notes.db"
    not_a_store.write_text("not a database")
    assert read_first_page(f"sqlite:///{not_a_store}", EventFilter(), Sort("time")) is None


async def test_the_console_shows_the_newest_events_before_the_store_opens(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    expected, count = sqlalchemy_view(small_store)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.incidents_screen()
        assert screen is not None
        await wait_until(pilot, lambda: "rows" in screen.metrics, what="first rows")
        assert screen.metrics.get("early_page") == 1.0  # read with sqlite3, not SQLAlchemy
        table = app.screen.query_one(IncidentTable)
        shown = [row.key.value for row in table.ordered_rows]
        assert shown == [r.id for r in expected.rows]
        assert screen.count == count
        # Once SQLAlchemy has opened the store, the same rows stay and further pages load.
        await wait_until(pilot, lambda: app.store is not None, timeout=30, what="store opened")
        table.move_cursor(row=table.row_count - 1)
        await wait_until(pilot, lambda: len(screen.feed) > queries.PAGE_SIZE, timeout=15, what="second page")
        with small_store.engine.connect() as conn:
            second = queries.fetch_page(conn, EventFilter(), Sort("time"), after=expected.cursor)
        assert [r.id for r in screen.feed.rows] == [r.id for r in expected.rows + second.rows]


async def test_a_store_with_an_unexpected_schema_still_gets_the_clear_error(small_store: Store) -> None:
    set_schema_version(small_store.url, "9999")
    small_store.dispose()
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, StoreProblemScreen) and bool(app.screen.query("#problem-message")),
            timeout=30,
            what="the store problem screen",
        )
        assert isinstance(app.screen, StoreProblemScreen)
        assert "created by a newer PhiWall" in app.screen.message
        screen = app.incidents_screen()
        assert screen is not None
        assert "rows" not in screen.metrics  # nothing read past the check


async def test_the_filter_bar_and_footer_paint_look_alikes_then_the_real_widgets(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.incidents_screen()
        assert screen is not None
        bar = screen.query_one(FilterBar)
        assert not bar.ready
        placeholders = [p.id for p in bar.query(".select-placeholder")]
        # On a fast run the first rows may already have swapped the look-alikes out (build()
        # started, `ready` follows a refresh later): then there is nothing left to look at.
        if placeholders or not bar._built:
            assert placeholders == ["verdict-placeholder", "state-placeholder", "range-placeholder"]
            assert "any verdict" in str(bar.query_one("#verdict-placeholder", Static).render())
        await pilot.press("slash")  # the analyst reaches for the search box before the rows come
        await wait_until(pilot, lambda: bar.ready, what="the real controls")
        assert isinstance(app.focused, Input)
        assert app.focused.id == "search"
        assert not bar.query(".select-placeholder")
        await wait_until(pilot, lambda: "rows" in screen.metrics, what="first rows")
        # The footer follows the first rows, with the screen's keys in it.
        await wait_until(pilot, lambda: bool(screen.query(Footer)) and bool(screen.query(FooterKey)), what="footer")
        assert not screen.query("#footer-placeholder")
        bar.query_one("#verdict", Select).value = "block"
        await wait_until(pilot, lambda: screen.feed.filter.verdicts == {"block"}, timeout=30, what="the filter")
