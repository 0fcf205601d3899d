"""The store: SQLModel tables, the engine, Alembic migrations. Import it from here.

This module is the store's one public surface: opening and checking a store, its URLs,
its typed errors, the event writer, the tables and their column types. Code outside
`agent/store` imports these names from `agent.store`, never from the submodules, so the
store's insides can be rearranged without touching its users (docs/architecture.md).
"""

from agent.store.derivatives import AssetRole, asset_roles
from agent.store.engine import Store, check_connection, make_engine, open_store, require_existing_store
from agent.store.errors import StoreNotFound, StoreSchemaMismatch, StoreUnavailable, describe_db_error
from agent.store.events import EventWriter, make_event, write_events
from agent.store.migrate import current_revision, head_revision
from agent.store.models import (
    Agent,
    AIServiceSeen,
    Event,
    FleetAsset,
    FleetOutbox,
    FleetSyncState,
    LocalAIApp,
    MediaAsset,
    MediaPrint,
    ScrubLineage,
    SiemCursor,
    SiemOutbox,
    SignatureInstall,
    TriageAction,
    WatchedFile,
    new_id,
)
from agent.store.types import UTCDateTime, utcnow
from agent.store.url import parse_url, redact, sqlite_path

__all__ = [
    "AIServiceSeen",
    "Agent",
    "AssetRole",
    "Event",
    "EventWriter",
    "FleetAsset",
    "FleetOutbox",
    "FleetSyncState",
    "LocalAIApp",
    "MediaAsset",
    "MediaPrint",
    "ScrubLineage",
    "SiemCursor",
    "SiemOutbox",
    "SignatureInstall",
    "Store",
    "StoreNotFound",
    "StoreSchemaMismatch",
    "StoreUnavailable",
    "TriageAction",
    "UTCDateTime",
    "WatchedFile",
    "asset_roles",
    "check_connection",
    "current_revision",
    "describe_db_error",
    "head_revision",
    "make_engine",
    "make_event",
    "new_id",
    "open_store",
    "parse_url",
    "redact",
    "require_existing_store",
    "sqlite_path",
    "utcnow",
    "write_events",
]
