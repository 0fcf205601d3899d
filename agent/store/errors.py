"""The store's typed errors: callers catch the kind they can act on, never match message text.

All are `StoreError`s (exit status 3, one line for the operator). `StoreUnavailable`: the
database cannot be reached or used right now (locked, full, server down): retry later.
`StoreNotFound`: the named store does not exist (a mistyped --db). `StoreSchemaMismatch`: the
schema is not the one this PhiWall needs (older: migrate; newer: upgrade PhiWall).
"""

from __future__ import annotations

from agent.errors import StoreError


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the work; nothing about the data is wrong."""


class StoreNotFound(StoreError):
    """The store named by the URL does not exist, and this command may not create it."""


class StoreSchemaMismatch(StoreError):
    """The schema is missing, older than this PhiWall needs, or made by a newer PhiWall."""


def describe_db_error(exc: BaseException) -> str:
    """First line of a driver error, without SQL or parameters (which could hold data)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
