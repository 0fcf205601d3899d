"""Schema versions with Alembic: upgrade on start, refuse stores made by a newer PhiWall.

Fleet stores are shared by many agents: on PostgreSQL the upgrade runs under an advisory
lock so two agents starting together cannot race through the same migration.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agent.store.errors import StoreSchemaMismatch, StoreUnavailable, describe_db_error
from agent.store.text_index import PG_INDEX, SQLITE_TABLE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x5048_4957  # "PHIW"

log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def is_model_object(name: str | None, type_: str, parent_names: object = None) -> bool:
    """Alembic's `include_name`: what model comparisons look at.

    The text index (revision 0007) is made by hand for each dialect and declared by no model:
    the FTS5 table with its shadow tables on SQLite, the GIN index on PostgreSQL.
    """
    if name is None:
        return True
    if type_ == "table":
        return name != SQLITE_TABLE and not name.startswith(f"{SQLITE_TABLE}_")
    if type_ == "index":
        return name != PG_INDEX
    return True


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations directory has no revisions"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == revision for rev in script.walk_revisions())


def _check_not_newer(revision: str | None) -> None:
    if revision is not None and not _known(revision):
        raise StoreSchemaMismatch(
            f"the store was created by a newer PhiWall (schema {revision}, this version knows up to {head_revision()})",
            hint="upgrade PhiWall on this machine, or point --db at another store",
        )


def upgrade(engine: Engine) -> None:
    """Bring the schema to head; a no-op when it is already there."""
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})")
                conn.commit()
            try:
                current = current_revision(conn)
                _check_not_newer(current)
                head = head_revision()
                if current != head:
                    command.upgrade(alembic_config(conn), "head")
                    conn.commit()
                    log.info("store schema upgraded from %s to %s", current or "(empty)", head)
            finally:
                if conn.dialect.name == "postgresql":
                    conn.rollback()
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
                    conn.commit()
    except StoreSchemaMismatch:
        raise
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"cannot upgrade the store schema: {describe_db_error(exc)}",
            hint="check that the database user may create tables; nothing was changed",
        ) from None


def require_current(engine: Engine) -> None:
    """Raise unless the schema is exactly at head (for read-only users such as auditors)."""
    with engine.connect() as conn:
        current = current_revision(conn)
    _check_not_newer(current)
    if current != head_revision():
        raise StoreSchemaMismatch(
            f"the store schema is at {current or 'nothing'}, this PhiWall needs {head_revision()}",
            hint="run `phiwall db upgrade` (or start the agent once) to migrate it",
        )
