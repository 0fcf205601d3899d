"""What the clinician reads: what was stopped, why, what to do instead; never PHI.

Built from event fields only (service, kind, whether an enrolled recording matched), never
from the event's free-text reason or path, so no file name, patient, query string or tenant
value can reach a desktop notification.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

TITLE = "PhiWall stopped an upload"
INSTEAD = (
    "Use a tool your hospital has approved for patient recordings (your IT team can tell you which), "
    "or send the file without the recording."
)


@dataclass(frozen=True)
class Notice:
    incident: str
    title: str
    body: str

    def to_line(self) -> bytes:
        return (json.dumps(asdict(self), separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> Notice:
        data: Any = json.loads(line)
        return cls(str(data["incident"])[:64], str(data["title"])[:200], str(data["body"])[:1000])


def _destination(service_id: str | None, host: str | None) -> str:
    if service_id:
        return service_id.replace("-", " ")
    return (host or "an online service")[:120]


def _why(kind: str, asset_id: str | None, reason: str) -> str:
    if asset_id:
        return "it contained a recording your hospital has registered as patient media"
    if kind == "discovery":
        return "the site looks like an AI service your hospital has not approved"
    lowered = reason.lower()
    if "limit" in lowered or "could not" in lowered or "inspect" in lowered or "fail" in lowered:
        return "PhiWall could not check what it contained, so it was stopped to be safe"
    return "your hospital's policy does not allow it"


def notice_for(
    *, incident: str, kind: str, service_id: str | None, host: str | None, asset_id: str | None, reason: str
) -> Notice:
    """The notice for one block event (fields of `agent.store.models.Event`)."""
    body = (
        f"Your upload to {_destination(service_id, host)} was stopped because {_why(kind, asset_id, reason)}. "
        f"{INSTEAD} Incident {incident}."
    )
    return Notice(incident=incident, title=TITLE, body=body)


class BurstGate:
    """At most one notice per burst: blocks closer than `quiet` seconds apart are one burst.

    A web app that retries, or a multi-part upload, produces many blocks in a row; the
    clinician needs one explanation, not a dozen.
    """

    def __init__(self, quiet: float = 60.0) -> None:
        self.quiet = quiet
        self._last: float | None = None

    def admit(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        first = self._last is None or now - self._last >= self.quiet
        self._last = now
        return first
