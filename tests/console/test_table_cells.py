"""The incidents table draws its body cells itself (`IncidentTable._render_cell`): each line must
be, character by character and style by style, what DataTable's own path draws for the cell."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.widgets.incident_table import Cell, IncidentTable, MarkCell, row_cells
from tests.console.conftest import NOW
from tests.console.test_data_model import row


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield IncidentTable(tz=UTC)


def _chars(lines: list[list[Segment]]) -> list[tuple[str, Style | None]]:
    return [(char, segment.style) for line in lines for segment in line for char in segment.text]


async def test_body_cells_are_drawn_as_datatable_draws_them() -> None:
    app = TableApp()
    async with app.run_test(size=(150, 20)) as pilot:
        table = app.query_one(IncidentTable)
        base = row(1)
        rows = [
            base,
            replace(base, id=f"{2:032x}", verdict="audit", triage_state="closed", classification="false_positive"),
            replace(base, id=f"{3:032x}", escalated=True, host="a-very-long-host-name." * 6 + "example", user=None),
            replace(base, id=f"{4:032x}", verdict="allow", process_name="tab\there\x1b[31m", match_score=0.99871),
            replace(base, id=f"{5:032x}", time=NOW - timedelta(days=400), kind=None, service_id=None),
        ]
        for i, incident in enumerate(rows):
            table.add_row(*row_cells(incident, marked=i % 2 == 0, tz=UTC), key=incident.id)
        await pilot.pause()
        cells = table._get_row_renderables(0)[1]
        assert isinstance(cells[0], MarkCell)
        assert all(isinstance(cell, Cell) for cell in cells[1:]), "the fast path must be the one taken"
        styles = [
            Style(),
            table.get_component_rich_style("datatable--even-row"),
            table.get_component_rich_style("datatable--odd-row"),
        ]
        compared = 0
        for row_index in range(len(rows)):
            for column_index, column in enumerate(table.ordered_columns):
                width = column.get_render_width(table)
                for base_style in styles:
                    for cursor, hover in ((False, False), (True, False), (False, True)):
                        table._cell_render_cache.clear()
                        at = (row_index, column_index, base_style, width, cursor, hover)
                        ours = table._render_cell(*at)
                        table._cell_render_cache.clear()
                        theirs = DataTable._render_cell(table, *at)
                        assert _chars(ours) == _chars(theirs), (row_index, column.key, cursor, hover)
                        assert len(ours) == len(theirs) == 1
                        compared += 1
        assert compared == len(rows) * len(table.ordered_columns) * len(styles) * 3
