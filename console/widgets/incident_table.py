"""The incidents table: a DataTable that mirrors an `IncidentFeed` without moving the cursor.

Rows are keyed by event id. Cells are `Cell`s, not Rich `Text`, and body lines are drawn here
rather than cell by cell through Rich (`_render_line_in_row`): a filter's first page (200 rows)
is laid out and drawn in a fraction of the time (docs/console.md, "A filter's first frame").
While a new filter is read, the old rows are held on screen, inert (`hold`). Live inserts use
DataTable's own `sort()`, keyed on the feed's order (the first cell carries the event id),
then put the cursor back on the same incident and shift the scroll position by the rows that
appeared above the viewport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import tzinfo

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual._types import SegmentLines
from textual.binding import Binding
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from console.data import display
from console.data.feed import IncidentFeed, Insertion
from console.data.rows import IncidentRow

# (key, label, minimum width, share of the free width): widths are set from the terminal's
# width (never measured from the cells, so 20,000 loaded rows cost nothing); columns with a
# share of 0 have a fixed width, the others split what is left in proportion.
COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("mark", " ", 1, 0),
    ("time", "Time", 25, 0),
    ("verdict", "Verdict", 7, 0),
    ("kind", "Kind", 9, 0),
    ("state", "State", 13, 0),
    ("service", "Service", 9, 2),
    ("host", "Host", 14, 4),
    ("user", "User", 8, 2),
    ("process", "Process", 9, 2),
    ("asset", "Matched asset", 13, 4),
    ("score", "Score", 5, 0),
)


def column_widths(available: int, *, padding: int = 1) -> dict[str, int]:
    """Each column's width for a table `available` cells wide (minimums when it is narrower)."""
    fixed = sum(minimum + 2 * padding for _, _, minimum, _ in COLUMNS)
    free = max(0, available - fixed)
    shares = sum(share for *_, share in COLUMNS)
    widths = {key: minimum + (free * share // shares) for key, _, minimum, share in COLUMNS}
    # Rounding leaves a few cells: give them to the widest flexible column (the host).
    widths["host"] += free - sum(free * share // shares for *_, share in COLUMNS)
    return widths


COLUMN_FOR_SORT = {
    "time": "time",
    "verdict": "verdict",
    "state": "state",
    "service": "service",
    "host": "host",
    "user": "user",
    "process": "process",
    "score": "score",
}

VERDICT_STYLES = {"block": "bold red", "audit": "yellow", "allow": "green", "info": "cyan"}
STATE_STYLES = {"new": "bold", "acknowledged": "", "in_progress": "magenta", "closed": "dim"}


# Control characters (from a host or process name in the store) never reach the terminal.
_CONTROLS = dict.fromkeys([*range(32), 127], " ")
_MARKED = Style.parse("bold yellow")


class Cell:
    """One line of text in one style, cut with "…" to the column's width.

    What DataTable would draw for `Text(value, style, no_wrap=True, overflow="ellipsis")`, at a
    fraction of the cost: there is no `__rich_measure__`, so DataTable does not measure the
    cell when a row is added (every column has a fixed width, so it would not use the
    measure), and drawing it is one cut and one segment instead of Text's wrap and justify.
    Never a `str` cell: DataTable would parse it as markup ("[" in a host name...).
    """

    __slots__ = ("style", "text")

    def __init__(self, value: str, style: str = "") -> None:
        self.text = value.translate(_CONTROLS)
        self.style = style

    def __str__(self) -> str:
        return self.text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.segment(console, options.max_width)

    def segment(self, console: Console, width: int) -> Segment:
        """The cell as one segment at most `width` cells wide."""
        text = self.text
        if cell_len(text) > width:
            text = set_cell_size(text, width - 1) + "…" if width > 1 else "…"[:width]
        return Segment(text, console.get_style(self.style) if self.style else None)


class MarkCell:
    """The first cell: shows the mark and carries the event id (the sort key for live inserts)."""

    __slots__ = ("event_id", "marked")

    def __init__(self, event_id: str, marked: bool) -> None:
        self.event_id = event_id
        self.marked = marked

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.segment(console, options.max_width)

    def segment(self, console: Console, width: int) -> Segment:
        return Segment("●", _MARKED) if self.marked else Segment(" ")


_cell = Cell


def row_cells(row: IncidentRow, *, marked: bool, tz: tzinfo | None) -> list[object]:
    state_text = display.state(row.triage_state)
    if row.triage_state == "closed" and row.classification:
        state_text = f"closed {''.join(w[0] for w in row.classification.split('_')).upper()}"
    if row.escalated:
        state_text = "⚑ " + state_text
    return [
        MarkCell(row.id, marked),
        _cell(display.when(row.time, tz, short=True)),
        _cell(row.verdict, VERDICT_STYLES.get(row.verdict, "")),
        _cell(display.text(row.kind)),
        _cell(state_text, "bold red" if row.escalated else STATE_STYLES.get(row.triage_state, "")),
        _cell(display.service_label(row.service_id, None)),
        _cell(display.text(row.host)),
        _cell(display.text(row.user)),
        _cell(display.text(row.process_name)),
        _cell(display.asset_label(row.asset_path, row.asset_id)),
        _cell(display.score(row.match_score)),
    ]


class IncidentTable(DataTable[object]):
    """Rows of the feed; the screen owns the bindings (the table's Enter only names Open in the
    footer), this widget renders and keeps place."""

    # Enter opens the incident (DataTable's RowSelected, which the screen handles): shown in the
    # footer while the table has the focus, under the screen's binding id so a keymap that
    # moves "incidents.open" moves both.
    BINDINGS = [Binding("enter", "select_cursor", "Open", id="incidents.open")]

    DEFAULT_CSS = """
    IncidentTable { height: 1fr; }
    IncidentTable.-empty { height: 1; }
    """

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        # Body lines by row and by whether the cursor or the mouse is on it (see
        # `_render_line_in_row`); cleared with DataTable's own caches, which its __init__ does.
        self._body_lines: LRUCache[tuple[object, ...], tuple[SegmentLines, SegmentLines]] = LRUCache(1000)
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.tz = tz
        # The rows belong to the previous filter while the new one is read (see `hold`).
        self.stale = False
        # False draws through DataTable's own paths only (tests and benchmarks compare the two).
        self.fast_paths = True
        # While a frame is drawn: the styles and column widths DataTable would work out again
        # for every line (None between frames, when styles may change).
        self._frame: dict[str | None, Style] | None = None
        self._frame_widths: list[int] | None = None

    def on_mount(self) -> None:
        for key, label, width, _share in COLUMNS:
            self.add_column(label, width=width, key=key)

    def on_resize(self) -> None:
        # The vertical scrollbar's room is always kept: it comes and goes with the rows and
        # must not push the last column out of sight.
        self.fit_columns(self.size.width - self.styles.scrollbar_size_vertical)

    def render_lines(self, crop: Region) -> list[Strip]:
        """One frame of the table; see `_render_line_in_row` for what is shared between lines."""
        if not self.fast_paths:
            return super().render_lines(crop)
        self._frame = {}
        self._frame_widths = None
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None
            self._frame_widths = None

    @property
    def rich_style(self) -> Style:
        """The widget's style, worked out once per frame instead of once per line."""
        frame = self._frame
        if frame is None:
            return super().rich_style
        style = frame.get(None)
        if style is None:
            style = frame[None] = super().rich_style
        return style

    def _component_style(self, name: str) -> Style:
        """`get_component_styles(name).rich_style`, once per frame (it walks every ancestor)."""
        frame = self._frame
        if frame is None:
            return self.get_component_styles(name).rich_style
        style = frame.get(name)
        if style is None:
            style = frame[name] = self.get_component_styles(name).rich_style
        return style

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[SegmentLines, SegmentLines]:
        """A body row's line, segment for segment and style for style what DataTable draws.

        DataTable works out the header, zebra and widget styles for every line (each walks
        every ancestor), builds each cell through Rich's `Padding` and `Styled`, and caches
        lines by cursor position, so a cursor move redraws every visible line. Here the styles
        are worked out once per frame, each `Cell` is one cut and three segments, and lines
        are cached by whether the cursor or the mouse is on their row. A filter's first frame
        is drawn in about half the CPU (`benchmarks/console_table_render.py`). Header, labels,
        fixed rows or columns, other cursor types and other cells go to DataTable;
        `tests/console/test_table_cells.py` compares whole frames drawn both ways.
        """
        row_index = self._row_locations.get(row_key)
        if (
            self._frame is None
            or row_index is None
            or line_no != 0
            or row_index < self.fixed_rows
            or self.fixed_columns
            or self.cursor_type != "row"
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        if self.zebra_stripes:
            row_style = self._component_style("datatable--odd-row" if row_index % 2 else "datatable--even-row")
        else:
            row_style = base_style
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        css_foreground = self.cursor_foreground_priority == "css"
        css_background = self.cursor_background_priority == "css"
        width = self.size.width
        cache_key = (
            row_key,
            row_style,
            cursor,
            hover,
            show_cursor,
            show_hover,
            css_foreground,
            css_background,
            width,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._body_lines.get(cache_key)
        if cached is not None:
            return cached
        widths = self._frame_widths
        if widths is None:
            widths = self._frame_widths = [column.get_render_width(self) for column in self.ordered_columns]
        component, post = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, show_hover, css_foreground, css_background
        )
        console = self.app.console
        # DataTable styles a cell `base + meta + component`; neither style carries meta, so
        # `(base + component) + meta` is the same style and the sum is made once per line.
        row_pre = console.get_style(row_style + component)
        post = console.get_style(post)
        pad = self.cell_padding
        cells = self._get_row_renderables(row_index)[1]
        scrollable: SegmentLines = []
        for column_index, (cell, cell_width) in enumerate(zip(cells, widths, strict=False)):
            inner = cell_width - 2 * pad
            if not isinstance(cell, Cell | MarkCell) or inner < 1:
                scrollable.append(
                    self._render_cell(row_index, column_index, row_style, cell_width, cursor=cursor, hover=hover)[0]
                )
                continue
            pre = row_pre + Style.from_meta({"row": row_index, "column": column_index})
            plain = pre + post if post else pre
            segment = cell.segment(console, inner)
            styled = pre + segment.style if segment.style else pre
            scrollable.append(
                [
                    Segment(" " * pad, plain),
                    Segment(segment.text, styled + post if post else styled),
                    Segment(" " * (inner - cell_len(segment.text) + pad), plain),
                ]
            )
        # The rest of the line, in the row's style, as DataTable extends it.
        remaining = max(0, width - sum(widths) - self._row_label_column_width)
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, show_cursor, show_hover, False, False
        )
        out_of_bounds = Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable.append([Segment(" " * remaining, row_style + extend_style + out_of_bounds)])
        pair: tuple[SegmentLines, SegmentLines] = ([], scrollable)
        self._body_lines[cache_key] = pair
        return pair

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._body_lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._body_lines.clear()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """The scrollable size after rows were added, without measuring every new cell.

        DataTable measures each cell of each new row to widen auto-width columns and to size
        auto-height rows; here every column has a width (`fit_columns`) and every row one line,
        so only the virtual size changes. Measuring a 200-row page cost ~17 ms between the
        rows arriving and their first frame. Anything else goes to DataTable.
        """
        rows = self.rows
        if (
            not self.fast_paths
            or any(column.auto_width for column in self.columns.values())
            or any(
                (row := rows.get(key)) is not None and (row.label is not None or row.auto_height or row.height != 1)
                for key in new_rows
            )
        ):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header_height)

    def fit_columns(self, available: int) -> None:
        """Size the columns to the terminal: the free width goes to host, asset, user, process."""
        widths = column_widths(available, padding=self.cell_padding)
        changed = False
        for key, width in widths.items():
            column = self.columns.get(ColumnKey(key))
            if column is not None and column.width != width:
                column.width = width
                changed = True
        if changed:
            # DataTable has no public "set column width": these two are what add_column does.
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

    def hold(self) -> None:
        """Keep the rows on screen while a new filter is read, acting on none of them.

        Clearing at once and filling a moment later changes the table's scrollable size twice,
        and each change lays the whole screen out again (10-20 ms each, ahead of the new rows).
        Held rows have no current row (`current_id` is None), so no key acts on them.
        """
        self.stale = True

    def release(self) -> None:
        """Show no rows (a filter whose rows are slow to come)."""
        self.stale = False
        self.clear()

    def show(self, feed: IncidentFeed) -> None:
        self.stale = False
        self.clear()
        self.append(feed.rows, feed)

    def append(self, rows: Iterable[IncidentRow], feed: IncidentFeed) -> None:
        for row in rows:
            self.add_row(*row_cells(row, marked=feed.is_marked(row.id), tz=self.tz), key=row.id)

    @property
    def current_id(self) -> str | None:
        if self.row_count == 0 or self.stale:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except RowDoesNotExist:
            return None
        return key.value

    def insert(self, insertion: Insertion, feed: IncidentFeed) -> int:
        """Add the feed's newly placed rows where they belong; returns how many landed above the view."""
        if not insertion.rows:
            return 0
        current = self.current_id
        old_index = self.cursor_row
        old_scroll = self.scroll_y
        for row in insertion.rows:
            self.add_row(*row_cells(row, marked=feed.is_marked(row.id), tz=self.tz), key=row.id)
        order = {row.id: i for i, row in enumerate(feed.rows)}
        self.sort("mark", key=lambda cell: order.get(cell.event_id, len(order)))
        new_index = feed.index_of(current) if current is not None else None
        shift = 0 if new_index is None else new_index - old_index
        final_scroll = old_scroll
        if shift:
            assert new_index is not None
            self.move_cursor(row=new_index, animate=False, scroll=False)
            visible = self.scrollable_content_region.height - 1  # minus the header line
            # At the top the analyst watches the newest rows arrive; anywhere else (or when the
            # cursor would be pushed out of sight) the viewport moves with the cursor's row.
            if old_scroll > 0 or new_index >= visible:
                final_scroll = old_scroll + shift
                self.scroll_to(y=final_scroll, animate=False, immediate=True)
        return insertion.count_before(int(final_scroll))

    def update_rows(self, rows: Iterable[IncidentRow], feed: IncidentFeed) -> None:
        """Redraw rows whose triage (or mark) changed."""
        for row in rows:
            cells = row_cells(row, marked=feed.is_marked(row.id), tz=self.tz)
            for (key, *_), cell in zip(COLUMNS, cells, strict=True):
                try:
                    self.update_cell(row.id, key, cell)
                except CellDoesNotExist:
                    break

    def remove_ids(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            with contextlib.suppress(RowDoesNotExist):
                self.remove_row(event_id)

    def set_mark(self, event_id: str, marked: bool) -> None:
        with contextlib.suppress(CellDoesNotExist):
            self.update_cell(event_id, "mark", MarkCell(event_id, marked))
