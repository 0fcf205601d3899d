"""Scrub lineage for the console: what was de-identified, from which enrolled asset, by whom, how.

Reads `scrub_lineage` (agent.scrub.lineage writes it) joined with the source asset's enrolled
path. Hashes, paths and settings only: the store holds no media or transcripts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, select

from console.data.rows import LineageInfo
from console.data.tables import ASSET, LINEAGE

SCRUBBED_LIMIT = 1000

_COLUMNS = (*LINEAGE.c, ASSET.c.path.label("source_path"))


def _methods(raw: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "")
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _info(r: Row[Any]) -> LineageInfo:
    return LineageInfo(
        id=r.id,
        time=r.time,
        user=r.user,
        agent_id=r.agent_id,
        kind=r.kind,
        size=r.size,
        duration_s=r.duration_s,
        scrub_s=r.scrub_s,
        source_asset_id=r.source_asset_id,
        source_path=r.source_path,
        source_match=r.source_match,
        source_score=r.source_score,
        output_path=r.output_path,
        output_sha256=r.output_sha256,
        derivative_asset_id=r.derivative_asset_id,
        methods=_methods(r.methods),
        tool_version=r.tool_version,
    )


def _query() -> Any:
    return select(*_COLUMNS).select_from(LINEAGE.outerjoin(ASSET, ASSET.c.id == LINEAGE.c.source_asset_id))


def fetch_lineage(conn: Connection, lineage_id: int) -> LineageInfo | None:
    row = conn.execute(_query().where(LINEAGE.c.id == lineage_id)).first()
    return _info(row) if row is not None else None


def fetch_scrubbed(conn: Connection, limit: int = SCRUBBED_LIMIT) -> list[LineageInfo]:
    """The latest scrub records, newest first."""
    query = _query().order_by(LINEAGE.c.time.desc(), LINEAGE.c.id.desc()).limit(limit)
    return [_info(r) for r in conn.execute(query).all()]
