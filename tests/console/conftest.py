"""Console fixtures: deterministic synthetic stores, pinned clock and time zone, pilot helpers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.store import Store, open_store
from console.app import ConsoleApp
from console.data.synthetic import SyntheticSpec, generate
from console.screens.incidents import IncidentsScreen
from console.settings import ConsoleSettings
from console.widgets.filter_bar import FilterBar

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMALL = SyntheticSpec(count=400, end=NOW - timedelta(minutes=1), span=timedelta(days=2), users=12, assets=40, agents=6)


def frozen_clock() -> datetime:
    return NOW


def make_settings(url: str, **overrides: Any) -> ConsoleSettings:
    values: dict[str, Any] = {
        "url": url,
        "analyst": "alice",
        "tz": UTC,
        "clock": frozen_clock,
        "live": False,
        "poll_interval": 0.2,
    }
    values.update(overrides)
    return ConsoleSettings(**values)


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Store]:
    """400 events over two days, with assets, agents and inventory (SQLite)."""
    store = open_store(f"sqlite:///{tmp_path / 'console.db'}")
    generate(store, SMALL)
    yield store
    store.dispose()


@pytest.fixture
def pg_small_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    generate(store, SMALL)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_small_store(request: pytest.FixtureRequest) -> Store:
    """The small store on SQLite and on PostgreSQL."""
    name = "small_store" if request.param == "sqlite" else "pg_small_store"
    store: Store = request.getfixturevalue(name)
    return store


async def wait_until(pilot: Any, condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until `condition()` holds (workers are threads: pause, then look again)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


def shown(app: ConsoleApp, screen_type: type) -> bool:
    """The active screen is a `screen_type` whose widgets are mounted (safe to query)."""
    screen = app.screen
    return isinstance(screen, screen_type) and screen.is_mounted and len(screen.children) > 0


async def wait_for_feed(pilot: Any, app: ConsoleApp, *, timeout: float = 10.0) -> IncidentsScreen:
    """Until the incidents screen has shown its first page (and its count) and the store is open.

    A SQLite store's first page is shown before SQLAlchemy opens the store (console.data.first_page);
    tests then act on the open store and the filter bar's real controls and footer (built after the rows).
    """
    await wait_until(
        pilot,
        lambda: (
            (s := app.incidents_screen()) is not None
            and "rows" in s.metrics
            and s.count is not None
            and app.store is not None
            and s.query_one(FilterBar).ready
            and not s.query("#footer-placeholder")
        ),
        timeout=timeout,
        what="the first page of incidents",
    )
    screen = app.incidents_screen()
    assert screen is not None
    return screen


async def settle(pilot: Any, app: ConsoleApp, *, timeout: float = 10.0) -> None:
    """Wait until no worker runs, then for the screen to process what they handed back."""
    for _ in range(2):
        await wait_until(pilot, lambda: not any(w.is_running for w in app.workers), timeout=timeout, what="workers")
        await pilot.pause()
    await asyncio.sleep(0)


def plain(widget: Any) -> str:
    """The text a Static (or Label) shows, whatever it holds (str, Rich Text, Rich renderables)."""
    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, color_system=None, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()
