"""Plain-text formatting of store values for people: times, sizes, scores, labels.

Missing values (events written by older agents, rows from other tools) are shown as an
em dash rather than "None", and nothing here raises on odd input.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, tzinfo
from typing import Literal

MISSING = "—"

STATE_LABELS = {"new": "new", "acknowledged": "acknowledged", "in_progress": "in progress", "closed": "closed"}
CLASSIFICATION_LABELS = {"true_positive": "true positive", "benign": "benign", "false_positive": "false positive"}


def text(value: object) -> str:
    if value is None or value == "":
        return MISSING
    return str(value)


def when(value: datetime | None, tz: tzinfo | None, *, short: bool | Literal["minutes"] = False) -> str:
    """A UTC time shown in the console's time zone (the machine's local zone unless configured).

    Always with the year and the zone: `short` is ISO 8601 to the second with the UTC offset
    (`2026-03-01 13:00:00+01:00`, sortable, unambiguous in a ticket); the long form adds the
    zone's name (`2026-03-01 13:00:00+01:00 CET`).
    """
    if value is None:
        return MISSING
    local = value.astimezone(tz)
    iso = local.isoformat(sep=" ", timespec="seconds")
    if short == "minutes":  # narrow tables (inventory): still the year and the offset
        return local.isoformat(sep=" ", timespec="minutes")
    if short:
        return iso
    name = local.tzname() or ""
    return f"{iso} {name}".strip() if name and not name.startswith(("+", "-")) else iso


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return MISSING
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def size(value: int | None) -> str:
    if value is None:
        return MISSING
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def score(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def offset(value: float | None) -> str:
    if value is None:
        return MISSING
    return str(timedelta(seconds=round(value, 1))).removeprefix("0:")


def state(value: str | None) -> str:
    return STATE_LABELS.get(value or "", text(value))


def classification(value: str | None) -> str:
    return CLASSIFICATION_LABELS.get(value or "", text(value))


def asset_label(asset_path: str | None, asset_id: str | None) -> str:
    """The enrolled file's name, else the asset id's start (asset not in this store), else a dash."""
    if asset_path:
        return os.path.basename(asset_path) or asset_path
    if asset_id:
        return asset_id[:12] + "…"
    return MISSING


def service_label(service_id: str | None, host: str | None) -> str:
    return service_id or (f"? {host}" if host else MISSING)


def duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def local_zone() -> tzinfo | None:
    """None means "the machine's local zone" to `datetime.astimezone`."""
    return None
