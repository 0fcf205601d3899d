"""Why a signature update was rejected: one code per attack or fault, and a sentence for people.

The code goes into `signature_install.reason` and the `signature` event so analysts can filter
("rollback", "expired"...), the message says what happened and what keeps being enforced.
"""

from __future__ import annotations

from typing import Literal

from agent.errors import SignatureError

RejectCode = Literal[
    "tampered",  # content does not match the signed hashes / lengths
    "truncated",  # a file ended early or is not parseable
    "expired",  # metadata past its expiry (includes an old timestamp served forever: freeze)
    "rollback",  # an older version than the one already trusted or installed
    "bad-signature",  # not signed by a threshold of the trusted keys
    "oversized",  # a file or bundle part exceeds its byte limit
    "schema",  # the bundle is authentic but its catalog/policy/models are invalid
    "inconsistent",  # metadata versions that do not belong together (mix-and-match)
    "unreachable",  # the repository could not be read
    "missing",  # the repository has no bundle
    "config",  # the agent is not configured for updates (no trusted root, bad repository)
    "internal",  # an unexpected failure while checking (a bug: the traceback is in the log)
]


class UpdateRejected(SignatureError):
    """An update that must not be used; `code` classifies it, `str()` explains it."""

    def __init__(self, code: RejectCode, message: str, *, hint: str | None = None) -> None:
        self.code: RejectCode = code
        super().__init__(f"{code}: {message}", hint=hint)
