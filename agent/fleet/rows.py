"""Copying rows between stores: plain column dicts and "insert, ignore duplicates" statements.

The fleet store and the local store share one schema (same models, same migrations), so a
row moves as the dict of its table's columns. Both dialects spell "ignore a duplicate key"
differently; `insert_ignoring` hides that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel


def columns_of(row: SQLModel) -> dict[str, Any]:
    table = row.__table__  # type: ignore[attr-defined]
    return {column.name: getattr(row, column.name) for column in table.columns}


def insert_ignoring(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """INSERT rows, silently skipping those whose `keys` already exist (idempotent re-sends)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(statement, list(rows))


def upsert(conn: Connection, table: Table, row: dict[str, Any], keys: Sequence[str], keep: Sequence[str] = ()) -> None:
    """INSERT a row or update the existing one's columns, except its `keys` and those to `keep`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(row)
    updates = {name: statement.excluded[name] for name in row if name not in keys and name not in keep}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates))
