"""What the analyst asked to see: an `EventFilter`, a `Sort`, and the search syntax behind them.

The filter bar's widgets and the free-text search box both end up here. The search box takes
plain words (matched as substrings of host, user, process, service, reason, path, agent and the
matched asset's file name, and as the start of an event or asset id) and `key:value` terms,
so power users can type the whole query:

    verdict:block,audit state:open service:openai user:alice since:24h until:2026-03-01 dictation

Terms are parsed into typed fields here, never pasted into SQL; `console.data.incidents`
turns the result into parameterised SQLAlchemy expressions.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

VERDICTS = ("block", "audit", "allow", "info")
KINDS = ("upload", "discovery", "bypass", "pinned", "signature", "watcher", "health")
TRIAGE_STATES = ("new", "acknowledged", "in_progress", "closed")
OPEN_STATES = frozenset({"new", "acknowledged", "in_progress"})

SortKey = Literal["time", "verdict", "state", "service", "host", "user", "process", "score"]
SORT_KEYS: tuple[SortKey, ...] = ("time", "verdict", "state", "service", "host", "user", "process", "score")

# Time range presets offered by the filter bar, newest first; "all" has no lower bound.
RANGE_PRESETS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_TEXT_TERMS = 8


class QueryError(ValueError):
    """A search term the console cannot understand; the message says which and why."""


@dataclass(frozen=True)
class EventFilter:
    """A conjunction of conditions on events; empty sets and None mean "any"."""

    verdicts: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    service: str | None = None
    host: str | None = None
    user: str | None = None
    process: str | None = None
    agent: str | None = None
    asset: str | None = None
    escalated: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    words: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """A short human summary for the status bar, exports and audit headers."""
        parts: list[str] = []
        if self.verdicts:
            parts.append("verdict:" + ",".join(sorted(self.verdicts)))
        if self.states:
            parts.append("state:" + ("open" if self.states == OPEN_STATES else ",".join(sorted(self.states))))
        if self.kinds:
            parts.append("kind:" + ",".join(sorted(self.kinds)))
        for name in ("service", "host", "user", "process", "agent", "asset"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}:{value}")
        if self.escalated is not None:
            parts.append("is:escalated" if self.escalated else "not:escalated")
        if self.since:
            parts.append("since:" + self.since.strftime("%Y-%m-%dT%H:%M"))
        if self.until:
            parts.append("until:" + self.until.strftime("%Y-%m-%dT%H:%M"))
        parts.extend(_quote(w) for w in self.words)
        return " ".join(parts) or "all events"

    @property
    def is_empty(self) -> bool:
        return self == EventFilter()


@dataclass(frozen=True)
class Sort:
    key: SortKey = "time"
    descending: bool = True

    def describe(self) -> str:
        return f"{self.key} {'↓' if self.descending else '↑'}"


def _quote(word: str) -> str:
    return shlex.quote(word) if any(c.isspace() for c in word) else word


def parse_time(value: str, *, now: datetime, field_name: str) -> datetime:
    """`24h` / `7d` / `30m` / `2w` (ago), `today`, `yesterday`, an ISO date or date-time (UTC unless it says)."""
    value = value.strip()
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        return midnight
    if value == "yesterday":
        return midnight - timedelta(days=1)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"{field_name}:{value} is not a time (use 24h, 7d, today, 2026-03-01 or 2026-03-01T08:30)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def range_since(preset: str, now: datetime) -> datetime | None:
    """The lower time bound of a filter-bar preset."""
    try:
        span = RANGE_PRESETS[preset]
    except KeyError:
        raise QueryError(f"unknown time range {preset!r} (use one of {', '.join(RANGE_PRESETS)})") from None
    return None if span is None else now - span


def _values(key: str, raw: str, allowed: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    values = frozenset(v.strip().lower().replace("-", "_").replace(" ", "_") for v in raw.split(",") if v.strip())
    unknown = sorted(values - set(allowed))
    if not values or unknown:
        raise QueryError(f"{key}:{raw} is not valid (use {', '.join(sorted(allowed))})")
    return values


def parse_query(text: str, *, now: datetime, base: EventFilter | None = None) -> EventFilter:
    """Apply the search box's terms on top of `base` (the filter bar's own fields).

    A `key:value` term replaces the bar's value for that key; plain words must all match.
    """
    result = base or EventFilter()
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"cannot read the search: {exc}") from None
    words: list[str] = list(result.words)
    for token in tokens:
        key, sep, value = token.partition(":")
        key = key.lower()
        if not sep or key not in _KEYS:
            words.append(token)
            continue
        if not value:
            raise QueryError(f"{key}: needs a value, e.g. {_KEYS[key]}")
        result = _apply(result, key, value, now)
    if len(words) > MAX_TEXT_TERMS:
        raise QueryError(f"too many search words ({len(words)}); use at most {MAX_TEXT_TERMS}")
    return replace(result, words=tuple(words))


_KEYS: dict[str, str] = {
    "verdict": "verdict:block,audit",
    "state": "state:open",
    "kind": "kind:upload",
    "service": "service:openai",
    "host": "host:api.openai.com",
    "user": "user:alice",
    "process": "process:firefox",
    "agent": "agent:ws-001",
    "asset": "asset:3fa2…",
    "is": "is:escalated",
    "not": "not:escalated",
    "since": "since:24h",
    "until": "until:2026-03-01",
}


def _apply(result: EventFilter, key: str, value: str, now: datetime) -> EventFilter:
    if key == "verdict":
        return replace(result, verdicts=_values(key, value, VERDICTS))
    if key == "state":
        if value.lower() == "open":
            return replace(result, states=OPEN_STATES)
        return replace(result, states=_values(key, value, TRIAGE_STATES))
    if key == "kind":
        return replace(result, kinds=_values(key, value, KINDS))
    if key in ("is", "not"):
        if value.lower() != "escalated":
            raise QueryError(f"{key}:{value} is not valid (use is:escalated or not:escalated)")
        return replace(result, escalated=key == "is")
    if key == "since":
        return replace(result, since=parse_time(value, now=now, field_name=key))
    if key == "until":
        return replace(result, until=parse_time(value, now=now, field_name=key))
    if key == "service":
        return replace(result, service=value)
    if key == "host":
        return replace(result, host=value)
    if key == "user":
        return replace(result, user=value)
    if key == "process":
        return replace(result, process=value)
    if key == "agent":
        return replace(result, agent=value)
    return replace(result, asset=value)


def help_terms() -> list[tuple[str, str]]:
    """(term, example) pairs for the help screen."""
    return list(_KEYS.items())
