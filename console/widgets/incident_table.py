"""The incidents table: a DataTable that mirrors an `IncidentFeed` without moving the cursor.

Rows are keyed by event id. Cells are `Cell`s, not Rich `Text`: a filter's first page (200
rows) is laid out and drawn faster (docs/console.md, Scale). Live inserts use DataTable's own
`sort()`, keyed on the feed's order (the first cell carries the event id), then put the
cursor back on the same incident and shift the scroll position by the rows that appeared
above the viewport.
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
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

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
    """Rows of the feed; the screen owns the bindings, this widget only renders and keeps place."""

    DEFAULT_CSS = """
    IncidentTable { height: 1fr; }
    """

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.tz = tz

    def on_mount(self) -> None:
        for key, label, width, _share in COLUMNS:
            self.add_column(label, width=width, key=key)

    def on_resize(self) -> None:
        # The vertical scrollbar's room is always kept: it comes and goes with the rows and
        # must not push the last column out of sight.
        self.fit_columns(self.size.width - self.styles.scrollbar_size_vertical)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """A body cell's line, built directly: what DataTable draws for it, without Rich's
        `Padding`, `Styled` and `render_lines` per cell (about half the CPU of a full repaint,
        `benchmarks/console_table_render.py`). Headers, other cells and other row heights go
        to DataTable; `tests/console/test_table_cells.py` compares the two lines cell by cell.
        """
        lines = self._body_cell_lines(row_index, column_index, base_style, width, cursor, hover)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return lines

    def _body_cell_lines(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool
    ) -> SegmentLines | None:
        """The cell's line from DataTable's cache or built here; None: DataTable draws it."""
        pad = self.cell_padding
        if row_index < 0 or column_index < 0 or width - 2 * pad < 1:
            return None
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return None
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        cell = self._get_row_renderables(row_index)[1][column_index]
        if not isinstance(cell, Cell | MarkCell) or self.rows[row_key].height != 1:
            return None
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        console = self.app.console
        pre = console.get_style(base_style + Style.from_meta({"row": row_index, "column": column_index}) + component)
        post = console.get_style(post)
        plain = pre + post if post else pre
        inner = width - 2 * pad
        segment = cell.segment(console, inner)
        styled = pre + segment.style if segment.style else pre
        line = [Segment(" " * pad, plain), Segment(segment.text, styled + post if post else styled)]
        fill = inner - cell_len(segment.text)
        line.append(Segment(" " * (fill + pad), plain))
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines

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

    def show(self, feed: IncidentFeed) -> None:
        self.clear()
        self.append(feed.rows, feed)

    def append(self, rows: Iterable[IncidentRow], feed: IncidentFeed) -> None:
        for row in rows:
            self.add_row(*row_cells(row, marked=feed.is_marked(row.id), tz=self.tz), key=row.id)

    @property
    def current_id(self) -> str | None:
        if self.row_count == 0:
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
