"""Recognise a de-identified derivative among an upload's matches (agent.policy.derived).

Only uploads that matched enrolled media pay for this: one indexed store query, run in a
thread so the proxy's event loop never waits on the database. A store that cannot answer
leaves the match as clinical media (fail closed: the source rule blocks it).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from agent.policy.derived import DerivedMatch, derived_match
from agent.proxy.inspect import PartsResult
from agent.store.derivatives import asset_roles
from agent.store.engine import Store

log = logging.getLogger(__name__)


async def derivative_for(store: Store, result: PartsResult | None) -> DerivedMatch | None:
    """The derivative the matched upload is, or None (a source, or no match)."""
    if result is None or result.match is None:
        return None
    matched, upload = result.match.asset_id, result.matched_sha256
    try:
        roles = await asyncio.to_thread(asset_roles, store, [matched, upload or ""])
    except SQLAlchemyError as exc:
        log.warning("derivative lookup failed (treated as clinical media): %s", type(exc).__name__)
        return None
    return derived_match(matched, upload, roles)
