"""What the console's queries return: small frozen records, independent of Textual and the ORM."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One line of the incidents table. Any field but id/time/verdict may be missing (None)."""

    id: str
    time: datetime
    verdict: str
    triage_state: str
    escalated: bool
    classification: str | None
    kind: str | None
    service_id: str | None
    service_category: str | None
    host: str | None
    user: str | None
    pid: int | None
    process_name: str | None
    asset_id: str | None
    asset_path: str | None
    match_kind: str | None
    match_score: float | None
    agent_id: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AssetInfo:
    id: str
    kind: str
    mime: str
    path: str
    size: int
    duration_s: float | None
    enrolled_at: datetime | None
    deleted_at: datetime | None
    origin_agent_id: str | None
    lineage_id: int | None = None
    """Set on a de-identified derivative (a `phiwall scrub` output): its lineage record."""


_VOICE = {"anonymise": "voice anonymised", "mute": "voice muted", "keep": "voice kept"}
_FACES = {"blur": "faces blurred", "mask": "faces masked", "keep": "faces kept"}


def _section(methods: dict[str, Any], name: str) -> dict[str, Any]:
    value = methods.get(name)
    return value if isinstance(value, dict) else {}


def methods_summary(methods: dict[str, Any] | None) -> str:
    """`voice anonymised (mcadams-lpc), faces blurred (blazeface), metadata stripped` from the JSON."""
    if not methods:
        return "unknown"
    parts: list[str] = []
    voice = _section(methods, "voice")
    if voice:
        phrase = _VOICE.get(str(voice.get("mode")), f"voice {voice.get('mode')}")
        parts.append(f"{phrase} ({voice['method']})" if voice.get("method") else phrase)
    people = _section(methods, "people")
    if people.get("mode") == "skeleton":
        parts.append(f"people drawn as skeletons ({people.get('model', '?')})")
    faces = _section(methods, "faces")
    if faces:
        phrase = _FACES.get(str(faces.get("mode")), f"faces {faces.get('mode')}")
        parts.append(f"{phrase} ({faces['model']})" if faces.get("model") else phrase)
    if methods.get("metadata"):
        parts.append(f"metadata {methods['metadata']}")
    return ", ".join(parts) or "unknown"


@dataclass(frozen=True, slots=True)
class LineageInfo:
    """One `phiwall scrub` output: its source, how it was made, by whom, when (no content)."""

    id: int
    time: datetime
    user: str
    agent_id: str
    kind: str
    size: int
    duration_s: float | None
    scrub_s: float
    source_asset_id: str | None
    source_path: str | None
    """The source asset's enrolled path (None: not enrolled, or not in this store)."""
    source_match: str | None
    source_score: float | None
    output_path: str
    output_sha256: str
    derivative_asset_id: str | None
    methods: dict[str, Any] | None
    tool_version: str

    @property
    def methods_text(self) -> str:
        return methods_summary(self.methods)

    @property
    def source_text(self) -> str:
        if self.source_asset_id is None:
            return "not enrolled"
        found = {"sha256": "same bytes", "fingerprint": "recognised copy"}.get(self.source_match or "", "?")
        return f"{self.source_path or self.source_asset_id[:12] + '…'} ({found})"


@dataclass(frozen=True, slots=True)
class TriageEntry:
    """One row of the append-only triage trail."""

    id: int
    event_id: str
    time: datetime
    analyst: str
    action: str
    state: str | None
    classification: str | None
    note: str | None
    escalate: bool | None

    def summary(self) -> str:
        if self.action == "state":
            text = f"set state {self.state}"
            if self.classification:
                text += f" ({self.classification.replace('_', ' ')})"
            return text
        if self.action == "classify":
            return f"classified {(self.classification or '?').replace('_', ' ')}"
        if self.action == "escalate":
            return "escalated" if self.escalate else "de-escalated"
        if self.action == "note":
            return "note"
        return self.action


@dataclass(frozen=True, slots=True)
class RelatedGroup:
    """Incidents sharing one attribute with the one shown (same user, asset or service)."""

    label: str
    value: str | None
    rows: tuple[IncidentRow, ...]
    total: int
    capped: bool


@dataclass(frozen=True)
class IncidentDetail:
    """Everything the store knows about one event."""

    row: IncidentRow
    fields: dict[str, Any]
    details: dict[str, Any] | None
    details_error: str | None
    asset: AssetInfo | None
    agent_hostname: str | None
    history: tuple[TriageEntry, ...]
    related: tuple[RelatedGroup, ...] = field(default=())
    lineage: LineageInfo | None = None
    """The matched asset is a de-identified derivative: where it came from and how it was made."""


def parse_details(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The `details` JSON as a dict, or why it could not be read (never raises)."""
    if raw is None or raw == "":
        return {}, None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError) as exc:
        return None, f"details are not valid JSON ({exc.__class__.__name__}); shown raw"
    if not isinstance(value, dict):
        return None, "details are not a JSON object; shown raw"
    return value, None


@dataclass(frozen=True, slots=True)
class Count:
    """A row count that stops at `cap` so huge stores never pay for a full scan."""

    value: int
    capped: bool

    def text(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


@dataclass(frozen=True)
class PageCursor:
    """Where the last page ended: the sort column's value, then time and id as tie-breakers."""

    value: Any
    time: datetime
    id: str


@dataclass(frozen=True)
class Page:
    rows: tuple[IncidentRow, ...]
    cursor: PageCursor | None
    has_more: bool
