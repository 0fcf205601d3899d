"""The store: SQLModel tables, the engine, Alembic migrations."""

from agent.store.engine import Store, open_store, redact

__all__ = ["Store", "open_store", "redact"]
