"""Scrub lineage travelling with its derivative between stores.

A derivative asset names its lineage by `media_asset.lineage_id`, which is the *local* number of
a `scrub_lineage` row: meaningless in another store. So a derivative never moves alone: its
lineage row goes with it, keyed by `uid`, and the receiving store writes its own number into the
asset's `lineage_id`. A derivative whose lineage cannot be found is sent with `lineage_id` NULL:
the receiver then treats it as an original, which blocks it (the safe direction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from agent.fleet.rows import insert_ignoring
from agent.store import MediaAsset, ScrubLineage

LINEAGE_TABLE = ScrubLineage.__table__  # type: ignore[attr-defined]


def read_lineage(conn: Connection, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The lineage rows numbered `ids` in the store `conn` belongs to, by that number."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = conn.execute(select(LINEAGE_TABLE).where(col(LINEAGE_TABLE.c.id).in_(wanted))).mappings()
    return {int(row["id"]): dict(row) for row in rows}


def adopt_lineage(conn: Connection, rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Insert `rows` (from another store) unless their uid is here already; uid -> number here."""
    incoming = [{k: v for k, v in row.items() if k != "id"} for row in rows]
    if not incoming:
        return {}
    insert_ignoring(conn, LINEAGE_TABLE, incoming, ["uid"])
    uids = [row["uid"] for row in incoming]
    found = conn.execute(select(LINEAGE_TABLE.c.uid, LINEAGE_TABLE.c.id).where(col(LINEAGE_TABLE.c.uid).in_(uids)))
    return {str(row["uid"]): int(row["id"]) for row in found.mappings()}


def carry_lineage(conn: Connection, assets: list[dict[str, Any]], source: dict[int, dict[str, Any]]) -> None:
    """Adopt the lineage of the derivatives among `assets` and renumber their `lineage_id` in place."""
    here = adopt_lineage(conn, [source[a["lineage_id"]] for a in assets if a.get("lineage_id") in source])
    for asset in assets:
        old = asset.get("lineage_id")
        if old is None:
            continue
        row = source.get(old)
        asset["lineage_id"] = here.get(str(row["uid"])) if row is not None else None


def link_late_lineage(conn: Connection, assets: list[dict[str, Any]]) -> None:
    """Give a derivative already in this store its lineage, if it arrived before the lineage did.

    `phiwall scrub` enrols the output, then records its lineage: a sync in between sends the
    asset without it. The scrub queues the asset again; this sets what the first send lacked.
    """
    table = MediaAsset.__table__  # type: ignore[attr-defined]
    for asset in assets:
        if asset.get("lineage_id") is not None:
            conn.execute(
                update(table)
                .where(table.c.id == asset["id"], table.c.lineage_id.is_(None))
                .values(lineage_id=asset["lineage_id"])
            )
