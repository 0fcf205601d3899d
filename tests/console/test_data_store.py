"""Opening the store for the console (migrate vs read-only), inventory and fleet figures on both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from agent.errors import StoreError
from agent.store import Store, make_engine
from agent.store.migrate import alembic_config, head_revision
from console.data import fleet, inventory
from console.data.source import analyst_name, open_for_console
from tests.console.conftest import NOW, SMALL


def make_old_store(url: str) -> None:
    """A store at the schema before the console's migration, holding one event."""
    engine = make_engine(url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.commit()
        conn.execute(
            text(
                "insert into event (id, time, agent_id, kind, verdict, reason, details, triage_state) "
                "values ('e1', CURRENT_TIMESTAMP, 'a', 'upload', 'block', 'old', '{}', 'new')"
            )
        )
        conn.commit()
    engine.dispose()


def test_analyst_migrates_an_older_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_old_store(url)
    store = open_for_console(url, read_only=False)
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        assert conn.execute(text("select escalated, reason from event")).one() == (0, "old")
    store.dispose()


def test_read_only_says_what_is_wrong_with_an_older_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_old_store(url)
    with pytest.raises(StoreError, match=r"schema is at 0002.*read-only mode never migrates"):
        open_for_console(url, read_only=True)
    with pytest.raises(StoreError, match="does not exist"):
        open_for_console(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True)


def test_read_only_connections_refuse_writes(small_store: Store) -> None:
    store = open_for_console(small_store.url, read_only=True)
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from event")).scalar() == SMALL.count
        with pytest.raises(OperationalError, match="readonly"):
            conn.execute(text("delete from event"))
    store.dispose()


def test_read_only_on_postgres_refuses_writes(pg_small_store: Store) -> None:
    store = open_for_console(pg_small_store.url, read_only=True)
    with store.engine.connect() as conn, pytest.raises(Exception, match="read-only transaction"):
        conn.execute(text("delete from event"))
    store.dispose()


def test_unreachable_postgres_is_one_clear_line() -> None:
    with pytest.raises(StoreError, match=r"cannot open store .*127\.0\.0\.1:1/x: connection failed") as caught:
        open_for_console("postgresql+psycopg://nobody:secret@127.0.0.1:1/x", read_only=False)
    assert "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_analyst_identity_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHIWALL_ANALYST", "from-env")
    assert analyst_name("given") == "given"
    assert analyst_name(None) == "from-env"
    monkeypatch.delenv("PHIWALL_ANALYST")
    assert analyst_name(None)


def test_inventory_folds_agents_and_adds_catalog_hosts_from_events(any_small_store: Store) -> None:
    with any_small_store.engine.connect() as conn:
        lines = inventory.merge(inventory.fetch_inventory(conn), inventory.fetch_event_stats(conn, None))
        apps = inventory.fetch_local_apps(conn)
    by_host = {line.host: line for line in lines}
    unknown = [line for line in lines if line.status == "unknown"]
    assert len(unknown) == 3
    assert all(line.service_id is None for line in unknown)
    otter = by_host["otter.ai"]
    assert otter.status == "unapproved"
    assert otter.agents >= 1
    assert otter.events > 0
    assert otter.first_seen is not None
    assert otter.last_seen is not None
    assert otter.first_seen <= otter.last_seen
    assert by_host["api.openai.com"].status == "approved"
    assert {a.name for a in apps} >= {"Ollama"}
    assert all(a.ports for a in apps)


def test_inventory_rows_with_broken_json_lists_still_count(small_store: Store) -> None:
    with small_store.engine.begin() as conn:
        conn.execute(text("update ai_service_seen set users = 'not json', processes = '{}' where host = 'otter.ai'"))
    with small_store.engine.connect() as conn:
        otter = next(line for line in inventory.fetch_inventory(conn) if line.host == "otter.ai")
    assert otter.users == ()
    assert otter.processes == ()
    assert otter.requests > 0


def test_overview_buckets_match_a_direct_count(any_small_store: Store) -> None:
    since, until = NOW - timedelta(days=2), NOW
    with any_small_store.engine.connect() as conn:
        overview = fleet.fetch_overview(conn, since, until, buckets=12)
        direct_blocks = conn.execute(
            text("select count(*) from event where verdict = 'block' and time >= :s and time < :u"),
            {
                "s": since.strftime("%Y-%m-%d %H:%M:%S.%f") if any_small_store.is_sqlite else since,
                "u": until.strftime("%Y-%m-%d %H:%M:%S.%f") if any_small_store.is_sqlite else until,
            },
        ).scalar()
        agents = fleet.fetch_agents(conn)
    assert len(overview.blocks) == 12
    assert overview.total_blocks == direct_blocks > 0
    assert overview.total_uploads > overview.total_blocks
    assert sum(1 for b in overview.blocks if b) >= 10  # spread over the period, not one bucket
    assert overview.top_services
    assert overview.top_users
    assert sum(n for _, n in overview.catalog_versions) == len(agents) == SMALL.agents
