"""Which enrolled assets are de-identified derivatives, and of what (for the proxy's verdict;
`agent.policy.derived` decides from these roles).

One small indexed query per matched upload (matches are rare next to uploads); callers run it
off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import col, select

from agent.store.engine import Store
from agent.store.models import MediaAsset, ScrubLineage


@dataclass(frozen=True)
class AssetRole:
    """What the store says about one enrolled asset: an original, or a derivative with its lineage."""

    lineage_id: int | None
    source_asset_id: str | None = None

    @property
    def derivative(self) -> bool:
        return self.lineage_id is not None


def asset_roles(store: Store, asset_ids: Iterable[str]) -> dict[str, AssetRole]:
    """Role of each of `asset_ids` that is enrolled and not forgotten (absent ids are not enrolled)."""
    wanted = sorted({a for a in asset_ids if a})
    if not wanted:
        return {}
    query = (
        select(MediaAsset.id, MediaAsset.lineage_id, ScrubLineage.source_asset_id)
        .outerjoin(ScrubLineage, col(ScrubLineage.id) == col(MediaAsset.lineage_id))
        .where(col(MediaAsset.id).in_(wanted), col(MediaAsset.deleted_at).is_(None))
    )
    with store.session() as session:
        return {asset_id: AssetRole(lineage_id, source) for asset_id, lineage_id, source in session.exec(query).all()}
