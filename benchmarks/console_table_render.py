"""CPU cost of drawing the incidents table: its own line path against DataTable's.

`IncidentTable._render_line_in_row` builds each body line directly, with the styles DataTable
works out per line worked out once per frame, instead of going through Rich's `Padding`,
`Styled` and `render_lines` per cell (docs/console.md, Scale). This draws a frame of a
200-row table from empty caches, as after a filter, and the frame after a cursor move, and
times both with the process CPU clock, alternating the two paths (`fast_paths`) in the same
process:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/console_table_render.py [--repeat 15] [--size 160x50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace
from datetime import UTC

from textual.app import App, ComposeResult
from textual.geometry import Region

from console.widgets.incident_table import IncidentTable, row_cells
from tests.console.test_data_model import row


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield IncidentTable(tz=UTC)


def draw_all(table: IncidentTable) -> float:
    """CPU seconds to draw a frame of every visible line, caches emptied first."""
    table._clear_caches()
    started = time.process_time()
    table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return time.process_time() - started


def draw_after_cursor_move(table: IncidentTable) -> float:
    """CPU seconds to draw the frame after the cursor moves one row down (caches warm)."""
    region = Region(0, 0, table.size.width, table.size.height)
    table.render_lines(region)
    table.move_cursor(row=(table.cursor_row + 1) % 20, scroll=False)
    started = time.process_time()
    table.render_lines(region)
    return time.process_time() - started


async def measure(repeat: int, size: tuple[int, int]) -> dict[str, dict[str, float]]:
    app = TableApp()
    times: dict[str, dict[str, list[float]]] = {
        path: {"filter": [], "cursor": []} for path in ("IncidentTable", "DataTable")
    }
    async with app.run_test(size=size) as pilot:
        table = app.query_one(IncidentTable)
        for i in range(200):
            incident = replace(row(i), id=f"{i:032x}", host=f"host{i}.example.org", user=f"user{i:03d}")
            table.add_row(*row_cells(incident, marked=i % 7 == 0, tz=UTC), key=incident.id)
        await pilot.pause()
        try:
            for _ in range(repeat):
                for name, fast in (("IncidentTable", True), ("DataTable", False)):
                    table.fast_paths = fast
                    times[name]["filter"].append(draw_all(table))
                    times[name]["cursor"].append(draw_after_cursor_move(table))
        finally:
            table.fast_paths = True
    return {name: {k: statistics.median(v) for k, v in kinds.items()} for name, kinds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--size", default="160x50", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    medians = asyncio.run(measure(args.repeat, (width, height)))
    print(f"a 200-row table ({args.size}), CPU, median of {args.repeat}:")
    for kind, label in (("filter", "a frame from empty caches"), ("cursor", "the frame after a cursor move")):
        own, theirs = medians["IncidentTable"][kind], medians["DataTable"][kind]
        print(
            f"  {label:30} IncidentTable {own * 1000:6.1f} ms   DataTable {theirs * 1000:6.1f} ms"
            f"   (x{theirs / own:.2f})"
        )


if __name__ == "__main__":
    main()
