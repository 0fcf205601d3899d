"""Whether a store URL's SQLite file exists, decided without importing SQLAlchemy.

`phiwall console` refuses a mistyped store before it paints; importing SQLAlchemy and SQLModel
only for that check cost about half a second of the console's start-up (docs/console.md,
Scale). The plain `sqlite:///PATH` form is read here as SQLAlchemy's `make_url` reads it; any
other SQLite spelling goes through the full check in `agent.store.engine`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

# sqlite:///PATH (empty host, no query): the form every PhiWall default and doc uses.
_PLAIN_SQLITE = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<database>[^?#]*)$")
_SERVER = re.compile(r"^postgresql(?:\+[a-z0-9_]+)?://", re.IGNORECASE)


def plain_sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL; None for in-memory SQLite.

    Raises ValueError for any other URL (the caller then uses the full parser).
    """
    match = _PLAIN_SQLITE.match(url)
    if match is None:
        raise ValueError(url)
    database = unquote(match["database"])
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def require_existing_store_quickly(url: str) -> None:
    """`agent.store.engine.require_existing_store`, without SQLAlchemy for the common URLs.

    A PostgreSQL URL has no file to look for: the server is checked when the store is opened.
    """
    if _SERVER.match(url):
        return
    try:
        path = plain_sqlite_file(url)
    except ValueError:
        path = None
    else:
        if path is None or path.exists():
            return
    from agent.store.engine import require_existing_store

    require_existing_store(url)  # the error message (or an unusual URL) from the full parser
