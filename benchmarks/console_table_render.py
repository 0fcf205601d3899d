"""CPU cost of drawing the incidents table: its own body-cell path against DataTable's.

`IncidentTable._render_cell` builds each body cell's line directly instead of going through
Rich's `Padding`, `Styled` and `render_lines` (docs/console.md, Scale). This draws every
visible line of a 200-row table from empty caches, as after a filter, and times it with the
process CPU clock, alternating the two paths in the same process:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/console_table_render.py [--repeat 15] [--size 160x50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace
from datetime import UTC
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.widgets.incident_table import IncidentTable, row_cells
from tests.console.test_data_model import row


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield IncidentTable(tz=UTC)


def draw_all(table: IncidentTable) -> float:
    """CPU seconds to draw every visible line once, caches emptied first."""
    table._clear_caches()
    started = time.process_time()
    for y in range(table.size.height):
        table.render_line(y)
    return time.process_time() - started


async def measure(repeat: int, size: tuple[int, int]) -> dict[str, float]:
    app = TableApp()
    own: Any = IncidentTable._render_cell
    times: dict[str, list[float]] = {"IncidentTable": [], "DataTable": []}
    async with app.run_test(size=size) as pilot:
        table = app.query_one(IncidentTable)
        for i in range(200):
            incident = replace(row(i), id=f"{i:032x}", host=f"host{i}.example.org", user=f"user{i:03d}")
            table.add_row(*row_cells(incident, marked=i % 7 == 0, tz=UTC), key=incident.id)
        await pilot.pause()
        try:
            for _ in range(repeat):
                for name, path in (("IncidentTable", own), ("DataTable", DataTable._render_cell)):
                    IncidentTable._render_cell = path  # type: ignore[method-assign]
                    times[name].append(draw_all(table))
        finally:
            IncidentTable._render_cell = own  # type: ignore[method-assign]
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--size", default="160x50", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    medians = asyncio.run(measure(args.repeat, (width, height)))
    own, theirs = medians["IncidentTable"], medians["DataTable"]
    print(f"draw every visible line of a 200-row table ({args.size}), CPU, median of {args.repeat}:")
    print(f"  IncidentTable cells {own * 1000:6.1f} ms")
    print(f"  DataTable path      {theirs * 1000:6.1f} ms   (x{theirs / own:.2f} of the table's own)")


if __name__ == "__main__":
    main()
