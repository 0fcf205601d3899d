"""Incident queries: filtered, sorted, keyset-paged reads of `event`, fast at a million rows.

Why keyset paging: `OFFSET 500000` makes the database walk half a million rows; a cursor on
the last row shown (sort value, time, id) makes every page an index range scan. Counts stop at
a cap (`Count.capped`) for the same reason. Every filter is a parameterised expression on an
indexed column where one exists. Free-text words are substring matches; with the trigram
index (`agent.store.text_index`) a word held by few rows is looked up in it, and a word held by
many is found by scanning rows in the sort order, which fills a page after a few hundred rows
(`text_plan` asks the index how many hold it before choosing). Without the index, or for words
under three characters, the scan is the only way, and a rare word costs one pass over the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    any_,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)

from agent.store import text_index
from console.data.filters import OPEN_STATES, TRIAGE_STATES, EventFilter, Sort, SortKey
from console.data.rows import (
    AssetInfo,
    Count,
    IncidentDetail,
    IncidentRow,
    Page,
    PageCursor,
    RelatedGroup,
    TriageEntry,
    parse_details,
)
from console.data.tables import AGENT, ASSET, EVENT, TRIAGE

PAGE_SIZE = 200
COUNT_CAP = 100_000
TEXT_COUNT_CAP = 10_000
RELATED_LIMIT = 10
RELATED_COUNT_CAP = 1_000
INCIDENT_VERDICTS = ("block", "audit")
# Choosing between the trigram index and the scan for a word (`text_plan`): through the index
# each candidate row costs a lookup, about LOOKUP_COST times a LIKE test of a row in a scan; a
# scan in sort order reads about rows/candidates rows per match it needs. The index wins while
# candidates² < wanted x rows / LOOKUP_COST (measured at 1M events: 5,000 candidates cost the
# same either way for a page). Below MIN_INDEXED candidates the index always wins.
LOOKUP_COST = 8
MIN_INDEXED = 1_000

TextPlan = Literal["scan", "index"]

c = EVENT.c

SORT_COLUMNS: dict[SortKey, Any] = {
    "time": c.time,
    "verdict": c.verdict,
    "state": c.triage_state,
    "service": c.service_id,
    "host": c.host,
    "user": c.user,
    "process": c.process_name,
    "score": c.match_score,
}

ROW_COLUMNS = (
    c.id,
    c.time,
    c.verdict,
    c.triage_state,
    c.escalated,
    c.classification,
    c.kind,
    c.service_id,
    c.service_category,
    c.host,
    c.user,
    c.pid,
    c.process_name,
    c.asset_id,
    ASSET.c.path.label("asset_path"),
    c.match_kind,
    c.match_score,
    c.agent_id,
    c.reason,
)

# Columns a free-text word is looked for in (plus the matched asset's enrolled path); the
# event and asset ids match a word that starts them.
TEXT_COLUMNS = tuple(c[name] for name in text_index.TEXT_COLUMNS)
ID_COLUMNS = (c.id, c.asset_id)


def _match(column: Any, value: str) -> ColumnElement[bool]:
    """Exact match (index-friendly), or a glob when the value holds `*`."""
    if "*" in value:
        pattern = text_index.escape_like(value).replace("*", "%")
        return column.like(pattern, escape="\\")  # type: ignore[no-any-return]
    return column == value  # type: ignore[no-any-return]


def _starts(column: Any, word: str) -> ColumnElement[bool]:
    """An id starting with `word`, as a range its b-tree index answers on both databases.

    Ids are lowercase hex, and every hex character sorts below "g" in byte order and in the
    usual PostgreSQL collations alike, so [word, word + "g") holds exactly the ids it starts.
    """
    prefix = word.lower()
    return and_(column >= prefix, column < prefix + "g")


def _word(word: str, *, sqlite: bool, plan: TextPlan) -> ColumnElement[bool]:
    """`word` anywhere in the text columns or the asset's path, or at the start of an id, ignoring case.

    SQLite's LIKE already ignores ASCII case; its ILIKE spelling (`lower(x) LIKE lower(y)`)
    costs twice as much on a full scan, so each dialect gets its cheapest form. Through the
    index (SQLite), the LIKE still decides: the index only narrows the rows it is tried on,
    so both plans select exactly the same rows. PostgreSQL gets the indexed expression
    whatever the plan; its own planner chooses between the index and a scan.
    """
    pattern = f"%{text_index.escape_like(word)}%"

    def contains(col: Any) -> ColumnElement[bool]:
        return col.like(pattern, escape="\\") if sqlite else col.ilike(pattern, escape="\\")  # type: ignore[no-any-return]

    asset_ids = select(ASSET.c.id).where(contains(ASSET.c.path))
    by_id = [_starts(col, word) for col in ID_COLUMNS]
    if not sqlite:
        # `= ANY(ARRAY(subquery))` is an index condition (the array is computed once), where
        # `IN (subquery)` would be a hashed filter that keeps the planner off the text index.
        in_assets = c.asset_id == any_(func.array(asset_ids.scalar_subquery()))
        return or_(contains(text_index.pg_text()), in_assets, *by_id)
    in_columns = or_(*(contains(col) for col in TEXT_COLUMNS))
    if plan == "index" and text_index.indexable(word):
        in_columns = and_(literal_column("event.rowid").in_(text_index.sqlite_rowids(word)), in_columns)
    return or_(in_columns, c.asset_id.in_(asset_ids), *by_id)


def _index_wins_below(rows: int, wanted: int) -> int:
    return max(MIN_INDEXED, math.isqrt(wanted * rows // LOOKUP_COST))


def text_plan(conn: Connection, flt: EventFilter, *, wanted: int | None = PAGE_SIZE + 1) -> TextPlan:
    """How the filter's words are best found in this store: through the trigram index, or by scan.

    `wanted`: how many matching rows the query reads before it stops (a page, a count's cap,
    an export batch), or None for every match (an exact count, a bulk action). The index when
    a word is rare (a lookup per candidate row); the scan in sort order when every word is
    common (it has `wanted` rows after few reads). The index is asked how many rows hold the
    word, counting no further than the point where the scan wins. Matches bunched at the far
    end of the sort order make a scan slower than this assumes. On PostgreSQL the plan only
    changes pages (`page_query`): its planner already takes the GIN index for counts.
    """
    words = [w for w in flt.words if text_index.indexable(w)]
    if not words or not text_index.has_text_index(conn):
        return "scan"
    rows = text_index.event_rows(conn)
    limit = _index_wins_below(rows, rows if wanted is None else wanted)
    fewest = min(text_index.candidates(conn, w, limit + 1) for w in words)
    return "index" if fewest <= limit else "scan"


def where_clauses(flt: EventFilter, *, sqlite: bool = False, plan: TextPlan = "scan") -> list[ColumnElement[bool]]:
    """The filter as SQL conditions (all parameters bound, nothing pasted); `plan` from `text_plan`."""
    clauses: list[ColumnElement[bool]] = []
    if flt.verdicts:
        clauses.append(c.verdict.in_(sorted(flt.verdicts)))
    if flt.states:
        if flt.states == OPEN_STATES:
            clauses.append(c.triage_state != "closed")
        elif flt.states == frozenset(TRIAGE_STATES):
            pass
        else:
            clauses.append(c.triage_state.in_(sorted(flt.states)))
    if flt.kinds:
        clauses.append(c.kind.in_(sorted(flt.kinds)))
    if flt.service:
        clauses.append(_match(c.service_id, flt.service))
    if flt.host:
        clauses.append(_match(c.host, flt.host))
    if flt.user:
        clauses.append(_match(c.user, flt.user))
    if flt.process:
        clauses.append(_match(c.process_name, flt.process))
    if flt.agent:
        clauses.append(_match(c.agent_id, flt.agent))
    if flt.asset:
        if len(flt.asset) == 64:
            clauses.append(c.asset_id == flt.asset.lower())
        else:
            clauses.append(c.asset_id.like(text_index.escape_like(flt.asset.lower()) + "%", escape="\\"))
    if flt.escalated is not None:
        # Spelled like the partial index `ix_event_escalated_time` so the planner can use it.
        clauses.append(c.escalated == (true() if flt.escalated else false()))
    if flt.since is not None:
        clauses.append(c.time >= flt.since)
    if flt.until is not None:
        clauses.append(c.time < flt.until)
    clauses.extend(_word(word, sqlite=sqlite, plan=plan) for word in flt.words)
    return clauses


def order_by(sort: Sort, columns: Any = c) -> list[Any]:
    """The ORDER BY of `sort`, on the event table or on a subquery's `columns` of the same names."""
    time, ident = columns.time, columns.id
    if sort.key == "time":
        return [time.desc(), ident.desc()] if sort.descending else [time.asc(), ident.asc()]
    column = columns[SORT_FIELD[sort.key]]
    if sort.descending:
        return [column.desc().nulls_last(), time.desc(), ident.desc()]
    return [column.asc().nulls_last(), time.asc(), ident.asc()]


