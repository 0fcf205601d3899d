"""A million synthetic events: the feed opens and a filter applies, on indexes, in the real app.

No timing asserts here (benchmarks/console_scale.py measures); this checks that the console
works at that size and that its queries are planned on indexes, which is what keeps it fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Connection
from textual.widgets import Input

from agent.store import Store, open_store
from console.app import ConsoleApp
from console.data import incidents as q
from console.data.filters import EventFilter, Sort, parse_query
from console.data.synthetic import SyntheticSpec, generate
from console.widgets.incident_table import IncidentTable
from tests.console.conftest import NOW, make_settings, wait_for_feed, wait_until

MILLION = SyntheticSpec(count=1_000_000, end=NOW - timedelta(seconds=1), span=timedelta(days=30))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def million_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("million") / "million.db"
    store = open_store(f"sqlite:///{path}")
    generate(store, MILLION)
    yield store
    store.dispose()


def plan(conn: Connection, flt: EventFilter, sort: Sort) -> str:
    query = q._base(conn, flt).order_by(*q.order_by(sort)).limit(q.PAGE_SIZE + 1)
    compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
    rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return " | ".join(str(r[-1]) for r in rows)


def test_feed_queries_are_planned_on_indexes(million_store: Store) -> None:
    cases = {
        EventFilter(): "ix_event_time",
        EventFilter(verdicts=frozenset({"block"}), since=NOW - timedelta(days=1)): "ix_event_verdict_time",
        EventFilter(user="user042"): "ix_event_user_time",
        EventFilter(service="otter"): "ix_event_service_time",
        EventFilter(escalated=True): "ix_event_escalated_time",
    }
    with million_store.engine.connect() as conn:
        for flt, index in cases.items():
            text = plan(conn, flt, Sort())
            assert index in text, f"{flt.describe()}: {text}"
            assert not re.search(r"SCAN event(?! USING)", text), text
            assert "USE TEMP B-TREE FOR ORDER BY" not in text, text


async def test_a_million_events_open_and_filter_in_the_app(million_store: Store) -> None:
    app = ConsoleApp(make_settings(million_store.url, live=True, poll_interval=0.5))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await wait_for_feed(pilot, app, timeout=60)
        table = screen.query_one(IncidentTable)
        assert table.row_count == q.PAGE_SIZE
        assert screen.count is not None
        assert screen.count.capped
        assert screen.count.text() == "100,000+"
        assert screen.feed.rows[0].id == f"{MILLION.count - 1:032x}"
        search = screen.query_one("#search", Input)
        search.value = "verdict:block since:24h user:user040"
        await pilot.press("slash", "enter")
        await wait_until(
            pilot,
            lambda: screen.feed.filter.user == "user040" and screen.count is not None and "apply_ms" in screen.metrics,
            timeout=60,
        )
        rows = screen.feed.rows
        assert rows, "user040 has blocks in the last day of the synthetic month"
        assert all(r.verdict == "block" and r.user == "user040" for r in rows)
        assert all(r.time >= NOW - timedelta(hours=24) for r in rows)
        with million_store.engine.connect() as conn:
            expected = q.count_matching(conn, parse_query("verdict:block since:24h user:user040", now=NOW))
        assert screen.count == expected
        assert not expected.capped
