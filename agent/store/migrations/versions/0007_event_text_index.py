"""event text index: trigram search over the columns the console's free-text words look in

Why: a word the analyst types is a substring of host, user, process, service, reason, path or
agent (ids are matched by their start, through their own indexes). A `LIKE '%word%'` cannot use a b-tree, so a rare word scanned all of a million events
(about a second). A trigram index answers "which rows hold this substring" directly.

SQLite: an FTS5 table with the `trigram` tokenizer (SQLite >= 3.34) over `event`'s own columns
(external content: the text is not stored twice), kept in step by triggers in the same
transaction as every insert, delete and change of those columns, and filled here from the
existing rows. Where the SQLite library lacks FTS5 or the trigram tokenizer, nothing is made
and the console keeps its scans. PostgreSQL (the fleet store): a `pg_trgm` GIN index on the
same columns joined into one text, which the planner uses for `ILIKE '%word%'`; skipped with
a warning when the extension cannot be created (it needs the contrib package and, before
PostgreSQL 13, a superuser).

Neither object is in the SQLModel metadata (`agent.store.migrate.is_schema_object` keeps them
out of model comparisons).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:40:00.000000
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

# Frozen here as this revision made them; `agent.store.text_index.pg_text_expression()` must say
# the same (a test compares them): the PostgreSQL planner uses the index only for this very expression.
SQLITE_TABLE = "event_text"
PG_INDEX = "ix_event_text_trgm"
TEXT_COLUMNS = ("host", "user", "process_name", "service_id", "reason", "path", "agent_id")
PG_TEXT_EXPRESSION = " || chr(10) || ".join(f'coalesce("{name}", \'\')' for name in TEXT_COLUMNS)


def _values(prefix: str) -> str:
    return ", ".join(f"{prefix}.{name}" for name in TEXT_COLUMNS)


def _sqlite_upgrade() -> None:
    conn = op.get_bind()
    columns = ", ".join(TEXT_COLUMNS)
    try:
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {SQLITE_TABLE} USING fts5({columns}, content='event', "
            "content_rowid='rowid', tokenize='trigram', columnsize=0)"
        )
    except DBAPIError as exc:  # no FTS5, or SQLite < 3.34 (no trigram tokenizer)
        log.warning("no trigram text index (%s): the console's word search scans instead", exc.orig)
        return
    conn.exec_driver_sql(f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}) VALUES ('rebuild')")
    insert = f"INSERT INTO {SQLITE_TABLE}(rowid, {columns}) VALUES (new.rowid, {_values('new')});"
    delete = (
        f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, {columns}) VALUES ('delete', old.rowid, {_values('old')});"
    )
    conn.exec_driver_sql(f"CREATE TRIGGER {SQLITE_TABLE}_insert AFTER INSERT ON event BEGIN {insert} END")
    conn.exec_driver_sql(f"CREATE TRIGGER {SQLITE_TABLE}_delete AFTER DELETE ON event BEGIN {delete} END")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {SQLITE_TABLE}_update AFTER UPDATE OF {columns} ON event BEGIN {delete} {insert} END"
    )


def _postgres_upgrade() -> None:
    conn = op.get_bind()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning("no pg_trgm (%s): the console's word search scans instead", exc.orig)
        return
    conn.exec_driver_sql(f"CREATE INDEX {PG_INDEX} ON event USING gin (({PG_TEXT_EXPRESSION}) gin_trgm_ops)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgres_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_{action}")
        op.execute(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
