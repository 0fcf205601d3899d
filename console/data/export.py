"""Exports: the current filtered view as CSV or JSON, and the triage audit report.

Both stream from the database in keyset-paged batches, so exporting a million events costs
a few MB of memory, and both write through a private temporary file (0600: incidents name
clinical files) renamed into place at the end, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Engine, select

from agent.store import utcnow
from console.data.filters import EventFilter, Sort
from console.data.incidents import SORT_FIELD, after_cursor, order_by, text_plan, where_clauses
from console.data.rows import PageCursor, parse_details
from console.data.tables import ASSET, EVENT, TRIAGE

Format = Literal["csv", "json"]
BATCH = 2000

# Columns of an export, in order: the event fields (docs/configuration.md "What the store
# holds"), the triage caches and the matched asset's enrolled path (analysts only; exports are
# private files).
EXPORT_FIELDS = (
    "id",
    "time",
    "agent_id",
    "kind",
    "user",
    "pid",
    "process_name",
    "process_exe",
    "host",
    "path",
    "method",
    "service_id",
    "service_category",
    "verdict",
    "reason",
    "asset_id",
    "asset_path",
    "match_score",
    "match_kind",
    "match_offset_s",
    "payload_size",
    "sniffed_types",
    "catalog_version",
    "details",
    "triage_state",
    "classification",
    "escalated",
)

AUDIT_FIELDS = (
    "time",
    "analyst",
    "event_id",
    "action",
    "state",
    "classification",
    "escalate",
    "note",
    "event_time",
    "event_verdict",
    "event_service",
    "event_host",
    "event_user",
)


class ExportError(RuntimeError):
    """The export file could not be written (the message names the path and the reason)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    format: Format


def format_for(path: Path, explicit: str | None = None) -> Format:
    fmt = (explicit or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "json"):
        raise ExportError(f"cannot export as {fmt!r}: use a .csv or .json file name")
    return "csv" if fmt == "csv" else "json"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@contextmanager
def _private_output(path: Path) -> Iterator[IO[str]]:
    """A text file at `path`, created 0600 via a temporary name and renamed when complete."""
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TRAIL_FIELDS = ("time", "analyst", "action", "state", "classification", "escalate", "note")