def after_cursor(sort: Sort, cursor: PageCursor) -> ColumnElement[bool]:
    """Rows that come strictly after `cursor` in `sort` order (nulls of the sort column last)."""
    t, i = c.time, c.id
    if sort.descending:
        # The redundant `time <= :t` gives both databases an index range to start from.
        tie = and_(t <= cursor.time, or_(t < cursor.time, i < cursor.id))
    else:
        tie = and_(t >= cursor.time, or_(t > cursor.time, i > cursor.id))
    if sort.key == "time":
        return tie
    column = SORT_COLUMNS[sort.key]
    if cursor.value is None:
        return and_(column.is_(None), tie)
    beyond = column < cursor.value if sort.descending else column > cursor.value
    return or_(beyond, and_(column == cursor.value, tie), column.is_(None))


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _base(conn: Connection, flt: EventFilter, plan: TextPlan = "scan") -> Select[Any]:
    return (
        select(*ROW_COLUMNS)
        .select_from(EVENT.outerjoin(ASSET, ASSET.c.id == c.asset_id))
        .where(*where_clauses(flt, sqlite=_is_sqlite(conn), plan=plan))
    )


def to_row(row: Row[Any]) -> IncidentRow:
    m = row._mapping
    return IncidentRow(
        id=m["id"],
        time=m["time"],
        verdict=m["verdict"] or "?",
        triage_state=m["triage_state"] or "new",
        escalated=bool(m["escalated"]),
        classification=m["classification"],
        kind=m["kind"],
        service_id=m["service_id"],
        service_category=m["service_category"],
        host=m["host"],
        user=m["user"],
        pid=m["pid"],
        process_name=m["process_name"],
        asset_id=m["asset_id"],
        asset_path=m["asset_path"],
        match_kind=m["match_kind"],
        match_score=m["match_score"],
        agent_id=m["agent_id"],
        reason=m["reason"],
    )


