"""The `watched_file` table: what the watcher last saw of each file, across restarts.

A file whose (size, mtime_ns) match its row was already enrolled (or found not to be media)
and is not read again. Paths can name patients; they stay in this table, which analysts may
read, and never go into logs or event reasons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from agent.store import Store, WatchedFile, utcnow

# Statuses: enrolled | skipped (not media) | error (unreadable, corrupt, limit) | deleted | forgotten
SETTLED = ("enrolled", "skipped")


@dataclass(frozen=True)
class Known:
    size: int
    mtime_ns: int
    status: str


def _under(directory: str) -> str:
    return directory.rstrip(os.sep) + os.sep


def known_files(store: Store, directory: str) -> dict[str, Known]:
    """Every file recorded under `directory` (for the initial scan's comparison)."""
    with store.session() as session:
        rows = session.exec(
            select(WatchedFile.path, WatchedFile.size, WatchedFile.mtime_ns, WatchedFile.status).where(
                col(WatchedFile.path).startswith(_under(directory), autoescape=True)
            )
        ).all()
    return {path: Known(size, mtime_ns, status) for path, size, mtime_ns, status in rows}


def lookup(store: Store, path: str) -> WatchedFile | None:
    with store.session() as session:
        return session.get(WatchedFile, path)


def save(
    store: Store,
    path: str,
    st: os.stat_result,
    status: str,
    *,
    asset_id: str | None = None,
    error: str | None = None,
) -> None:
    with store.session() as session:
        row = session.get(WatchedFile, path) or WatchedFile(path=path, size=0, mtime_ns=0)
        row.size, row.mtime_ns, row.status = st.st_size, st.st_mtime_ns, status
        row.asset_id, row.error, row.seen_at = asset_id, error, utcnow()
        session.add(row)
        session.commit()


def mark_deleted(store: Store, path: str, *, directory: bool = False) -> int:
    """The file (or every file under a directory) is gone; its prints stay (copies may exist)."""
    condition = (
        col(WatchedFile.path).startswith(_under(path), autoescape=True) if directory else col(WatchedFile.path) == path
    )
    with store.session() as session:
        result = session.exec(
            update(WatchedFile)
            .where(condition, col(WatchedFile.status) != "deleted")
            .values(status="deleted", seen_at=utcnow())
        )
        session.commit()
        return int(result.rowcount)


def carry_over(store: Store, src: str, dest: str, st: os.stat_result) -> bool:
    """A rename keeps content and mtime: reuse the source's result for the destination."""
    with store.session() as session:
        old = session.get(WatchedFile, src)
        if old is None or old.status not in SETTLED or (old.size, old.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return False
        session.add(
            WatchedFile(
                path=dest,
                size=old.size,
                mtime_ns=old.mtime_ns,
                asset_id=old.asset_id,
                status=old.status,
                seen_at=utcnow(),
            )
        )
        old.status, old.seen_at = "deleted", utcnow()
        session.add(old)
        session.commit()
        return True


def expired_assets(store: Store, cutoff: datetime) -> list[str]:
    """Assets whose every watched copy was deleted before `cutoff` (retention)."""
    with store.session() as session:
        deleted = set(
            session.exec(
                select(WatchedFile.asset_id).where(
                    col(WatchedFile.status) == "deleted",
                    col(WatchedFile.seen_at) < cutoff,
                    col(WatchedFile.asset_id).is_not(None),
                )
            ).all()
        )
        if not deleted:
            return []
        alive = set(
            session.exec(
                select(WatchedFile.asset_id).where(
                    col(WatchedFile.asset_id).in_(deleted), col(WatchedFile.status).not_in(("deleted", "forgotten"))
                )
            ).all()
        )
    return sorted(a for a in deleted - alive if a)


def mark_forgotten(store: Store, asset_id: str) -> None:
    with store.session() as session:
        session.exec(
            update(WatchedFile)
            .where(col(WatchedFile.asset_id) == asset_id, col(WatchedFile.status) == "deleted")
            .values(status="forgotten")
        )
        session.commit()
