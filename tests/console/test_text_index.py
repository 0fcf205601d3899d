"""The trigram text index behind the console's free-text words (SQLite FTS5, PostgreSQL pg_trgm).

What must hold: the index follows every insert, change and delete of an event; a word found
through it selects exactly the rows the scan selects; the plan takes the index for rare words
and the scan for common ones; a store without the index still answers; PostgreSQL's planner
can use its GIN index for the expression the console sends.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, select, update

from agent.store import Store, text_index
from agent.store.events import make_event, write_events
from console.data import bulk
from console.data import incidents as q
from console.data.filters import EventFilter, Sort, parse_query
from console.data.synthetic import asset_id
from console.data.tables import EVENT
from console.data.triage import CLASSIFICATIONS, TriageRequest
from tests.console.conftest import NOW

# Common and rare, short and long, odd characters, a file name only the asset table holds, and
# words no row holds; "USER0" and "Otter" check that case is ignored the same way.
WORDS = [
    "user",
    "USER0",
    "Otter",
    "openai.com",
    "matched an enrolled",
    "00000000000000000000000000000150",
    "dictation-00007",
    "ws-00",
    "firefox",
    "a",
    "ai",
    "100%",
    'say "x"',
    "user_03",
    "nothing-like-this",
]


def _ids(conn: Connection, flt: EventFilter, plan: q.TextPlan, sort: Sort | None = None) -> list[str]:
    query = q.page_query(conn, flt, sort or Sort(), plan, after=None, limit=100_000)
    return [row.id for row in conn.execute(query).all()]


def _count(conn: Connection, flt: EventFilter, plan: q.TextPlan) -> int:
    clauses = q.where_clauses(flt, sqlite=conn.dialect.name == "sqlite", plan=plan)
    return int(conn.execute(select(func.count()).select_from(EVENT).where(*clauses)).scalar_one())


def test_both_plans_select_the_same_rows(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        assert text_index.has_text_index(conn)
        for word in WORDS:
            for text in (word, f"{word} verdict:block"):
                flt = parse_query(f"'{word}'" if " " in word or '"' in word else text, now=NOW)
                scanned = _ids(conn, flt, "scan")
                assert _ids(conn, flt, "index") == scanned, text
                assert _count(conn, flt, "index") == len(scanned), text
        # Several words at once, one of them too short for the index; another sort order.
        flt = parse_query("user0 ai firefox", now=NOW)
        assert _ids(conn, flt, "index") == _ids(conn, flt, "scan") != []
        by_host = Sort("host", descending=False)
        assert _ids(conn, flt, "index", by_host) == _ids(conn, flt, "scan", by_host) != []


def test_plan_takes_the_index_for_rare_words_and_the_scan_for_common_ones(
    small_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(q, "MIN_INDEXED", 10)
    rare = parse_query("user003", now=NOW)
    common = parse_query("upload", now=NOW)
    with small_store.engine.connect() as conn:
        # 400 events: the index wins for a page up to isqrt(201 x 400 / 8) = 100 candidates,
        # for a count (capped at 10,000) up to isqrt(10,001 x 400 / 8) = 707.
        assert 0 < text_index.candidates(conn, "user003", 1000) <= 100
        assert 100 < text_index.candidates(conn, "upload", 1000) <= 400
        assert q.text_plan(conn, rare) == "index"
        assert q.text_plan(conn, common) == "scan"
        assert q.text_plan(conn, common, wanted=q.TEXT_COUNT_CAP + 1) == "index"
        # The rarest word decides; short words and no words scan.
        assert q.text_plan(conn, parse_query("upload user003", now=NOW)) == "index"
        assert q.text_plan(conn, parse_query("ai", now=NOW)) == "scan"
        assert q.text_plan(conn, EventFilter()) == "scan"
        # The plan the page takes reads the index (the scan plan would not name it).
        query = q._base(conn, rare, q.text_plan(conn, rare)).order_by(*q.order_by(Sort())).limit(201)
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all())
        assert "event_text VIRTUAL TABLE" in plan, plan
        rows = q.fetch_page(conn, rare, Sort(), limit=1000).rows
        assert rows
        assert {r.user for r in rows} == {"user003"}
        assert q.count_matching(conn, common).value == _count(conn, common, "scan")
        monkeypatch.setattr(q, "LOOKUP_COST", 1000)  # lookups dearer: the count scans too
        assert q.text_plan(conn, common, wanted=q.TEXT_COUNT_CAP + 1) == "scan"


def test_ids_match_by_their_start(any_small_store: Store) -> None:
    """An event or asset id is found from its first characters (any case), not from its middle."""
    with any_small_store.engine.connect() as conn:

        def ids(text: str) -> list[str]:
            return [r.id for r in q.fetch_page(conn, parse_query(text, now=NOW), Sort(), limit=1000).rows]

        assert ids("00000000000000000000000000000150") == ["00000000000000000000000000000150"]
        assert sorted(ids("0000000000000000000000000000015")) == [f"{n:032x}" for n in range(0x150, 0x160)]
        assert ids("0000000000000000000000000000015A".lower()) == ids("0000000000000000000000000000015A")
        assert ids("0000000000000000000000000000015a") == ["0000000000000000000000000000015a"]
        assert ids("150") == []  # in the middle of ids only
        # Asset ids are 64 characters: the whole id can start no event id.
        by_asset = q.fetch_page(conn, parse_query(asset_id(7).upper(), now=NOW), Sort(), limit=1000).rows
        assert by_asset
        assert {r.asset_id for r in by_asset} == {asset_id(7)}


def test_index_follows_inserts_changes_and_deletes(small_store: Store) -> None:
    event = make_event(
        id="f" * 32,
        time=NOW - timedelta(minutes=5),
        agent_id="ws-900",
        kind="upload",
        verdict="block",
        reason="zebrafinch transcription upload",
        host="api.zebrafinch.example",
        details={},
        triage_state="new",
    )
    write_events(small_store, [event])
    with small_store.engine.begin() as conn:
        assert text_index.candidates(conn, "zebrafinch", 10) == 1
        conn.execute(update(EVENT).where(EVENT.c.id == "f" * 32).values(host="api.kestrel.example"))
        assert text_index.candidates(conn, "kestrel", 10) == 1
        assert text_index.candidates(conn, "zebrafinch", 10) == 1  # still in the reason
        conn.execute(update(EVENT).where(EVENT.c.id == "f" * 32).values(reason="changed"))
        assert text_index.candidates(conn, "zebrafinch", 10) == 0
        # Triage changes no indexed column (and must not rewrite the index).
        conn.execute(update(EVENT).where(EVENT.c.id == "f" * 32).values(triage_state="closed"))
        assert text_index.candidates(conn, "kestrel", 10) == 1
        conn.execute(delete(EVENT).where(EVENT.c.id == "f" * 32))
        assert text_index.candidates(conn, "kestrel", 10) == 0
        # FTS5's own consistency check of the index against the event table.
        conn.exec_driver_sql("INSERT INTO event_text(event_text, rank) VALUES ('integrity-check', 1)")


def test_a_store_without_the_index_still_answers(small_store: Store) -> None:
    flt = parse_query("user003", now=NOW)
    with small_store.engine.connect() as conn:
        expected = _ids(conn, flt, "index")
    with small_store.engine.begin() as conn:
        for action in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER event_text_{action}")
        conn.exec_driver_sql("DROP TABLE event_text")
    with small_store.engine.connect() as conn:
        assert not text_index.has_text_index(conn)
        assert q.text_plan(conn, flt) == "scan"
        assert [r.id for r in q.fetch_page(conn, flt, Sort(), limit=1000).rows] == expected != []


def test_bulk_scope_of_a_word_counts_what_the_scan_counts(small_store: Store) -> None:
    """A bulk action reads every match (`wanted=None`) through the index and counts what a scan counts."""
    flt = parse_query("upload", now=NOW)
    with small_store.engine.connect() as conn:
        assert q.text_plan(conn, flt, wanted=None) == "index"  # under MIN_INDEXED in this small store
        request = TriageRequest(action="close", analyst="ana", classification=CLASSIFICATIONS[0])
        assert bulk.scope(conn, flt, request).matching == _count(conn, flt, "scan") > 100


def test_postgres_pages_of_a_rare_word_go_through_the_gin_index(
    pg_small_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned with its ORDER BY and LIMIT, PostgreSQL walks the time index whatever the word;
    the index plan fences the match off, so the GIN index finds the candidates."""
    monkeypatch.setattr(q, "MIN_INDEXED", 10)
    rare, common = parse_query("user003", now=NOW), parse_query("upload", now=NOW)
    with pg_small_store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE event")
        assert text_index.event_rows(conn) == 400
        assert 0 < text_index.candidates(conn, "user003", 1000) <= 100
        assert q.text_plan(conn, rare) == "index"
        assert q.text_plan(conn, common) == "scan"
        # A 400-row table is read whole, or through any index as a stand-in, otherwise.
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_indexscan = off")
        query = q.page_query(conn, rare, Sort(), "index", after=None, limit=201)
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}").all())
        assert text_index.PG_INDEX in plan, plan
        page = q.fetch_page(conn, rare, Sort(), limit=10)
        assert page.has_more
        assert {r.user for r in page.rows} == {"user003"}
        following = q.fetch_page(conn, rare, Sort(), after=page.cursor, limit=1000)
        assert [r.id for r in page.rows + following.rows] == _ids(conn, rare, "scan")


def test_postgres_expression_is_the_one_the_migration_indexed(pg_small_store: Store) -> None:
    migration: Any = importlib.import_module("agent.store.migrations.versions.0007_event_text_index")
    assert text_index.pg_text_expression() == migration.PG_TEXT_EXPRESSION
    assert migration.TEXT_COLUMNS == text_index.TEXT_COLUMNS
    flt = parse_query("user003", now=NOW)
    with pg_small_store.engine.connect() as conn:
        assert text_index.has_text_index(conn)
        conn.exec_driver_sql("SET enable_seqscan = off")  # a 400-row table is read whole otherwise
        query = select(EVENT.c.id).where(*q.where_clauses(flt, sqlite=False))
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}").all())
        assert text_index.PG_INDEX in plan, plan
        rows = q.fetch_page(conn, flt, Sort(), limit=1000).rows
        assert rows
        assert {r.user for r in rows} == {"user003"}