def cursor_of(row: IncidentRow, sort: Sort) -> PageCursor:
    value = None if sort.key == "time" else getattr(row, SORT_FIELD[sort.key])
    return PageCursor(value=value, time=row.time, id=row.id)


# The IncidentRow attribute (and event column) each sort key orders by.
SORT_FIELD: dict[SortKey, str] = {
    "time": "time",
    "verdict": "verdict",
    "state": "triage_state",
    "service": "service_id",
    "host": "host",
    "user": "user",
    "process": "process_name",
    "score": "match_score",
}


def page_query(
    conn: Connection, flt: EventFilter, sort: Sort, plan: TextPlan, *, after: PageCursor | None, limit: int
) -> Select[Any]:
    """The SELECT of one page: the matching rows after `after`, in `sort` order, at most `limit`.

    With the index plan on PostgreSQL the matching rows are selected in a subquery fenced by
    `OFFSET 0` and sorted outside it: planned with the ORDER BY and LIMIT, PostgreSQL walks the
    time index and tests each row (1.4 s for a word no event holds at a million events), where
    the GIN index alone finds the few candidates in milliseconds.
    """
    query = _base(conn, flt, plan)
    if after is not None:
        query = query.where(after_cursor(sort, after))
    if plan == "index" and not _is_sqlite(conn):
        matched = query.offset(0).subquery("matched")
        return select(matched).order_by(*order_by(sort, matched.c)).limit(limit)
    return query.order_by(*order_by(sort)).limit(limit)


