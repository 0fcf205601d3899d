"""Opening the store: SQLite by default (WAL, busy timeout, foreign keys), PostgreSQL by URL.

`open_store` is the one way in: it connects, checks the schema version and (by default)
upgrades it with Alembic, turning every failure into a one-line, typed `StoreError`
(agent/store/errors.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

from agent.errors import StoreError
from agent.paths import create_private_file, ensure_writable_dir
from agent.store import migrate as migrations
from agent.store.errors import StoreNotFound, StoreSchemaMismatch, StoreUnavailable
from agent.store.errors import describe_db_error as describe_db_error  # agent/shadow imports it from here
from agent.store.url import parse_url, redact, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy emit BEGIN itself so DDL in migrations is transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for `url` without touching the database yet."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            path = sqlite_path(parsed)
            if path is not None:
                ensure_writable_dir(path.parent, "store directory")
            engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": 5, "application_name": "phiwall"},
        )
    except NoSuchModuleError:
        raise StoreError(f"no driver for {parsed.drivername}", hint="use postgresql+psycopg://") from None


@dataclass
class Store:
    """An open, schema-checked store."""

    engine: Engine
    url: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()


def check_connection(engine: Engine, url: str) -> None:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(
            f"cannot open store {redact(url)}: {describe_db_error(exc)}",
            hint="check the URL, that the server runs and accepts this user, or use --db",
        ) from None


def require_existing_store(url: str) -> None:
    """Raise `StoreNotFound` when `url` is a SQLite file that does not exist (nothing is created)."""
    path = sqlite_path(parse_url(url))
    if path is not None and not path.exists():
        raise StoreNotFound(
            f"store {redact(url)} does not exist",
            hint="check --db/$PHIWALL_DB; `phiwall enroll`, `phiwall run` or `phiwall db upgrade` create it",
        )


def open_store(url: str, *, migrate: bool = True, create: bool | None = None) -> Store:
    """Connect to `url`, then upgrade (or, with migrate=False, verify) its schema.

    `create` (default: `migrate`): whether a store that does not exist yet may be made. Only
    `enroll`, `run` and explicit set-up (`db upgrade`, `signatures install`) create one; every
    other command passes False, so a mistyped `--db` is one clear error instead of a new, empty
    store that answers "nothing found". Without `create`, a missing SQLite file and a database
    without PhiWall's schema are errors.

    A brand-new SQLite file whose first migration fails is removed again, so a failed start
    leaves nothing half-written behind.
    """
    parsed = parse_url(url)
    path = sqlite_path(parsed)
    create = migrate if create is None else create
    fresh_file = path is not None and not path.exists()
    if not create:
        require_existing_store(url)
    if fresh_file and path is not None and path.parent.exists():
        # A new store is private from its first byte (SQLite would use the umask: 0644).
        with contextlib.suppress(FileExistsError, PermissionError):
            create_private_file(path)
    engine = make_engine(url)
    try:
        check_connection(engine, url)
        if not create and path is None:
            with engine.connect() as conn:
                if migrations.current_revision(conn) is None:
                    raise StoreSchemaMismatch(
                        f"store {redact(url)} has no PhiWall schema",
                        hint="check --db/$PHIWALL_DB; `phiwall db upgrade` creates it",
                    )
        if migrate:
            migrations.upgrade(engine)
        else:
            migrations.require_current(engine)
    except BaseException:
        engine.dispose()
        if fresh_file and path is not None:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        raise
    return Store(engine=engine, url=url)
