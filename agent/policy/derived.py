"""Is an upload a de-identified derivative (a `phiwall scrub` output) or its clinical source?

Pure: the proxy looks up the assets involved in the store (agent.store.derivatives) and this
module decides. The rules, in order:

1. The uploaded bytes are exactly a derivative (its SHA-256 is a derivative asset's id): the
   derivative, whatever the fingerprint search ranked first.
2. The uploaded bytes are exactly an enrolled original: the source (blocked as clinical media),
   even if a derivative's fingerprint scored as well.
3. Otherwise the best fingerprint match decides: a derivative asset scored at least as well as
   every source asset (the media service returns the best-scoring asset), so it is the
   derivative; a source asset that outscored it is the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.store import AssetRole

__all__ = ["AssetRole", "DerivedMatch", "derived_match"]


@dataclass(frozen=True)
class DerivedMatch:
    """The upload is the derivative `asset_id`, made by scrub lineage `lineage_id` (no PHI)."""

    asset_id: str
    lineage_id: int
    source_asset_id: str | None
    exact: bool
    """True when the uploaded bytes are the derivative itself (SHA-256), not a recognised copy."""

    def details(self) -> dict[str, object]:
        """What an event keeps: ids and how it was recognised."""
        return {
            "lineage": self.lineage_id,
            "derivative_asset": self.asset_id,
            "source_asset": self.source_asset_id,
            "recognised_by": "sha256" if self.exact else "fingerprint",
        }


def derived_match(
    matched_asset_id: str, upload_sha256: str | None, roles: Mapping[str, AssetRole]
) -> DerivedMatch | None:
    """The derivative an upload is, or None when it is (a copy of) a source recording.

    `roles` holds what the store knows of `matched_asset_id` and `upload_sha256` (absent: not
    enrolled, or forgotten).
    """
    if upload_sha256 is not None:
        exact = roles.get(upload_sha256)
        if exact is not None:
            if exact.lineage_id is None:
                return None
            return DerivedMatch(upload_sha256, exact.lineage_id, exact.source_asset_id, True)
    best = roles.get(matched_asset_id)
    if best is None or best.lineage_id is None:
        return None
    return DerivedMatch(matched_asset_id, best.lineage_id, best.source_asset_id, False)
