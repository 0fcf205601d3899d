"""Scrubbed (`4`): what was de-identified with `phiwall scrub`, from which enrolled asset, by whom,
with what, when; the highlighted record's full lineage below the table."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from console.data import display
from console.data.rows import LineageInfo
from console.screens.base import LazyModule, StoreScreen
from console.screens.detail import lineage_rows
from console.widgets.footer import SteadyFooter
from console.widgets.status import StatusLine

if TYPE_CHECKING:
    from console.data import scrubbed as scrubbed_data
else:
    scrubbed_data = LazyModule("console.data.scrubbed")


def _lineage_table(lineage: LineageInfo, tz: tzinfo | None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", min_width=16)
    table.add_column(overflow="fold")
    for name, value in lineage_rows(lineage, tz):
        table.add_row(name, Text(display.text(value)))
    return table


class ScrubbedScreen(StoreScreen):
    BINDINGS = [Binding("r", "reload", "Reload", id="scrubbed.reload")]

    def __init__(self) -> None:
        super().__init__(id="scrubbed-screen")
        self.records: list[LineageInfo] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="scrubbed-summary")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="scrubbed")
        yield Static("", id="lineage-detail")
        yield StatusLine(id="status")
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#scrubbed", DataTable)
        for key, label, width in (
            ("time", "Scrubbed", 17),
            ("user", "By", 10),
            ("source", "Source", 28),
            ("output", "Copy", 24),
            ("kind", "Kind", 5),
            ("methods", "With", 60),
            ("derivative", "Enrolled", 8),
        ):
            table.add_column(label, key=key, width=width)
        status = self.query_one(StatusLine)
        status.store = self.console.store_label
        status.analyst = self.console.settings.analyst
        status.read_only = self.console.settings.read_only

    def load(self) -> None:
        self.read_store(scrubbed_data.fetch_scrubbed, self._show, group="scrubbed")

    def _show(self, records: list[LineageInfo]) -> None:
        self.records = records
        tz = self.console.settings.tz
        table = self.query_one("#scrubbed", DataTable)
        table.clear()
        for record in records:
            table.add_row(
                Text(display.when(record.time, tz, short="minutes")),
                Text(display.text(record.user)),
                Text(display.asset_label(record.source_path, record.source_asset_id) if record.source_asset_id
                     else "not enrolled"),
                Text(display.asset_label(record.output_path, record.output_sha256)),
                Text(record.kind),
                Text(record.methods_text),
                Text("yes" if record.derivative_asset_id else "no"),
                key=str(record.id),
            )  # fmt: skip
        sources = len({r.source_asset_id for r in records if r.source_asset_id})
        summary = f"{len(records):,} scrubbed copies of {sources:,} enrolled recordings"
        if not records:
            summary = "Nothing scrubbed yet: copies made with `phiwall scrub FILE -o COPY` appear here."
        self.query_one("#scrubbed-summary", Static).update(summary)
        self.query_one(StatusLine).summary = f"{len(records):,} scrub records"
        self._detail(records[0] if records else None)

    def _detail(self, record: LineageInfo | None) -> None:
        body = self.query_one("#lineage-detail", Static)
        body.update(_lineage_table(record, self.console.settings.tz) if record is not None else "")

    @on(DataTable.RowHighlighted, "#scrubbed")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        self._detail(next((r for r in self.records if str(r.id) == key), None))

    def action_reload(self) -> None:
        self.load()
