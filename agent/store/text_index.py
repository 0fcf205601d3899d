"""The trigram index over events' text columns, and the questions asked of it.

Revision 0007 makes it: an FTS5 `trigram` table on SQLite (external content, kept in step by
triggers), a `pg_trgm` GIN index on PostgreSQL. Both answer "which events hold this
substring" without reading every row, for words of at least `MIN_WORD_CHARS` characters (a
trigram index knows nothing shorter). A store without it (an SQLite library without FTS5 or
trigram, PostgreSQL without pg_trgm) still works: callers fall back to scanning.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, literal_column, select, table

SQLITE_TABLE = "event_text"
PG_INDEX = "ix_event_text_trgm"
# Free text only: event and asset ids are matched by their start through their own b-tree
# indexes (random hex would be over half of the trigrams, and nobody searches the middle of one).
TEXT_COLUMNS = ("host", "user", "process_name", "service_id", "reason", "path", "agent_id")


# One text per row for PostgreSQL, exactly as the index was built (the planner matches the
# expression, not its spelling: qualified column names are the same expression). chr(10) keeps
# a word from matching across two columns.
def pg_text_expression(table_name: str = "") -> str:
    qualifier = f"{table_name}." if table_name else ""
    return " || chr(10) || ".join(f"coalesce({qualifier}\"{name}\", '')" for name in TEXT_COLUMNS)


MIN_WORD_CHARS = 3

_FTS = table(SQLITE_TABLE)


def indexable(word: str) -> bool:
    return len(word) >= MIN_WORD_CHARS


def escape_like(text: str) -> str:
    """`text` as literal characters in a LIKE pattern whose escape character is a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def has_text_index(conn: Connection) -> bool:
    """Whether this store has the index (one catalog lookup, well under a millisecond)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SQLITE_TABLE,)
        ).first()
    elif dialect == "postgresql":
        found = conn.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE indexname = %s", (PG_INDEX,)).first()
    else:
        return False
    return found is not None


def fts_phrase(word: str) -> str:
    """`word` as one FTS5 phrase: its characters literally, double quotes doubled."""
    return '"' + word.replace('"', '""') + '"'


def sqlite_rowids(word: str) -> Any:
    """SELECT of the rowids of events holding `word` (SQLite FTS5, case-insensitive)."""
    matches = literal_column(SQLITE_TABLE).op("MATCH")(fts_phrase(word))
    return select(literal_column("rowid")).select_from(_FTS).where(matches)


def pg_text() -> Any:
    """The indexed expression, for `ILIKE '%word%'` on PostgreSQL."""
    return literal_column(f"({pg_text_expression('event')})")


def candidates(conn: Connection, word: str, limit: int) -> int:
    """How many events hold `word` by the index, counting at most `limit`.

    SQLite: FTS5 walks its lists lazily, so the cap bounds the cost (a few ms for a word in
    every row). PostgreSQL: the GIN index's bitmap for a rare word, an early-stopping scan
    for a common one (the planner's choice); the text columns decide exactly.
    """
    if conn.dialect.name == "sqlite":
        inner = sqlite_rowids(word).limit(limit).subquery()
    else:
        holds = pg_text().ilike(f"%{escape_like(word)}%", escape="\\")
        inner = select(literal_column("1")).select_from(table("event")).where(holds).limit(limit).subquery()
    return int(conn.execute(select(literal_column("count(*)")).select_from(inner)).scalar_one())


def event_rows(conn: Connection) -> int:
    """About how many events the store holds, without counting them.

    SQLite: the largest rowid (events are never renumbered but by VACUUM). PostgreSQL: the
    planner's estimate (`reltuples`, -1 before the first ANALYZE or autovacuum: then 0).
    """
    if conn.dialect.name == "sqlite":
        return int(conn.exec_driver_sql("SELECT max(rowid) FROM event").scalar() or 0)
    estimate = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'event'").scalar()
    return max(0, int(estimate or 0))


def rebuild(conn: Connection) -> bool:
    """Make the index again from the event rows; False when this store has none.

    For a store restored from a copy, or after `VACUUM` (which may renumber the rowids an
    SQLite external-content index points at); SQLite then checks the result against the rows.
    """
    if not has_text_index(conn):
        return False
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO event_text(event_text) VALUES ('rebuild')")
        conn.exec_driver_sql("INSERT INTO event_text(event_text, rank) VALUES ('integrity-check', 1)")
    else:
        conn.exec_driver_sql(f"REINDEX INDEX {PG_INDEX}")
    return True
