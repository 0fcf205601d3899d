"""Textual-free parts: search syntax, the feed view model, inventory folding, health parsing, display."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from console.data import display
from console.data.feed import LOOKBACK, IncidentFeed
from console.data.filters import OPEN_STATES, EventFilter, QueryError, Sort, parse_query, parse_time
from console.data.fleet import AgentLine, parse_health
from console.data.incidents import Page
from console.data.rows import IncidentRow
from tests.console.conftest import NOW


def row(n: int, *, at: datetime | None = None) -> IncidentRow:
    return IncidentRow(
        id=f"{n:032x}",
        time=at or NOW - timedelta(minutes=100 - n),
        verdict="block",
        triage_state="new",
        escalated=False,
        classification=None,
        kind="upload",
        service_id="openai",
        service_category="chat",
        host="api.openai.com",
        user="alice",
        pid=1,
        process_name="curl",
        asset_id=None,
        asset_path=None,
        match_kind=None,
        match_score=None,
        agent_id="ws-1",
        reason="",
    )


def test_search_terms_become_typed_fields() -> None:
    flt = parse_query(
        'verdict:block,audit state:open service:openai user:alice since:24h until:2026-03-01 "two words" x',
        now=NOW,
    )
    assert flt.verdicts == {"block", "audit"}
    assert flt.states == OPEN_STATES
    assert (flt.service, flt.user) == ("openai", "alice")
    assert flt.since == NOW - timedelta(hours=24)
    assert flt.until == datetime(2026, 3, 1, tzinfo=UTC)
    assert flt.words == ("two words", "x")
    assert "verdict:audit,block" in flt.describe()
    assert "'two words'" in flt.describe()
    # Terms override the bar's values for the same key; unknown keys are words.
    base = EventFilter(user="bob", verdicts=frozenset({"allow"}))
    merged = parse_query("user:carol http://x", now=NOW, base=base)
    assert (merged.user, merged.verdicts, merged.words) == ("carol", {"allow"}, ("http://x",))
    assert parse_query("is:escalated", now=NOW).escalated is True
    assert parse_query("state:in-progress", now=NOW).states == {"in_progress"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("verdict:maybe", "verdict:maybe is not valid"),
        ("since:yesterdayish", "is not a time"),
        ("is:urgent", "is:escalated"),
        ("user:", "needs a value"),
        ('"unbalanced', "cannot read"),
        (" ".join(f"w{i}" for i in range(9)), "too many"),
    ],
)
def test_bad_search_terms_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(text, now=NOW)


def test_relative_times() -> None:
    assert parse_time("30m", now=NOW, field_name="since") == NOW - timedelta(minutes=30)
    assert parse_time("2w", now=NOW, field_name="since") == NOW - timedelta(weeks=2)
    assert parse_time("today", now=NOW, field_name="since") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("2026-02-01T08:30+01:00", now=NOW, field_name="x") == datetime(2026, 2, 1, 7, 30, tzinfo=UTC)


def loaded_feed(rows: list[IncidentRow], *, has_more: bool = False, sort: Sort | None = None) -> IncidentFeed:
    feed = IncidentFeed()
    feed.reset(EventFilter(), sort or Sort())
    ordered = sorted(rows, key=lambda r: (r.time, r.id), reverse=True)
    feed.load_first(Page(rows=tuple(ordered), cursor=None, has_more=has_more), now=NOW)
    return feed


def test_new_rows_are_placed_in_time_order_including_late_ones() -> None:
    feed = loaded_feed([row(n) for n in (10, 20, 30)])
    assert feed.poll_since() == row(30).time - LOOKBACK
    late = row(25)  # older than the newest row shown: written late by the agent
    newest = row(40)
    assert feed.on_poll([(newest.id, newest.time), (late.id, late.time), (row(30).id, row(30).time)]) == [
        newest.id,
        late.id,
    ]
    insertion = feed.accept([late, newest])
    assert [r.id for r in feed.rows] == [row(n).id for n in (40, 30, 25, 20, 10)]
    assert insertion.indexes == [0, 2]
    assert insertion.count_before(3) == 2
    assert insertion.count_before(1) == 1
    assert feed.accept([newest]).rows == []  # seen once, never twice


def test_rows_beyond_the_loaded_page_wait_for_paging() -> None:
    feed = loaded_feed([row(n) for n in (50, 60)], has_more=True)
    old = row(5)
    assert feed.accept([old]).rows == []
    assert feed.index_of(old.id) is None


def test_pause_holds_rows_and_resume_places_them() -> None:
    feed = loaded_feed([row(10)])
    feed.paused = True
    assert feed.accept([row(11), row(12)]).rows == []
    assert feed.new_waiting == 2
    assert len(feed) == 1
    insertion = feed.resume()
    assert [r.id for r in insertion.rows] == [row(12).id, row(11).id]
    assert [r.id for r in feed.rows] == [row(n).id for n in (12, 11, 10)]


def test_other_sort_orders_count_new_rows_after_a_seeding_poll() -> None:
    feed = loaded_feed([row(10)], sort=Sort("score"))
    existing = [(row(n).id, row(n).time) for n in (10, 11)]
    assert feed.on_poll(existing) == []  # the first poll only records what exists
    assert feed.on_poll([*existing, (row(12).id, row(12).time)]) == [row(12).id]
    assert feed.accept([row(12)]).rows == []
    assert feed.new_waiting == 1


def test_marks_only_for_loaded_rows_and_cleared_by_a_new_view() -> None:
    feed = loaded_feed([row(1), row(2)])
    assert feed.toggle_mark(row(1).id) is True
    assert feed.toggle_mark("unknown") is False
    assert feed.mark_all_loaded() == 2
    feed.reset(EventFilter(user="x"), Sort())
    assert feed.marked == set()


def test_health_json_is_read_defensively() -> None:
    parts, error = parse_health('{"proxy": {"status": "down", "message": "port busy"}, "watcher": "ok"}')
    assert error is None
    assert [(p.name, p.status) for p in parts] == [("proxy", "down"), ("watcher", "ok")]
    assert parse_health("{oops")[1] == "health is not valid JSON"
    agent = AgentLine("a", "h", "", "", NOW, NOW - timedelta(minutes=5), None, parts, None)
    assert agent.health == "down"
    assert agent.liveness(NOW) == "stale"
    assert AgentLine("a", "h", "", "", NOW, NOW, None, (), "bad").health == "unknown"


def test_display_never_shows_none() -> None:
    assert display.text(None) == display.MISSING
    assert display.asset_label(None, "ab" * 32).endswith("…")
    assert display.asset_label("/a/b/c.mp3", "x") == "c.mp3"
    assert display.size(1536) == "1.5 KB"
    assert display.offset(75.0) == "01:15"
    assert display.ago(NOW - timedelta(hours=3), NOW) == "3h ago"


def test_the_data_layer_does_not_import_textual() -> None:
    code = (
        "import sys, console.data.incidents, console.data.triage, console.data.export, console.data.feed, "
        "console.data.inventory, console.data.fleet, console.data.source, console.data.display; "
        "sys.exit('textual' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
