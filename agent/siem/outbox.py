"""The SIEM outbox: rows queued by store triggers, delivered in order per destination.

Every destination keeps a cursor (the last `siem_outbox.seq` it delivered) and a replay
cursor (just before its last delivered batch). A destination reads the rows after its
cursor in `seq` order, delivers them, then moves both; after a failed delivery it reads
from its replay cursor instead, so the batch a dying receiver may have read but not
handled goes out again. Rows every configured destination's replay cursor has passed are
deleted. A crash between delivery and the cursor
update re-sends those rows: at least once, and receivers dedupe by the records' own ids.
Registering a destination makes the triggers start queueing (see migration 0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from agent.store import SiemCursor, SiemOutbox, Store, utcnow

OUTBOX = SiemOutbox.__table__  # type: ignore[attr-defined]
CURSOR = SiemCursor.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Queued:
    seq: int
    kind: str  # event | triage
    ref: str


def register(store: Store, destinations: Sequence[str]) -> None:
    """Make `destinations` the configured set: new ones start after what is queued now."""
    with store.engine.begin() as conn:
        conn.execute(delete(CURSOR).where(CURSOR.c.destination.not_in(list(destinations))))
        known: set[str] = set(conn.execute(select(CURSOR.c.destination)).scalars())
        start = int(conn.execute(select(func.coalesce(func.max(OUTBOX.c.seq), 0))).scalar_one())
        for name in destinations:
            if name not in known:
                conn.execute(CURSOR.insert().values(destination=name, seq=start, replay_seq=start, updated_at=utcnow()))
        _trim(conn)


def unregister_all(store: Store) -> int:
    """SIEM forwarding is off: stop queueing and drop the queue; returns rows dropped."""
    with store.engine.begin() as conn:
        conn.execute(delete(CURSOR))
        return int(conn.execute(delete(OUTBOX)).rowcount or 0)


def pending(store: Store, destination: str, batch: int, *, replay: bool = False) -> list[Queued]:
    """The next `batch` rows after this destination's cursor (or its replay cursor), oldest first."""
    column = CURSOR.c.replay_seq if replay else CURSOR.c.seq
    with store.engine.connect() as conn:
        cursor = select(column).where(CURSOR.c.destination == destination).scalar_subquery()
        rows = conn.execute(
            select(OUTBOX.c.seq, OUTBOX.c.kind, OUTBOX.c.ref)
            .where(OUTBOX.c.seq > func.coalesce(cursor, 0))
            .order_by(OUTBOX.c.seq)
            .limit(batch)
        ).all()
    return [Queued(int(r.seq), str(r.kind), str(r.ref)) for r in rows]


def advance(store: Store, destination: str, seq: int, replay_seq: int | None = None) -> None:
    """Record that `destination` delivered everything up to `seq` in a batch that started after
    `replay_seq` (default: `seq`); trim what every destination is done with."""
    replay = seq if replay_seq is None else replay_seq
    with store.engine.begin() as conn:
        conn.execute(
            update(CURSOR)
            .where(CURSOR.c.destination == destination, CURSOR.c.seq <= seq)
            .values(seq=seq, replay_seq=replay, updated_at=utcnow())
        )
        _trim(conn)


def _trim(conn: Connection) -> None:
    lowest = select(func.min(CURSOR.c.replay_seq)).scalar_subquery()
    conn.execute(delete(OUTBOX).where(OUTBOX.c.seq <= lowest))


def backlog(store: Store, destination: str | None = None) -> int:
    """Rows not yet delivered: by one destination, or by the slowest of them."""
    with store.engine.connect() as conn:
        if destination is None:
            cursor = select(func.min(CURSOR.c.seq)).scalar_subquery()
        else:
            cursor = select(CURSOR.c.seq).where(CURSOR.c.destination == destination).scalar_subquery()
        return int(conn.execute(select(func.count()).where(OUTBOX.c.seq > func.coalesce(cursor, 0))).scalar_one())
