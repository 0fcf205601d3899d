"""The incidents screen: live feed, filters, sorting, marks, triage and export.

The screen mirrors an `IncidentFeed` (console.data.feed) in an `IncidentTable`. Every read
is a keyset-paged query in a worker: the first page of a new filter, further pages as the
cursor nears the end, a capped count, and a poll each `poll_interval` for new events.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Static

from console.data.feed import IncidentFeed
from console.data.filters import SORT_KEYS, EventFilter, QueryError, Sort
from console.data.rows import Count, IncidentRow, Page
from console.data.triage import TriageResult
from console.screens.base import LazyModule, StoreScreen, run_in_worker
from console.widgets.filter_bar import FilterBar, FilterValues
from console.widgets.footer import SteadyFooter
from console.widgets.incident_table import IncidentTable
from console.widgets.status import StatusLine

PREFETCH_ROWS = 40
# Seconds a filter's old rows stay on screen (inert) while its first page is read.
HOLD_ROWS = 0.25

# Dialogs and the triage flow are imported on first use: they are not on the first frame.
if TYPE_CHECKING:
    from console.data import incidents as queries
    from console.screens import triage_flow
    from console.screens.dialogs import ExportAnswer
else:
    queries = LazyModule("console.data.incidents")
    triage_flow = LazyModule("console.screens.triage_flow")
TRIAGE_ACTIONS = {"acknowledge", "start", "close", "reopen", "note", "escalate", "classify"}


class IncidentsScreen(StoreScreen):
    """Every incident, newest first, updating live."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="incidents.open"),
        Binding("space", "mark", "Mark", id="incidents.mark"),
        Binding("M", "mark_all", "Mark all matching", show=False, id="incidents.mark_all"),
        Binding("L", "mark_loaded", "Mark loaded", show=False, id="incidents.mark_loaded"),
        Binding("U", "clear_marks", "Unmark", show=False, id="incidents.clear_marks"),
        Binding("a", "triage('acknowledge')", "Ack", id="incidents.acknowledge"),
        Binding("i", "triage('start')", "In progress", id="incidents.start"),
        Binding("c", "triage('close')", "Close", id="incidents.close"),
        Binding("o", "triage('reopen')", "Reopen", show=False, id="incidents.reopen"),
        Binding("n", "triage('note')", "Note", show=False, id="incidents.note"),
        Binding("e", "triage('escalate')", "Escalate", show=False, id="incidents.escalate"),
        Binding("E", "triage('deescalate')", "De-escalate", show=False, id="incidents.deescalate"),
        Binding("slash", "focus_search", "Search", id="incidents.search"),
        Binding("f", "focus_filters", "Filters", show=False, id="incidents.filters"),
        Binding("ctrl+l", "clear_filters", "Clear filters", show=False, id="incidents.clear_filters"),
        Binding("p", "pause", "Pause", id="incidents.pause"),
        Binding("g", "newest", "Newest", show=False, id="incidents.newest"),
        Binding("s", "cycle_sort", "Sort", show=False, id="incidents.sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="incidents.reverse"),
        Binding("r", "reload", "Reload", show=False, id="incidents.reload"),
        Binding("x", "export", "Export", id="incidents.export"),
        Binding("escape", "focus_table", "Table", show=False, id="incidents.focus_table"),
    ]

    def __init__(self) -> None:
        super().__init__(id="incidents-screen")
        self.feed = IncidentFeed()
        self.count: Count | None = None
        self.unseen = 0
        self._loading_more = False
        self._polling = False
        self._loaded_once = False
        self._pending_open: str | None = None
        self._early_generation: int | None = None
        self.metrics: dict[str, float] = {}
        self._apply_started = 0.0
        self._release_timer: Timer | None = None
        self._focus_on_rows = False

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filters")
        yield Static("", id="live-banner")
        yield IncidentTable(tz=self.console.settings.tz, id="incidents")
        yield Static("", id="empty")
        yield StatusLine(id="status")
        # The Footer (a widget per key, recomposed as bindings settle) follows the first rows.
        yield Static("", id="footer-placeholder")

    def on_mount(self) -> None:
        status = self.query_one(StatusLine)
        settings = self.console.settings
        status.store = self.console.store_label
        status.analyst = settings.analyst
        status.read_only = settings.read_only
        self.query_one("#live-banner", Static).display = False
        self.query_one("#empty", Static).display = False
        self.query_one(IncidentTable).focus()
        if settings.live:
            self.set_interval(settings.poll_interval, self.poll)
        self.set_timer(2.0, self.complete)  # when no rows come (a store problem)
        self.call_after_refresh(self.console.start_store)  # after this screen's first frame

    def complete(self) -> None:
        """Build what the first frame only imitates: the filter bar's controls and the footer."""
        if not self.is_attached:  # the app is closing
            return
        self.query_one(FilterBar).build()
        for placeholder in self.query("#footer-placeholder"):
            placeholder.remove()
            self.call_later(self._mount_footer)

    async def _mount_footer(self) -> None:
        await self.mount(SteadyFooter())
        self.refresh_bindings()  # a Footer mounted late shows nothing until bindings are announced
        self.call_after_refresh(self.console.started)

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        """The store is open: read the view, unless its first page is already shown."""
        if self._early_generation is not None and self._early_generation == self.feed.generation:
            # Rows read before the store opened (console.data.first_page) for the same view.
            self._early_generation = None
            self._update_status()
            if self.table.row_count and self.table.cursor_row >= self.table.row_count - PREFETCH_ROWS:
                self._load_more()
            return
        self.apply_filter()

    def first_view(self) -> tuple[EventFilter, Sort] | None:
        """The filter and sort of the view before anything is loaded (None once loaded)."""
        if self._loaded_once:
            return None
        try:
            flt = self.query_one(FilterBar).values.to_filter(self.console.settings.clock())
        except QueryError:
            return None
        return flt, self.feed.sort

    def show_first_page(self, flt: EventFilter, sort: Sort, page: Page, count: Count) -> None:
        """Show a first page read before the store opened, if the view is still the same."""
        if self._loaded_once or self.console.store is not None or self.first_view() != (flt, sort):
            return
        self._apply_started = time.perf_counter()
        generation = self.feed.reset(flt, sort)
        self._early_generation = generation
        self.metrics["early_page"] = 1.0  # for tests and benchmarks: this path was taken
        self.count = count
        self._first_page(generation, page)

    @property
    def table(self) -> IncidentTable:
        return self.query_one(IncidentTable)

    def current_filter(self) -> EventFilter | None:
        try:
            return self.query_one(FilterBar).values.to_filter(self.console.settings.clock())
        except QueryError as exc:
            self.query_one(StatusLine).error = str(exc)
            self.notify(str(exc), severity="error", title="Search")
            return None

    def apply_filter(self, sort: Sort | None = None) -> None:
        """Start a new view from the filter bar's values (and an optional new sort)."""
        flt = self.current_filter()
        if flt is None:
            return
        self.query_one(StatusLine).error = ""
        self._apply_started = time.perf_counter()
        self.console.hold_collector()
        generation = self.feed.reset(flt, sort or self.feed.sort)
        self.count = None
        self.unseen = 0
        self._loading_more = False
        # The old rows stay (inert) until the new ones replace them, or HOLD_ROWS seconds.
        self.table.hold()
        if self._release_timer is not None:
            self._release_timer.stop()
        self._release_timer = self.set_timer(HOLD_ROWS, lambda: self._release_rows(generation))
        self._update_status()
        sort_now = self.feed.sort
        # The count is read once the page's rows are drawn (`_painted`): started together, the
        # two threads took turns on the interpreter, and the count only fills the status line.
        self.read_store(
            lambda conn: queries.fetch_page(conn, flt, sort_now),
            lambda page: self._first_page(generation, page),
            group="page",
            failed=lambda exc: self._page_failed(generation, exc),
        )

    def _read_count(self, generation: int) -> None:
        flt = self.feed.filter
        self.read_store(
            lambda conn: queries.count_matching(conn, flt),
            lambda count: self._counted(generation, count),
            group="count",
        )

    def _page_failed(self, generation: int, exc: BaseException) -> None:
        self.console.report_store_error(exc)
        if generation == self.feed.generation:
            self._read_count(generation)

    def _release_rows(self, generation: int) -> None:
        self._release_timer = None
        if generation == self.feed.generation and self.table.stale:
            self.table.release()
            self._focus_table_if_asked()

    def _first_page(self, generation: int, page: Page) -> None:
        if generation != self.feed.generation:
            return
        if self._release_timer is not None:
            self._release_timer.stop()
            self._release_timer = None
        self._focus_table_if_asked()
        self.feed.load_first(page, now=self.console.settings.clock())
        self.table.show(self.feed)
        self._loaded_once = True
        self.metrics["apply_ms"] = (time.perf_counter() - self._apply_started) * 1000
        self.metrics.setdefault("first_page_ms", self.metrics["apply_ms"])
        self.metrics.pop("painted_ms", None)
        started = self._apply_started
        self.call_after_refresh(self._painted, generation, started)  # the rows drawn: then the count
        self.metrics["rows"] = len(self.feed)
        self._refresh_empty()
        self._update_status()
        self.call_after_refresh(self.complete)  # the real filter controls and footer, after these rows
        if self._pending_open:
            self._jump_to(self._pending_open)
        self.console.run_preflight()  # once, now that the first rows are on screen

    def _painted(self, generation: int, started: float) -> None:
        """The first page's rows are drawn: the count's turn (and the collector's)."""
        if generation == self.feed.generation:
            self.metrics["painted_ms"] = (time.perf_counter() - started) * 1000
            self.console.release_collector()
            if self.count is None:
                self._read_count(generation)

    def _counted(self, generation: int, count: Count) -> None:
        if generation == self.feed.generation:
            self.count = count
            self._update_status()

    def _load_more(self) -> None:
        if self._loading_more or not self.feed.has_more or self.console.store is None:
            return
        self._loading_more = True
        generation, flt, sort, cursor = self.feed.generation, self.feed.filter, self.feed.sort, self.feed.cursor

        def done(page: Page) -> None:
            self._loading_more = False
            if generation != self.feed.generation:
                return
            added = self.feed.load_more(page)
            self.table.append(added, self.feed)
            self._update_status()

        def failed(exc: BaseException) -> None:
            self._loading_more = False
            self.console.report_store_error(exc)

        self.read_store(
            lambda conn: queries.fetch_page(conn, flt, sort, after=cursor),
            done,
            group="more",
            failed=failed,
        )

    # -- live feed -------------------------------------------------------------------------
    def poll(self) -> None:
        """Look for new events (timer); skipped while a poll runs or before the first page."""
        since = self.feed.poll_since()
        if self._polling or since is None or self.console.store is None or not self._loaded_once:
            return
        self._polling = True
        generation, flt = self.feed.generation, self.feed.filter

        # Two hops, both off the event loop: ids in the look-back window, then the rows the
        # feed has not seen. The feed itself is only touched on the event loop.
        def polled(found: list[tuple[str, datetime]]) -> None:
            if generation != self.feed.generation:
                self._polling = False
                return
            wanted = self.feed.on_poll(found)
            if not wanted:
                self._polling = False
                self._update_status()
                return
            self.read_store(lambda conn: queries.fetch_rows(conn, wanted), fetched, group="poll-rows", failed=failed)

        def fetched(found: dict[str, IncidentRow]) -> None:
            self._polling = False
            if generation != self.feed.generation:
                return
            insertion = self.feed.accept(list(found.values()))
            if insertion.rows:
                self.unseen += self.table.insert(insertion, self.feed)
                if self.count is not None and not self.count.capped:
                    self.count = Count(self.count.value + len(insertion.rows), capped=False)
                self._refresh_empty()
            self._update_status()

        def failed(exc: BaseException) -> None:
            self._polling = False
            self.console.report_store_error(exc)

        self.read_store(lambda conn: queries.poll_ids(conn, flt, since), polled, group="poll", failed=failed)

    def _live_text(self) -> str:
        feed = self.feed
        if not self.console.settings.live:
            return "live feed off"
        waiting = feed.new_waiting
        if feed.paused:
            more = "+" if feed.pending_overflow else ""
            return f"⏸ paused · {waiting:,}{more} new (p resumes)"
        if not feed.live_in_place and waiting:
            return f"{waiting:,} new (sorted by {feed.sort.key}: r reloads)"
        if self.unseen:
            return f"▲ {self.unseen:,} new above (g jumps to newest)"
        return "● live"

    def _update_status(self) -> None:
        status = self.query_one(StatusLine)
        feed = self.feed
        shown = f"{len(feed):,} loaded" + (" (limit: narrow the filter or export)" if feed.full else "")
        if not self.console.store and not self._loaded_once:
            matching = "opening the store…"
        elif not self._loaded_once:
            matching = "loading…"
        else:
            matching = f"{self.count.text()} matching" if self.count else "counting…"
        status.summary = f"{matching} · {shown} · {feed.filter.describe()} · sort {feed.sort.describe()}"
        if feed.all_matching:
            everything = self.count.text() if self.count else "all"
            status.summary = f"ALL {everything} matching marked (U clears) · " + status.summary
        elif feed.marked:
            status.summary = f"{len(feed.marked):,} marked · " + status.summary
        status.live = self._live_text()
        banner = self.query_one("#live-banner", Static)
        alert = feed.paused or self.unseen > 0 or (not feed.live_in_place and feed.new_waiting > 0)
        banner.display = alert
        if alert:
            banner.update(self._live_text())

    # -- empty states ----------------------------------------------------------------------
    # An empty view shrinks the table to its header rather than hiding it: a hidden table loses
    # the focus, and every focus change rebuilds the footer's keys ahead of the next rows.
    def _show_empty(self, message: str) -> None:
        empty = self.query_one("#empty", Static)
        empty.update(message)
        empty.display = True
        self.table.add_class("-empty")

    def _refresh_empty(self) -> None:
        if len(self.feed):
            self.query_one("#empty", Static).display = False
            self.table.remove_class("-empty")
            return
        if self.feed.filter.is_empty:
            self._show_empty(
                "No incidents yet.\n\nThe agent records a decision here each time it blocks or audits an upload "
                "to an AI service, discovers a new AI host, or sees a pinned app refuse inspection.\n"
                "This view updates by itself."
            )
        else:
            self._show_empty(
                f"No events match: {self.feed.filter.describe()}\n\nctrl+l clears the filters; new matching events "
                "appear here by themselves."
            )

    # -- table events ----------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#incidents")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.table
        if table.cursor_row >= table.row_count - PREFETCH_ROWS:
            self._load_more()
        if self.unseen and table.scroll_y <= 0:
            self.unseen = 0
            self._update_status()

    @on(DataTable.RowSelected, "#incidents")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @on(FilterBar.Changed)
    def _filters_changed(self, event: FilterBar.Changed) -> None:
        self.apply_filter()
        # The focus goes to the table with its new rows, not before: a focus change redraws the
        # whole screen, which would redraw the old rows once more while the new ones are read.
        self._focus_on_rows = True

    def _focus_table_if_asked(self) -> None:
        if self._focus_on_rows:
            self._focus_on_rows = False
            self.table.focus()

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Auditors (read-only) see no triage keys at all.
        return not (action == "triage" and self.console.settings.read_only)

    def selected_ids(self) -> list[str]:
        """Marked rows in list order, else the row under the cursor."""
        if self.feed.marked:
            return [r.id for r in self.feed.rows if r.id in self.feed.marked]
        current = self.table.current_id
        return [current] if current else []

    def action_open(self) -> None:
        current = self.table.current_id
        if current is None:
            return
        from console.screens.detail import IncidentDetailScreen

        ids = [r.id for r in self.feed.rows]
        self.app.push_screen(IncidentDetailScreen(current, neighbours=ids, on_change=self._rows_changed))

    def open_incident(self, event_id: str) -> None:
        """Open an incident by id (command palette); loads it even when it is not in the list."""
        from console.screens.detail import IncidentDetailScreen

        self.app.push_screen(IncidentDetailScreen(event_id, neighbours=[], on_change=self._rows_changed))

    def _jump_to(self, event_id: str) -> None:
        index = self.feed.index_of(event_id)
        self._pending_open = None
        if index is not None:
            self.table.move_cursor(row=index, animate=False)

    def action_mark(self) -> None:
        current = self.table.current_id
        if current is None:
            return
        marked = self.feed.toggle_mark(current)
        self.table.set_mark(current, marked)
        self.table.action_cursor_down()
        self._update_status()

    def action_mark_all(self) -> None:
        """Mark every event the filter matches in the store (not only the loaded rows)."""
        self.feed.mark_all_matching()
        self.table.update_rows(self.feed.rows, self.feed)
        self._update_status()

    def action_mark_loaded(self) -> None:
        self.feed.mark_all_loaded()
        self.table.update_rows(self.feed.rows, self.feed)
        self._update_status()

    def action_clear_marks(self) -> None:
        marked = [r for r in self.feed.rows if self.feed.is_marked(r.id)]
        self.feed.clear_marks()
        self.table.update_rows(marked, self.feed)
        self._update_status()

    def action_triage(self, action: str) -> None:
        if action not in TRIAGE_ACTIONS and action != "deescalate":
            return
        if self.feed.all_matching:
            triage_flow.start_matching(self, action, self.feed.filter, self._bulk_triaged)  # type: ignore[arg-type]
            return
        triage_flow.start(self, action, self.selected_ids(), self._triaged)  # type: ignore[arg-type]

    def _bulk_triaged(self) -> None:
        """Thousands of events changed in the store: read the view again (marks are cleared)."""
        self.apply_filter()

    def _triaged(self, result: TriageResult, ids: list[str]) -> None:
        if result.applied:
            for event_id in result.applied:
                self.feed.marked.discard(event_id)
            self._rows_changed(result.applied)
        self._update_status()

    def _rows_changed(self, ids: list[str]) -> None:
        """Re-read rows whose triage changed (here or in the detail screen).

        Rows the filter no longer selects (closed in a `state:open` view) leave the list, so
        the list always shows what an export of the view writes.
        """
        wanted = [i for i in ids if self.feed.index_of(i) is not None]
        if not wanted:
            return
        flt = self.feed.filter
        generation = self.feed.generation

        def read(conn: Any) -> tuple[dict[str, IncidentRow], set[str]]:
            return queries.fetch_rows(conn, wanted), queries.still_matching(conn, flt, wanted)

        def done(result: tuple[dict[str, IncidentRow], set[str]]) -> None:
            if generation != self.feed.generation:
                return
            found, matching = result
            gone = self.feed.remove_rows(i for i in wanted if i not in matching)
            self.table.remove_ids(gone)
            changed = self.feed.replace_rows(r for r in found.values() if r.id in matching)
            self.table.update_rows(changed, self.feed)
            if gone and self.count is not None and not self.count.capped:
                self.count = Count(max(0, self.count.value - len(gone)), capped=False)
            self._refresh_empty()
            self._update_status()

        self.read_store(read, done, group="rows", exclusive=False)

    def action_focus_search(self) -> None:
        self.query_one(FilterBar).focus_control("search")

    def action_focus_filters(self) -> None:
        self.query_one(FilterBar).focus_control("verdict")

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_clear_filters(self) -> None:
        self.query_one(FilterBar).set_values(FilterValues())

    def set_filter_values(self, values: FilterValues) -> None:
        """Used by the command palette and other screens ("incidents for this host")."""
        self.query_one(FilterBar).set_values(values)

    def action_pause(self) -> None:
        if self.feed.paused:
            overflow = self.feed.pending_overflow
            insertion = self.feed.resume()
            if overflow:
                self.apply_filter()
                return
            self.unseen += self.table.insert(insertion, self.feed)
            self._refresh_empty()
        else:
            self.feed.paused = True
        self._update_status()

    def action_newest(self) -> None:
        if self.feed.paused:
            self.action_pause()
        if not self.feed.live_in_place or self.feed.sort != Sort():
            self.apply_filter(Sort())
            return
        self.unseen = 0
        self.table.move_cursor(row=0, animate=False)
        self.table.scroll_to(y=0, animate=False, immediate=True)
        self._update_status()

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS)
        nxt = keys[(keys.index(self.feed.sort.key) + 1) % len(keys)]
        self.apply_filter(Sort(nxt, descending=True))

    def action_reverse_sort(self) -> None:
        self.apply_filter(replace(self.feed.sort, descending=not self.feed.sort.descending))

    def action_reload(self) -> None:
        self.apply_filter()

    @on(DataTable.HeaderSelected, "#incidents")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORT_KEYS:
            same = self.feed.sort.key == key
            self.apply_filter(Sort(key, descending=not self.feed.sort.descending if same else True))  # type: ignore[arg-type]

    def action_export(self) -> None:
        stamp = self.console.settings.clock().strftime("%Y%m%d-%H%M%S")
        default = Path.cwd() / f"phiwall-incidents-{stamp}.csv"
        from console.screens.dialogs import ExportDialog

        self.app.push_screen(ExportDialog(default, self.feed.filter.describe()), self._export)

    def _export(self, answer: ExportAnswer | None) -> None:
        store = self.console.store
        if answer is None or store is None:
            return
        flt, sort = self.feed.filter, self.feed.sort
        self.notify(f"Exporting to {answer.path}…", timeout=3)
        from console.data.export import ExportError, export_view

        def work() -> Any:
            return export_view(store.engine, flt, sort, answer.path, fmt="json" if answer.format == "json" else "csv")

        def done(result: Any) -> None:
            self.notify(f"Exported {result.rows:,} events to {result.path}", title="Export", timeout=8)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, ExportError):
                self.notify(str(exc), severity="error", title="Export")
            else:
                self.console.report_store_error(exc, prefix="export failed: ")

        run_in_worker(self, work, done, group="export", exclusive=False, failed=failed)

    def sort_label(self) -> str:
        return self.feed.sort.describe()

    def now(self) -> datetime:
        return self.console.settings.clock()