def fetch_page(
    conn: Connection,
    flt: EventFilter,
    sort: Sort,
    *,
    after: PageCursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of matching rows in `sort` order, starting after `after`."""
    result = conn.execute(page_query(conn, flt, sort, text_plan(conn, flt), after=after, limit=limit + 1)).all()
    rows = tuple(to_row(r) for r in result[:limit])
    has_more = len(result) > limit
    return Page(rows=rows, cursor=cursor_of(rows[-1], sort) if rows else after, has_more=has_more)


def poll_ids(conn: Connection, flt: EventFilter, since: datetime, *, limit: int = 2000) -> list[tuple[str, datetime]]:
    """(id, time) of matching rows with `time >= since`, newest first: the live feed's cheap poll."""
    query = (
        select(c.id, c.time)
        .where(*where_clauses(flt, sqlite=_is_sqlite(conn)), c.time >= since)
        .order_by(c.time.desc(), c.id.desc())
        .limit(limit)
    )
    return [(r.id, r.time) for r in conn.execute(query).all()]


def count_matching(
    conn: Connection, flt: EventFilter, *, cap: int | None = None, plan: TextPlan | None = None
) -> Count:
    """How many events match, counting at most `cap + 1` rows (`plan`: `text_plan`'s unless given).

    Free-text words make every counted row a substring test, so their default cap is lower.
    """
    if cap is None:
        cap = TEXT_COUNT_CAP if flt.words else COUNT_CAP
    sqlite = _is_sqlite(conn)  # PostgreSQL's planner takes its GIN index for counts by itself
    if plan is None:
        plan = text_plan(conn, flt, wanted=cap + 1) if sqlite else "scan"
    clauses = where_clauses(flt, sqlite=sqlite, plan=plan)
    inner = select(literal(1).label("one")).select_from(EVENT).where(*clauses).limit(cap + 1).subquery()
    value = int(conn.execute(select(func.count()).select_from(inner)).scalar_one())
    return Count(value=min(value, cap), capped=value > cap)


def fetch_row(conn: Connection, event_id: str) -> IncidentRow | None:
    found = conn.execute(_base(conn, EventFilter()).where(c.id == event_id)).first()
    return to_row(found) if found else None


def fetch_rows(conn: Connection, event_ids: Sequence[str]) -> dict[str, IncidentRow]:
    """Current rows for ids (e.g. after a triage action), in chunks that fit any driver."""
    found: dict[str, IncidentRow] = {}
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        for r in conn.execute(_base(conn, EventFilter()).where(c.id.in_(chunk))).all():
            row = to_row(r)
            found[row.id] = row
    return found


def still_matching(conn: Connection, flt: EventFilter, event_ids: Sequence[str]) -> set[str]:
    """Which of `event_ids` the filter still selects (after triage moved them, say)."""
    found: set[str] = set()
    clauses = where_clauses(flt, sqlite=_is_sqlite(conn))
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        found.update(r.id for r in conn.execute(select(c.id).where(c.id.in_(chunk), *clauses)).all())
    return found


def resolve_id(conn: Connection, id_or_prefix: str, *, limit: int = 2) -> list[str]:
    """Event ids starting with `id_or_prefix` (at most `limit`): an index range on the primary key."""
    prefix = id_or_prefix.strip().lower()
    if not prefix:
        return []
    query = select(c.id).where(c.id >= prefix, c.id < prefix + "\uffff").order_by(c.id).limit(limit)
    return [r.id for r in conn.execute(query).all()]


def triage_history(conn: Connection, event_id: str) -> tuple[TriageEntry, ...]:
    t = TRIAGE.c
    rows = conn.execute(select(TRIAGE).where(t.event_id == event_id).order_by(t.time.asc(), t.id.asc())).all()
    return tuple(
        TriageEntry(
            id=r.id,
            event_id=r.event_id,
            time=r.time,
            analyst=r.analyst,
            action=r.action,
            state=r.state,
            classification=r.classification,
            note=r.note,
            escalate=r.escalate,
        )
        for r in rows
    )


def _related(conn: Connection, label: str, column: Any, value: str | None, exclude: str) -> RelatedGroup:
    if value is None:
        return RelatedGroup(label=label, value=None, rows=(), total=0, capped=False)
    condition = and_(column == value, c.id != exclude, c.verdict.in_(INCIDENT_VERDICTS))
    query = (
        select(*ROW_COLUMNS)
        .select_from(EVENT.outerjoin(ASSET, ASSET.c.id == c.asset_id))
        .where(condition)
        .order_by(c.time.desc(), c.id.desc())
        .limit(RELATED_LIMIT)
    )
    rows = tuple(to_row(r) for r in conn.execute(query).all())
    inner = select(literal(1).label("one")).select_from(EVENT).where(condition).limit(RELATED_COUNT_CAP + 1)
    total = int(conn.execute(select(func.count()).select_from(inner.subquery())).scalar_one())
    return RelatedGroup(
        label=label,
        value=value,
        rows=rows,
        total=min(total, RELATED_COUNT_CAP),
        capped=total > RELATED_COUNT_CAP,
    )


def fetch_detail(conn: Connection, event_id: str) -> IncidentDetail | None:
    """The event with its asset, agent, triage trail and related incidents."""
    fields_row = conn.execute(select(EVENT).where(c.id == event_id)).first()
    if fields_row is None:
        return None
    row = fetch_row(conn, event_id)
    assert row is not None
    fields = dict(fields_row._mapping)
    details, details_error = parse_details(fields.get("details"))
    asset = None
    if row.asset_id:
        a = conn.execute(select(ASSET).where(ASSET.c.id == row.asset_id)).first()
        if a is not None:
            asset = AssetInfo(
                id=a.id,
                kind=a.kind,
                mime=a.mime,
                path=a.path,
                size=a.size,
                duration_s=a.duration_s,
                enrolled_at=a.enrolled_at,
                deleted_at=a.deleted_at,
                origin_agent_id=a.origin_agent_id,
                lineage_id=a.lineage_id,
            )
    lineage = None
    lineage_id = asset.lineage_id if asset is not None else _derivative_lineage(details)
    if lineage_id is not None:
        from console.data.scrubbed import fetch_lineage

        lineage = fetch_lineage(conn, lineage_id)
    hostname = None
    if row.agent_id:
        hostname = conn.execute(select(AGENT.c.hostname).where(AGENT.c.id == row.agent_id)).scalar_one_or_none()
    related = (
        _related(conn, "same user", c.user, row.user, row.id),
        _related(conn, "same asset", c.asset_id, row.asset_id, row.id),
        _related(conn, "same service", c.service_id, row.service_id, row.id),
    )
    return IncidentDetail(
        row=row,
        fields=fields,
        details=details,
        details_error=details_error,
        asset=asset,
        agent_hostname=hostname,
        history=triage_history(conn, event_id),
        related=related,
        lineage=lineage,
    )


def _derivative_lineage(details: dict[str, Any] | None) -> int | None:
    """The lineage id the proxy recorded for a derivative upload (the asset may be elsewhere)."""
    derivative = (details or {}).get("derivative")
    lineage = derivative.get("lineage") if isinstance(derivative, dict) else None
    return lineage if isinstance(lineage, int) and not isinstance(lineage, bool) else None
