"""Opening the store for the console, and who the analyst is.

Analysts open the store normally (an older schema is migrated, as the agent would); auditors
use read-only mode, where nothing is migrated and every database connection is itself
read-only (`PRAGMA query_only` on SQLite, read-only transactions on PostgreSQL), so no
console bug can write on their behalf.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from agent.errors import StoreError
from agent.store import Store, StoreSchemaMismatch, describe_db_error, open_store, redact
from console.settings import ANALYST_ENV, analyst_name

__all__ = ["ANALYST_ENV", "analyst_name", "describe_error", "make_read_only", "open_for_console"]


def _read_only_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    finally:
        cursor.close()
    if not isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.commit()


def make_read_only(engine: Engine) -> None:
    """Make every future connection of `engine` refuse writes, and drop the pooled ones."""
    event.listen(engine, "connect", _read_only_on_connect)
    engine.dispose()


def open_for_console(url: str, *, read_only: bool) -> Store:
    """The store, schema-checked: migrated for analysts, verified only (and read-only) for auditors."""
    try:
        store = open_store(url, migrate=not read_only)
    except StoreSchemaMismatch as err:
        if read_only:
            raise StoreSchemaMismatch(
                err.message,
                hint="read-only mode never migrates: ask an administrator to run `phiwall db upgrade`",
            ) from None
        raise
    if read_only:
        make_read_only(store.engine)
    return store


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """One line for the status bar: what went wrong talking to the store (no SQL, no data)."""
    if isinstance(exc, StoreError):
        return str(exc)
    where = f" ({redact(url)})" if url else ""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return f"lost the connection to the store{where}: {describe_db_error(exc)}"
    if isinstance(exc, SQLAlchemyError):
        return f"store error{where}: {describe_db_error(exc)}"
    return f"{type(exc).__name__}: {exc}"
