"""The incidents feed's first page from a SQLite store with plain `sqlite3`, before SQLAlchemy.

Importing SQLAlchemy, SQLModel, the models and Alembic and checking the schema takes seconds
on a loaded machine (docs/console.md, Scale); the newest 200 events are one scan of the
`(time)` index. So for a plain `sqlite:///PATH` store whose `alembic_version` is exactly this
PhiWall's head, the console shows this page (and the capped count) first and opens the store
the usual way afterwards. Anything else (no file, another schema version, PostgreSQL, a
filter or sort) returns None and takes the usual path, which migrates or gives the usual error.

The query is the one `console.data.incidents.fetch_page` and `count_matching` send for an empty
filter sorted by time (tests/console/test_first_page.py compares the two on real stores).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import agent
from agent.store_location import plain_sqlite_file
from console.data.filters import EventFilter, Sort
from console.data.rows import Count, IncidentRow, Page, PageCursor

PAGE_SIZE = 200  # console.data.incidents.PAGE_SIZE
COUNT_CAP = 100_000  # console.data.incidents.COUNT_CAP
VERSIONS_DIR = Path(agent.__file__).parent / "store" / "migrations" / "versions"

_REVISION = re.compile(r"^revision(?:\s*:\s*[^=]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision(?:\s*:\s*[^=]+)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")

PAGE_SQL = (
    "SELECT event.id, event.time, event.verdict, event.triage_state, event.escalated, event.classification, "
    'event.kind, event.service_id, event.service_category, event.host, event."user", event.pid, '
    "event.process_name, event.asset_id, media_asset.path AS asset_path, event.match_kind, event.match_score, "
    "event.agent_id, event.reason "
    "FROM event LEFT OUTER JOIN media_asset ON media_asset.id = event.asset_id "
    "ORDER BY event.time DESC, event.id DESC LIMIT ?"
)
COUNT_SQL = "SELECT count(*) FROM (SELECT 1 FROM event LIMIT ?)"


def head_revision_from_files(directory: Path = VERSIONS_DIR) -> str | None:
    """The migrations' single head read from the revision files' text (no Alembic import).

    None when it cannot be told (no files, several heads): the caller then uses Alembic.
    """
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in directory.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            continue
        revisions.add(found[1])
        down = _DOWN.search(text)
        if down is not None:
            downs.update(_QUOTED.findall(down[1]))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _parse_time(value: str) -> datetime:
    # SQLAlchemy's SQLite DATETIME text ("2026-03-01 11:59:59.000000"), naive UTC (UTCDateTime).
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _row(r: tuple[object, ...]) -> IncidentRow:
    (id_, time, verdict, state, escalated, classification, kind, service_id, category, host, user, pid, process,
     asset_id, asset_path, match_kind, score, agent_id, reason) = r  # fmt: skip
    return IncidentRow(
        id=str(id_),
        time=_parse_time(str(time)),
        verdict=str(verdict or "?"),
        triage_state=str(state or "new"),
        escalated=bool(escalated),
        classification=classification,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        service_id=service_id,  # type: ignore[arg-type]
        service_category=category,  # type: ignore[arg-type]
        host=host,  # type: ignore[arg-type]
        user=user,  # type: ignore[arg-type]
        pid=pid,  # type: ignore[arg-type]
        process_name=process,  # type: ignore[arg-type]
        asset_id=asset_id,  # type: ignore[arg-type]
        asset_path=asset_path,  # type: ignore[arg-type]
        match_kind=match_kind,  # type: ignore[arg-type]
        match_score=score,  # type: ignore[arg-type]
        agent_id=agent_id,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
    )


def sqlite_store_file(url: str) -> Path | None:
    """The store's file when `url` is a plain SQLite URL to an existing file (else None)."""
    try:
        path = plain_sqlite_file(url)
    except ValueError:
        return None
    return path if path is not None and path.is_file() else None


def read_first_page(url: str, flt: EventFilter, sort: Sort) -> tuple[Page, Count] | None:
    """The first page and capped count of an unfiltered, newest-first view; None: use SQLAlchemy."""
    if not flt.is_empty or sort != Sort("time"):
        return None
    path = sqlite_store_file(url)
    head = head_revision_from_files()
    if path is None or head is None:
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only = ON")
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version").fetchall()]
        if versions != [head]:
            return None
        found = conn.execute(PAGE_SQL, (PAGE_SIZE + 1,)).fetchall()
        counted = int(conn.execute(COUNT_SQL, (COUNT_CAP + 1,)).fetchone()[0])
    except sqlite3.Error:
        return None  # no such table, locked, not a database: the usual path says what is wrong
    finally:
        conn.close()
    rows = tuple(_row(r) for r in found[:PAGE_SIZE])
    cursor = PageCursor(value=None, time=rows[-1].time, id=rows[-1].id) if rows else None
    page = Page(rows=rows, cursor=cursor, has_more=len(found) > PAGE_SIZE)
    return page, Count(value=min(counted, COUNT_CAP), capped=counted > COUNT_CAP)
