"""The exception hierarchy users see.

Every error a person can fix (bad config, unreachable database, missing library) is a
`PhiWallError` whose message is one line saying what is wrong and what to do. The CLI prints
it without a traceback; anything else escaping is a bug and is reported as such.
"""

from __future__ import annotations


class PhiWallError(Exception):
    """Base class: `str(err)` is a complete one-line message for the operator."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class ConfigError(PhiWallError):
    """The configuration file is missing, unreadable, not TOML, or fails validation."""

    exit_code = 2


class StoreError(PhiWallError):
    """The store cannot be opened, reached, migrated, or was made by a newer PhiWall."""

    exit_code = 3


class DataDirError(PhiWallError):
    """The data directory cannot be created or written."""

    exit_code = 3


class MediaError(PhiWallError):
    """Media could not be sniffed, decoded or fingerprinted within limits."""

    exit_code = 4


class SignatureError(PhiWallError):
    """A signature bundle or repository was rejected (tampered, expired, rolled back...)."""

    exit_code = 5