def _trails(conn: Any, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The triage trail (notes included) of each event, oldest action first."""
    t = TRIAGE.c
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        query = select(t.event_id, *(t[name] for name in TRAIL_FIELDS)).where(t.event_id.in_(chunk))
        for row in conn.execute(query.order_by(t.time.asc(), t.id.asc())).all():
            m = row._mapping
            found.setdefault(m["event_id"], []).append(
                {name: _plain(m[name]) for name in TRAIL_FIELDS if m[name] is not None}
            )
    return found


def iter_view(
    engine: Engine, flt: EventFilter, sort: Sort, *, batch: int = BATCH, with_trail: bool = False
) -> Iterator[dict[str, Any]]:
    """Every event of the view, in the view's order, as plain dicts (batched keyset reads).

    `with_trail` adds each event's triage trail as `triage` (read with the same batch).
    """
    columns = [EVENT.c[name] for name in EXPORT_FIELDS if name != "asset_path"] + [ASSET.c.path.label("asset_path")]
    cursor: PageCursor | None = None
    sqlite = engine.dialect.name == "sqlite"
    sort_field = SORT_FIELD[sort.key]
    with engine.connect() as conn:  # PostgreSQL: its planner's choice (see incidents.page_query)
        plan = text_plan(conn, flt, wanted=batch) if sqlite else "scan"
    while True:
        query = (
            select(*columns)
            .select_from(EVENT.outerjoin(ASSET, ASSET.c.id == EVENT.c.asset_id))
            .where(*where_clauses(flt, sqlite=sqlite, plan=plan))
        )
        if cursor is not None:
            query = query.where(after_cursor(sort, cursor))
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(*order_by(sort)).limit(batch)).all()
            trails = _trails(conn, [r.id for r in rows]) if with_trail and rows else {}
        for row in rows:
            item = dict(row._mapping)
            if with_trail:
                item["triage"] = trails.get(item["id"], [])
            yield item
        if len(rows) < batch:
            return
        last = rows[-1]._mapping
        cursor = PageCursor(value=None if sort.key == "time" else last[sort_field], time=last["time"], id=last["id"])


def export_view(
    engine: Engine,
    flt: EventFilter,
    sort: Sort,
    path: Path,
    *,
    fmt: Format | None = None,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write the view to `path` (CSV with a header row, or a JSON document with the rows).

    JSON events carry `details` as an object (not the stored string) and `triage`, the
    incident's whole trail with notes; CSV keeps one flat line per event.
    """
    chosen = fmt or format_for(path)
    count = 0
    with _private_output(path) as out:
        rows = iter_view(engine, flt, sort, with_trail=chosen == "json")
        if chosen == "csv":
            writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
            writer.writeheader()
        else:
            header = {
                "export": "phiwall incidents",
                "generated_at": utcnow().isoformat(),
                "filter": flt.describe(),
                "sort": f"{sort.key} {'desc' if sort.descending else 'asc'}",
            }
            out.write(json.dumps(header)[:-1] + ', "events": [\n')
        for row in rows:
            if cancelled is not None and cancelled():
                raise ExportError("export cancelled")
            plain = {k: _plain(row.get(k)) for k in EXPORT_FIELDS}
            if chosen == "csv":
                writer.writerow(plain)
            else:
                details, problem = parse_details(row.get("details"))
                plain["details"] = details if problem is None else {"unreadable": row.get("details")}
                plain["triage"] = row.get("triage", [])
                out.write((",\n" if count else "") + json.dumps(plain, ensure_ascii=False))
            count += 1
            if progress is not None and count % BATCH == 0:
                progress(count)
        if chosen == "json":
            out.write(f'\n], "count": {count}}}\n')
    return ExportResult(path=path.expanduser(), rows=count, format=chosen)


def audit_rows(engine: Engine, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
    """Triage actions with `since <= time < until`, oldest first, with the incident they touched."""
    t = TRIAGE.c
    e = EVENT.c
    columns = (
        t.id,
        t.time,
        t.analyst,
        t.event_id,
        t.action,
        t.state,
        t.classification,
        t.escalate,
        t.note,
        e.time.label("event_time"),
        e.verdict.label("event_verdict"),
        e.service_id.label("event_service"),
        e.host.label("event_host"),
        e.user.label("event_user"),
    )
    last: tuple[datetime, int] | None = None
    while True:
        query = (
            select(*columns)
            .select_from(TRIAGE.outerjoin(EVENT, e.id == t.event_id))
            .where(t.time >= since, t.time < until)
        )
        if last is not None:
            query = query.where(t.time >= last[0]).where((t.time > last[0]) | (t.id > last[1]))
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(t.time.asc(), t.id.asc()).limit(BATCH)).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < BATCH:
            return
        tail = rows[-1]._mapping
        last = (tail["time"], tail["id"])


def audit_report(
    engine: Engine,
    since: datetime,
    until: datetime,
    path: Path,
    *,
    generated_by: str,
    fmt: Format | None = None,
) -> ExportResult:
    """Who did what, when: every triage action in [since, until) with a per-analyst summary.

    CSV holds one line per action; JSON adds the period, the author of the report and counts
    per analyst and action.
    """
    if until <= since:
        raise ExportError("the audit period is empty: 'until' must be after 'since'")
    chosen = fmt or format_for(path)
    count = 0
    summary: dict[str, dict[str, int]] = {}
    with _private_output(path) as out:
        if chosen == "csv":
            writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS, extrasaction="ignore")
            writer.writeheader()
        else:
            out.write('{"actions": [\n')
        for row in audit_rows(engine, since, until):
            plain = {k: _plain(row.get(k)) for k in AUDIT_FIELDS}
            key = row["action"] if row["action"] != "state" else f"state:{row['state']}"
            per = summary.setdefault(row["analyst"], {})
            per[key] = per.get(key, 0) + 1
            if chosen == "csv":
                writer.writerow(plain)
            else:
                out.write((",\n" if count else "") + json.dumps(plain, ensure_ascii=False))
            count += 1
        if chosen == "json":
            tail = {
                "report": "phiwall triage audit",
                "since": since.isoformat(),
                "until": until.isoformat(),
                "generated_at": utcnow().isoformat(),
                "generated_by": generated_by,
                "count": count,
                "by_analyst": summary,
            }
            out.write("\n], " + json.dumps(tail)[1:] + "\n")
    return ExportResult(path=path.expanduser(), rows=count, format=chosen)
