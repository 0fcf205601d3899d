"""The incidents table draws its body lines itself (`IncidentTable._render_line_in_row`) and skips
DataTable's cell measuring (`_update_dimensions`): every frame must be, character by character
and style by style, what DataTable's own paths draw (`fast_paths = False`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.strip import Strip

from console.data.rows import IncidentRow
from console.widgets.incident_table import Cell, IncidentTable, MarkCell, row_cells
from tests.console.conftest import NOW
from tests.console.test_data_model import row


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield IncidentTable(tz=UTC)


def _cells(strips: list[Strip]) -> list[list[tuple[str, Style | None, object]]]:
    """Each line as (character, style, meta): what the terminal shows and what a click reports."""
    return [
        [
            (char, segment.style, segment.style.meta if segment.style else None)
            for segment in strip
            for char in segment.text
        ]
        for strip in strips
    ]


def _frame(table: IncidentTable, *, fast: bool) -> list[list[tuple[str, Style | None, object]]]:
    table.fast_paths = fast
    table._clear_caches()
    try:
        return _cells(table.render_lines(Region(0, 0, table.size.width, table.size.height)))
    finally:
        table.fast_paths = True


def _incidents() -> list[IncidentRow]:
    base = row(1)
    return [
        base,
        replace(base, id=f"{2:032x}", verdict="audit", triage_state="closed", classification="false_positive"),
        replace(base, id=f"{3:032x}", escalated=True, host="a-very-long-host-name." * 6 + "example", user=None),
        replace(base, id=f"{4:032x}", verdict="allow", process_name="tab\there\x1b[31m", match_score=0.99871),
        replace(base, id=f"{5:032x}", time=NOW - timedelta(days=400), kind=None, service_id=None),
        replace(base, id=f"{6:032x}", host="宽字符主机.example", user="ユーザー"),
    ]


async def test_frames_are_drawn_as_datatable_draws_them() -> None:
    app = TableApp()
    async with app.run_test(size=(150, 12)) as pilot:
        table = app.query_one(IncidentTable)
        incidents = _incidents()
        for i, incident in enumerate(incidents):
            table.add_row(*row_cells(incident, marked=i % 2 == 0, tz=UTC), key=incident.id)
        await pilot.pause()
        cells = table._get_row_renderables(0)[1]
        assert isinstance(cells[0], MarkCell)
        assert all(isinstance(cell, Cell) for cell in cells[1:]), "the fast path must be the one taken"
        compared = 0
        for cursor_row in (0, 3):
            table.move_cursor(row=cursor_row)
            for hover in (Coordinate(-1, -1), Coordinate(2, 4), Coordinate(cursor_row, 1)):
                table.hover_coordinate = hover
                for show_cursor in (True, False):
                    table.show_cursor = show_cursor
                    await pilot.pause()
                    ours, theirs = _frame(table, fast=True), _frame(table, fast=False)
                    assert len(ours) == table.size.height
                    assert ours == theirs, (cursor_row, hover, show_cursor)
                    compared += 1
        assert compared == 12
        # The same through the fallbacks: labelled rows go to DataTable whatever fast_paths says.
        table.add_row(*row_cells(replace(row(7), id=f"{7:032x}"), marked=False, tz=UTC), key="labelled", label="L")
        await pilot.pause()
        assert _frame(table, fast=True) == _frame(table, fast=False)


async def test_a_cursor_move_redraws_only_the_rows_it_leaves_and_enters(monkeypatch: pytest.MonkeyPatch) -> None:
    app = TableApp()
    async with app.run_test(size=(150, 12)) as pilot:
        table = app.query_one(IncidentTable)
        incidents = _incidents()
        for incident in incidents:
            table.add_row(*row_cells(incident, marked=False, tz=UTC), key=incident.id)
        await pilot.pause()
        region = Region(0, 0, table.size.width, table.size.height)
        table.render_lines(region)
        built: list[str] = []
        for kind in (Cell, MarkCell):
            original = kind.segment

            def counting(self: Cell | MarkCell, console: Console, width: int, original: Any = original) -> Segment:
                built.append(type(self).__name__)
                segment: Segment = original(self, console, width)
                return segment

            monkeypatch.setattr(kind, "segment", counting)
        table.move_cursor(row=1)
        await pilot.pause()
        table.render_lines(region)
        assert len(built) == 2 * len(table.columns), built  # rows 0 and 1, every cell once
        assert built.count("MarkCell") == 2


async def test_added_rows_set_the_scrollable_size_without_measuring_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(150, 12)) as pilot:
        table = app.query_one(IncidentTable)
        for i in range(30):
            incident = replace(row(i), id=f"{i:032x}")
            table.add_row(*row_cells(incident, marked=False, tz=UTC), key=incident.id)
        await pilot.pause()
        ours = table.virtual_size
        table.fast_paths = False
        table._require_update_dimensions = True
        table._new_rows.update(table.rows)
        await pilot.pause()
        assert table.virtual_size == ours == Size(ours.width, 31)
