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
    "schema",  # the bundle is authentic but its catalog or policy is invalid (form or meaning)
    "model",  # the bundle is authentic but a model is unusable (non-finite, wrong shapes, fails its smoke test)
    "inconsistent",  # metadata versions that do not belong together (mix-and-match)
    "unreachable",  # the repository could not be read
    "stalled",  # a download was abandoned: too slow, silent too long, or past the check's deadline
    "missing",  # the repository has no bundle
    "config",  # the agent is not configured for updates (no trusted root, bad repository)
    "internal",  # an unexpected failure while checking (a bug: the traceback is in the log)
]


class UpdateRejected(SignatureError):
    """An update that must not be used; `code` classifies it, `str()` explains it."""

    def __init__(self, code: RejectCode, message: str, *, hint: str | None = None) -> None:
        self.code: RejectCode = code
        super().__init__(f"{code}: {message}", hint=hint)


# What actually fixes each kind of failure: shown by `phiwall doctor` and `signatures status`.
_REMEDIES: dict[str, str] = {
    "stalled": (
        "the repository server stalls or sends too slowly: check the network path to it (proxy, firewall, "
        "mirror load), or adjust [signatures] fetch_deadline / fetch_min_rate; the agent retries by itself"
    ),
    "unreachable": "check the repository URL, DNS and firewall; the agent retries by itself",
    "expired": (
        "the repository's metadata is stale: IT must re-sign it (`phiwall-publish refresh`, daily for the "
        "timestamp); if IT's copy is fresh, the mirror this agent reads is serving old files"
    ),
    "rollback": (
        "the repository offers something older than this agent already trusts: IT publishes the wanted content "
        "with a higher --version; if nobody rolled back on purpose, investigate the mirror"
    ),
    "bad-signature": (
        "not signed by keys this agent trusts: check [signatures] trusted_root is this repository's root.json; "
        "otherwise treat it as an attack on the update server"
    ),
    "tampered": "the files do not match their signed hashes: re-publish or re-copy the repository; investigate",
    "inconsistent": "the repository's metadata does not fit together: re-publish or re-copy it; investigate",
    "truncated": "a file ended early: re-copy the repository (or `phiwall signatures install` for a local copy)",
    "oversized": "IT must publish a smaller bundle (see the size limits in docs/signatures.md)",
    "schema": (
        "the signed bundle's catalog or policy is invalid: IT fixes the source, checks it with "
        "`phiwall-publish build` and `verify`, and signs it with a higher --version; reinstalling cannot help"
    ),
    "model": (
        "the signed bundle carries a broken model: IT retrains or restores models/shadow_classifier.json, "
        "checks it with `phiwall-publish build` and `verify`, and signs it with a higher --version; "
        "reinstalling cannot help"
    ),
    "missing": "IT has not published a bundle yet: `phiwall-publish sign` on the repository",
    "config": "fix [signatures] repository and trusted_root in the config",
    "internal": "a bug in PhiWall: the agent log has the traceback; report it",
}


def remedy(code: str | None) -> str:
    """What fixes a failure of this kind (a sentence for an operator)."""
    return _REMEDIES.get(code or "", "see docs/signatures.md")
