"""The store's tables as SQLAlchemy Core objects, for queries that must stay fast at 1M rows.

The console reads with Core `select()`s rather than ORM objects: a page of 200 rows becomes
plain tuples with the same column types (UTC datetimes included), without identity-map cost.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import agent.store  # noqa: F401  (registers the tables on SQLModel.metadata)

_tables = SQLModel.metadata.tables

EVENT = _tables["event"]
ASSET = _tables["media_asset"]
TRIAGE = _tables["triage_action"]
AGENT = _tables["agent"]
SERVICE_SEEN = _tables["ai_service_seen"]
LOCAL_APP = _tables["local_ai_app"]
SIGNATURE_INSTALL = _tables["signature_install"]
LINEAGE = _tables["scrub_lineage"]
