"""Migrations: step-by-step upgrades keep data, and the migrated schema equals the models.

The second test is what catches a table or column added to `agent/store/models.py` without
an Alembic revision (a deployed fleet would never get it).
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

import agent.store.models  # noqa: F401  (registers tables)
from agent.store import make_engine, text_index
from agent.store.migrate import alembic_config, head_revision, is_model_object


def revisions_in_order() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_revisions_form_a_single_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()} (chain your revision after the head)"


def _upgrade_stepwise_keeping_an_event(url: str) -> None:
    engine = make_engine(url)
    try:
        revisions = revisions_in_order()
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), revisions[0])
            conn.commit()
            conn.execute(
                text(
                    "insert into event (id, time, agent_id, kind, verdict, reason, details, triage_state) "
                    "values ('e1', CURRENT_TIMESTAMP, 'a', 'upload', 'block', 'kept', '{}', 'new')"
                )
            )
            conn.commit()
            for revision in revisions[1:]:
                command.upgrade(alembic_config(conn), revision)
                conn.commit()
            assert conn.execute(text("select reason from event where id = 'e1'")).scalar() == "kept"
            # Revision 0007 indexed the event that was already there for word search.
            if conn.dialect.name == "sqlite":
                assert text_index.candidates(conn, "kept", 10) == 1
            else:
                assert text_index.has_text_index(conn)
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": is_model_object})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_stepwise_upgrade_keeps_data_sqlite(store_url: str) -> None:
    _upgrade_stepwise_keeping_an_event(store_url)


def test_migrations_match_models_sqlite(store_url: str) -> None:
    assert _schema_diff(store_url) == []


def test_stepwise_upgrade_keeps_data_postgres(pg_url: str) -> None:
    _upgrade_stepwise_keeping_an_event(pg_url)


def test_migrations_match_models_postgres(pg_url: str) -> None:
    assert _schema_diff(pg_url) == []
