"""Incident queries on SQLite and PostgreSQL: keyset paging, filters, counts, polls, detail."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from agent.store import Store
from console.data import incidents as q
from console.data.filters import OPEN_STATES, SORT_KEYS, EventFilter, Sort, parse_query
from console.data.synthetic import asset_id
from console.data.tables import EVENT
from tests.console.conftest import NOW, SMALL

BLOCKS = sum(1 for n in range(SMALL.count) if n % 20 in (0, 7, 14))
AUDITS = sum(1 for n in range(SMALL.count) if n % 20 in (3, 16))


def all_pages(store: Store, flt: EventFilter, sort: Sort, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    with store.engine.connect() as conn:
        while True:
            page = q.fetch_page(conn, flt, sort, after=cursor, limit=limit)
            ids.extend(r.id for r in page.rows)
            if not page.has_more:
                return ids
            cursor = page.cursor


@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_equal_one_big_query_for_every_sort(any_small_store: Store, descending: bool) -> None:
    flt = EventFilter(verdicts=frozenset({"block", "audit", "allow"}))
    for key in SORT_KEYS:
        sort = Sort(key, descending)
        paged = all_pages(any_small_store, flt, sort, limit=37)
        with any_small_store.engine.connect() as conn:
            whole = [r.id for r in q.fetch_page(conn, flt, sort, limit=10_000).rows]
        assert len(paged) == len(set(paged)) == len(whole) == SMALL.count - SMALL.count // 20, key
        assert paged == whole, f"paging by {key} differs from one query"


def test_time_order_is_newest_first_and_scores_put_missing_last(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        rows = q.fetch_page(conn, EventFilter(), Sort(), limit=500).rows
        assert [r.time for r in rows] == sorted((r.time for r in rows), reverse=True)
        by_score = q.fetch_page(conn, EventFilter(), Sort("score"), limit=500).rows
    scores = [r.match_score for r in by_score]
    present = [s for s in scores if s is not None]
    assert present == sorted(present, reverse=True)
    assert scores[len(present) :] == [None] * (len(scores) - len(present))


def test_filters_select_what_they_say(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:

        def ids(flt: EventFilter) -> list[q.IncidentRow]:
            return list(q.fetch_page(conn, flt, Sort(), limit=1000).rows)

        blocks = ids(EventFilter(verdicts=frozenset({"block"})))
        assert len(blocks) == BLOCKS
        assert {r.verdict for r in blocks} == {"block"}
        assert len(ids(EventFilter(verdicts=frozenset({"block", "audit"})))) == BLOCKS + AUDITS
        user = ids(EventFilter(user="user003"))
        assert user
        assert {r.user for r in user} == {"user003"}
        globbed = ids(EventFilter(host="api.*.com"))
        assert globbed
        assert all(r.host and r.host.startswith("api.") for r in globbed)
        assert {r.service_id for r in ids(EventFilter(service="otter"))} == {"otter"}
        since = NOW - timedelta(hours=6)
        recent = ids(EventFilter(since=since))
        assert recent
        assert all(r.time >= since for r in recent)
        opened = ids(EventFilter(states=OPEN_STATES))
        assert opened
        assert all(r.triage_state != "closed" for r in opened)
        # A word matches the matched asset's enrolled file name too (not stored on the event).
        by_file = ids(parse_query("dictation-00007", now=NOW))
        assert by_file
        assert {r.asset_id for r in by_file} == {asset_id(7)}
        # Case does not matter; words combine with AND.
        assert ids(parse_query("OTTER verdict:block", now=NOW)) == [r for r in blocks if r.service_id == "otter"]
        assert ids(parse_query("nothing-like-this", now=NOW)) == []
        # LIKE wildcards typed by the analyst are literal characters.
        assert ids(parse_query("user_03", now=NOW)) == []


def test_escalated_filter_and_asset_prefix(any_small_store: Store) -> None:
    target = f"{7:032x}"
    with any_small_store.engine.begin() as conn:
        conn.execute(update(EVENT).where(EVENT.c.id == target).values(escalated=True))
    with any_small_store.engine.connect() as conn:
        escalated = q.fetch_page(conn, EventFilter(escalated=True), Sort()).rows
        assert [r.id for r in escalated] == [target]
        prefix = asset_id(7)[:58]
        assert {r.asset_id for r in q.fetch_page(conn, EventFilter(asset=prefix), Sort(), limit=1000).rows} >= {
            asset_id(7)
        }


def test_counts_stop_at_the_cap(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        exact = q.count_matching(conn, EventFilter(verdicts=frozenset({"block"})))
        assert (exact.value, exact.capped, exact.text()) == (BLOCKS, False, f"{BLOCKS}")
        capped = q.count_matching(conn, EventFilter(), cap=100)
        assert (capped.value, capped.capped, capped.text()) == (100, True, "100+")


def test_poll_finds_late_rows_inside_the_look_back_window(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        newest = q.fetch_page(conn, EventFilter(), Sort(), limit=1).rows[0]
        polled = q.poll_ids(conn, EventFilter(), newest.time - timedelta(minutes=30))
    assert polled[0] == (newest.id, newest.time)
    assert all(t >= newest.time - timedelta(minutes=30) for _, t in polled)


def test_detail_has_asset_agent_history_and_related(any_small_store: Store) -> None:
    event_id = f"{7:032x}"  # a block with a matched asset
    with any_small_store.engine.connect() as conn:
        detail = q.fetch_detail(conn, event_id)
    assert detail is not None
    assert detail.row.verdict == "block"
    assert detail.asset is not None
    assert detail.asset.path.endswith("dictation-00007.mp4")
    assert detail.agent_hostname
    assert detail.agent_hostname.startswith("ward")
    assert detail.history == ()
    labels = {g.label: g for g in detail.related}
    assert set(labels) == {"same user", "same asset", "same service"}
    for group in detail.related:
        assert event_id not in {r.id for r in group.rows}
        assert all(r.verdict in ("block", "audit") for r in group.rows)
        assert group.total >= len(group.rows)
    assert all(r.asset_id == asset_id(7) for r in labels["same asset"].rows)


def test_rows_with_missing_fields_and_broken_details_are_readable(any_small_store: Store) -> None:
    with any_small_store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO event (id, time, agent_id, kind, verdict, reason, details, triage_state) "
                "VALUES ('ffff0000000000000000000000000001', :t, '', 'upload', 'block', '', '{not json', 'new')"
            ),
            {"t": (NOW - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S.%f") if any_small_store.is_sqlite else NOW},
        )
    with any_small_store.engine.connect() as conn:
        row = q.fetch_page(conn, EventFilter(), Sort(), limit=1).rows[0]
        detail = q.fetch_detail(conn, "ffff0000000000000000000000000001")
    assert row.id == "ffff0000000000000000000000000001"
    assert (row.user, row.host, row.service_id, row.asset_path, row.match_score) == (None, None, None, None, None)
    assert detail is not None
    assert detail.details is None
    assert detail.details_error
    assert all(g.rows == () and g.value is None for g in detail.related)


def test_resolve_id_by_prefix(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        assert q.resolve_id(conn, f"{7:032x}") == [f"{7:032x}"]
        assert len(q.resolve_id(conn, f"{7:032x}"[:31])) == 2  # ambiguous: the caller asks for more
        assert q.resolve_id(conn, f"{0x18F:032x}".upper()) == [f"{0x18F:032x}"]
        assert q.resolve_id(conn, "eeee") == []


def test_missing_event_detail_is_none(small_store: Store) -> None:
    with small_store.engine.connect() as conn:
        assert q.fetch_detail(conn, "nope") is None
        assert q.fetch_rows(conn, ["nope", f"{1:032x}"]).keys() == {f"{1:032x}"}


def test_details_json_is_parsed(small_store: Store) -> None:
    with small_store.engine.connect() as conn:
        detail = q.fetch_detail(conn, f"{3:032x}")  # an audit: the proxy's details
        allowed = q.fetch_detail(conn, f"{1:032x}")
    assert detail is not None
    assert allowed is not None
    assert allowed.details == json.loads('{"parts": 1}')
    assert detail.details is not None
    assert detail.details["payload_sha256"] == f"{3:064x}"
    assert detail.details["matched_part"] == "multipart:file"
    assert detail.details["cmdline"].endswith("/Recordings/dictation-00003.mp3")
