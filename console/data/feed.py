"""The incidents list as a view model (mitmproxy's idea): rows, order, marks and live additions.

The screen only mirrors this object. It knows which rows are loaded and in which order, how
to page further, which rows the analyst marked, and what to do with events that arrive while
the analyst reads: in time order they are placed where they belong (the screen keeps its
cursor on the same incident); while paused, or in another sort order where their place is
unknown, they wait and are counted ("N new").

New events are found by polling ids in a look-back window behind the newest time seen, not
only after it: the agent's writer batches rows and fleet stores receive them late, so an
event can land with a time slightly older than rows already shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from console.data.filters import EventFilter, Sort
from console.data.rows import IncidentRow, Page, PageCursor

LOOKBACK = timedelta(minutes=2)
MAX_LOADED = 20_000
MAX_PENDING = 5_000


@dataclass
class Insertion:
    """Rows placed into the list by one live update, with their new indexes (ascending)."""

    rows: list[IncidentRow] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)

    def count_before(self, index: int) -> int:
        """How many of the inserted rows now sit above the row at (new) `index`."""
        return sum(1 for i in self.indexes if i < index)


def _newer(a: IncidentRow, b: IncidentRow) -> bool:
    return (a.time, a.id) > (b.time, b.id)


class IncidentFeed:
    """Loaded incidents in display order, plus marks and the live-feed bookkeeping."""

    def __init__(self, flt: EventFilter | None = None, sort: Sort | None = None) -> None:
        self.filter = flt or EventFilter()
        self.sort = sort or Sort()
        self.rows: list[IncidentRow] = []
        self._index: dict[str, int] = {}
        self.cursor: PageCursor | None = None
        self.has_more = False
        self.marked: set[str] = set()
        # "Mark all matching": actions then apply to every event of the filter in the store,
        # not to the loaded rows (console.data.bulk).
        self.all_matching = False
        self.paused = False
        self.pending: dict[str, IncidentRow] = {}
        self.pending_overflow = False
        self.unplaced = 0  # new events seen in a sort order where their place is unknown
        self.watermark: datetime | None = None
        self._known: dict[str, datetime] = {}
        self._seeded = False
        self.generation = 0  # bumped on every reset: late worker results for an old view are dropped

    # -- loading ---------------------------------------------------------------------------
    @property
    def live_in_place(self) -> bool:
        """Whether new events can be placed into the list (time order) or only counted."""
        return self.sort.key == "time"

    def reset(self, flt: EventFilter, sort: Sort) -> int:
        """Start a new view; returns the generation number results must carry."""
        self.filter, self.sort = flt, sort
        self.rows, self._index = [], {}
        self.cursor, self.has_more = None, False
        self.marked.clear()
        self.all_matching = False
        self.pending.clear()
        self.pending_overflow = False
        self.unplaced = 0
        self.watermark = None
        self._known.clear()
        self._seeded = False
        self.generation += 1
        return self.generation

    def load_first(self, page: Page, *, now: datetime) -> None:
        self.rows = []
        self._index = {}
        self._append(page.rows)
        self.cursor, self.has_more = page.cursor, page.has_more
        newest = max((r.time for r in page.rows), default=None) if self.sort == Sort() else None
        self.watermark = newest or now
        for row in page.rows:
            self._known[row.id] = row.time
        # In time order the first page is the baseline; in other orders the first poll is.
        self._seeded = self.live_in_place

    def load_more(self, page: Page) -> list[IncidentRow]:
        """Append a further page; returns the rows actually added (duplicates are dropped)."""
        added = self._append(page.rows)
        self.cursor, self.has_more = page.cursor, page.has_more and len(self.rows) < MAX_LOADED
        return added

    @property
    def full(self) -> bool:
        return len(self.rows) >= MAX_LOADED

    def _append(self, rows: Iterable[IncidentRow]) -> list[IncidentRow]:
        added = []
        for row in rows:
            if row.id in self._index:
                continue
            self._index[row.id] = len(self.rows)
            self.rows.append(row)
            added.append(row)
        return added

    # -- lookups ---------------------------------------------------------------------------
    def index_of(self, event_id: str) -> int | None:
        return self._index.get(event_id)

    def get(self, event_id: str) -> IncidentRow | None:
        i = self._index.get(event_id)
        return None if i is None else self.rows[i]

    def __len__(self) -> int:
        return len(self.rows)

    # -- live feed -------------------------------------------------------------------------
    def poll_since(self) -> datetime | None:
        return None if self.watermark is None else self.watermark - LOOKBACK

    def on_poll(self, polled: Sequence[tuple[str, datetime]]) -> list[str]:
        """Ids from a poll whose rows must be fetched (those the feed has not seen yet).

        The first poll of a view that is not in time order only records what exists.
        """
        if not self._seeded:
            for event_id, when in polled:
                self._known[event_id] = when
            self._advance(when for _, when in polled)
            self._seeded = True
            return []
        return [event_id for event_id, _ in polled if event_id not in self._known and event_id not in self._index]

    def accept(self, rows: Sequence[IncidentRow]) -> Insertion:
        """Take rows a poll found; place them (time order, not paused) or hold and count them."""
        fresh = [r for r in rows if r.id not in self._known and r.id not in self._index]
        for row in fresh:
            self._known[row.id] = row.time
        self._advance(r.time for r in fresh)
        self._prune()
        if not fresh:
            return Insertion()
        if not self.live_in_place:
            self.unplaced += len(fresh)
            return Insertion()
        if self.paused:
            for row in fresh:
                if len(self.pending) >= MAX_PENDING:
                    self.pending_overflow = True
                    break
                self.pending[row.id] = row
            return Insertion()
        return self._place(fresh)

    def resume(self) -> Insertion:
        """Unpause: place what waited (unless too much did: then the caller reloads)."""
        self.paused = False
        waiting = list(self.pending.values())
        self.pending.clear()
        if self.pending_overflow:
            return Insertion()
        return self._place(waiting)

    @property
    def new_waiting(self) -> int:
        return len(self.pending) if self.live_in_place else self.unplaced

    def _advance(self, times: Iterable[datetime]) -> None:
        for when in times:
            if self.watermark is None or when > self.watermark:
                self.watermark = when

    def _prune(self) -> None:
        if self.watermark is None or len(self._known) < 4 * MAX_PENDING:
            return
        horizon = self.watermark - 2 * LOOKBACK
        self._known = {k: t for k, t in self._known.items() if t >= horizon or k in self._index}

    def _place(self, rows: Sequence[IncidentRow]) -> Insertion:
        """Insert rows at their time-order positions inside the loaded range."""
        descending = self.sort.descending
        placed: list[IncidentRow] = []
        for row in sorted(rows, key=lambda r: (r.time, r.id), reverse=descending):
            position = self._position(row, descending)
            if position is None:
                continue
            self.rows.insert(position, row)
            placed.append(row)
        if not placed:
            return Insertion()
        self._index = {r.id: i for i, r in enumerate(self.rows)}
        return Insertion(rows=placed, indexes=sorted(self._index[r.id] for r in placed))

    def _position(self, row: IncidentRow, descending: bool) -> int | None:
        lo, hi = 0, len(self.rows)
        while lo < hi:
            mid = (lo + hi) // 2
            before = _newer(self.rows[mid], row) if descending else _newer(row, self.rows[mid])
            if before:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self.rows) and self.has_more:
            return None  # beyond what is loaded: paging will bring it in its turn
        return lo

    # -- marks and row updates -------------------------------------------------------------
    def toggle_mark(self, event_id: str) -> bool:
        if event_id in self.marked:
            self.marked.discard(event_id)
            return False
        if event_id in self._index:
            self.marked.add(event_id)
            return True
        return False

    def is_marked(self, event_id: str) -> bool:
        return self.all_matching or event_id in self.marked

    def mark_all_matching(self) -> None:
        self.marked.clear()
        self.all_matching = True

    def mark_all_loaded(self) -> int:
        self.marked = set(self._index)
        return len(self.marked)

    def clear_marks(self) -> None:
        self.marked.clear()
        self.all_matching = False

    def remove_rows(self, event_ids: Iterable[str]) -> list[str]:
        """Drop loaded rows that no longer match the filter (e.g. closed in a state:open view)."""
        gone = {i for i in event_ids if i in self._index}
        if gone:
            self.rows = [r for r in self.rows if r.id not in gone]
            self._index = {r.id: i for i, r in enumerate(self.rows)}
            self.marked -= gone
        return sorted(gone)

    def replace_rows(self, rows: Iterable[IncidentRow]) -> list[IncidentRow]:
        """Refresh loaded rows in place (e.g. after triage); returns those that were loaded."""
        changed = []
        for row in rows:
            i = self._index.get(row.id)
            if i is not None:
                self.rows[i] = row
                changed.append(row)
        return changed
