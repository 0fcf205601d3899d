"""The exception hierarchy users see, and the exit status of each.

Every error a person can fix (bad config, unreachable database, missing library) is a
`PhiWallError` whose message is one line saying what is wrong and what to do. The CLI prints
it without a traceback; anything else escaping is a bug and is reported as such.

Exit statuses (docs/configuration.md "Errors" lists the same table; tests/unit/test_exit_codes.py
checks both): 0 success, 1 a check failed (`doctor`) or another error, 2 usage or configuration,
3 store or data dir, 4 media, 5 signatures, 6 unreadable input, 7 the proxy address is in use,
70 internal error (a bug), 130 interrupted.
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


class InputError(PhiWallError):
    """An input PATH is missing, unreadable, or not a regular file (a FIFO, a device, a folder
    where a file is expected): nothing could be read from it."""

    exit_code = 6


class ListenError(PhiWallError):
    """The proxy cannot listen on its address (in use by another program, or not allowed)."""

    exit_code = 7


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "a check failed (`doctor`), or another error",
    2: "usage or configuration error",
    3: "store or data dir error (includes a store that does not exist)",
    4: "media error (not media, cannot be decoded)",
    5: "signatures rejected",
    6: "unreadable input (missing, permission denied, FIFO/device, folder where a file is expected)",
    7: "the proxy address is in use",
    70: "internal error (a bug: please report it)",
    130: "interrupted",
}
"""The documented exit statuses; the docs' table is checked against this."""
