"""Fleet: agents (heartbeat, catalog version, health) and overview charts over a time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static

from console.data import display
from console.screens.base import LazyModule, StoreScreen
from console.widgets.charts import SeriesChart, bar_list
from console.widgets.filter_bar import FilterValues
from console.widgets.footer import SteadyFooter
from console.widgets.status import StatusLine

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from console.data import fleet as fleet_data
else:
    fleet_data = LazyModule("console.data.fleet")

LIVENESS_STYLES = {"live": "green", "stale": "yellow", "offline": "bold red"}
HEALTH_STYLES = {"ok": "green", "degraded": "yellow", "down": "bold red", "unknown": "dim"}
WINDOWS: list[tuple[str, str]] = [("last 24 h", "24h"), ("last 7 days", "7d"), ("last 30 days", "30d")]
WINDOW_SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@dataclass(frozen=True)
class FleetData:
    agents: list[fleet_data.AgentLine]
    overview: fleet_data.Overview


class FleetScreen(StoreScreen):
    BINDINGS = [
        Binding("enter", "incidents", "Incidents of agent", id="fleet.incidents"),
        Binding("r", "reload", "Reload", id="fleet.reload"),
        Binding("w", "cycle_window", "Window", id="fleet.window"),
    ]

    def __init__(self) -> None:
        super().__init__(id="fleet-screen")
        self.data: FleetData | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="fleet-top"):
            yield Select(WINDOWS, value="7d", allow_blank=False, compact=True, id="window")
            yield Static("", id="fleet-summary")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="agents")
        yield Static("", id="agent-detail")
        with Horizontal(id="charts"):
            with Vertical(id="series"):
                yield SeriesChart("Uploads inspected", color="cyan", id="uploads-chart")
                yield SeriesChart("Blocks", color="red", id="blocks-chart")
            yield Static("", id="top-lists")
        yield StatusLine(id="status")
        yield SteadyFooter()

    def on_mount(self) -> None:
        agents = self.query_one("#agents", DataTable)
        for key, label, width in (
            ("host", "Hostname", 28),
            ("id", "Agent", 14),
            ("live", "Heartbeat", 16),
            ("catalog", "Catalog", 12),
            ("health", "Health", 9),
            ("version", "Version", 8),
            ("os", "OS", 14),
        ):
            agents.add_column(label, key=key, width=width)
        status = self.query_one(StatusLine)
        status.store = self.console.store_label
        status.analyst = self.console.settings.analyst
        status.read_only = self.console.settings.read_only
        agents.focus()

    def load(self) -> None:
        window = str(self.query_one("#window", Select).value)
        until = self.console.settings.clock()
        since = until - WINDOW_SPANS.get(window, timedelta(days=7))
        self.query_one(StatusLine).summary = "loading the fleet…"

        def fetch(conn: Connection) -> FleetData:
            return FleetData(
                agents=fleet_data.fetch_agents(conn),
                overview=fleet_data.fetch_overview(conn, since, until),
            )

        self.read_store(fetch, self._show, group="fleet")

    def _show(self, data: FleetData) -> None:
        self.data = data
        now = self.console.settings.clock()
        tz = self.console.settings.tz
        table = self.query_one("#agents", DataTable)
        table.clear()
        for agent in data.agents:
            live = agent.liveness(now)
            table.add_row(
                Text(agent.hostname),
                Text(agent.id),
                Text(f"{display.ago(agent.last_heartbeat, now)} {live}", style=LIVENESS_STYLES.get(live, "")),
                Text(display.text(agent.catalog_version)),
                Text(agent.health, style=HEALTH_STYLES.get(agent.health, "")),
                Text(display.text(agent.version)),
                Text(display.text(agent.os)),
                key=agent.id,
            )
        o = data.overview
        for chart_id, values in (("#uploads-chart", o.uploads), ("#blocks-chart", o.blocks)):
            self.query_one(chart_id, SeriesChart).show(values, since=o.since, until=o.until, bucket=o.bucket, tz=tz)
        lists = Text()
        lists.append_text(bar_list("Top services (blocks + audits)", o.top_services))
        lists.append("\n")
        lists.append_text(bar_list("Top users (blocks + audits)", o.top_users))
        lists.append("\n")
        lists.append_text(bar_list("Catalog versions in force", o.catalog_versions, width=12))
        self.query_one("#top-lists", Static).update(lists)
        counts = {"live": 0, "stale": 0, "offline": 0}
        for agent in data.agents:
            counts[agent.liveness(now)] += 1
        unhealthy = sum(1 for a in data.agents if a.health in ("degraded", "down"))
        summary = (
            f"{len(data.agents):,} agents: {counts['live']} live, {counts['stale']} stale, "
            f"{counts['offline']} offline, {unhealthy} unhealthy · "
            f"{o.total_uploads:,} uploads, {o.total_blocks:,} blocks"
        )
        self.query_one("#fleet-summary", Static).update(summary)
        self.query_one(StatusLine).summary = summary
        if not data.agents:
            self.query_one("#agent-detail", Static).update(
                "No agent has reported yet: agents appear here with their first heartbeat (`phiwall run`)."
            )
        else:
            self._describe_current()

    def _describe_current(self) -> None:
        detail = self.query_one("#agent-detail", Static)
        agent = self.current_agent()
        if agent is None:
            detail.update("")
            return
        tz = self.console.settings.tz
        text = Text.assemble(
            (agent.hostname, "bold"),
            f"  last heartbeat {display.when(agent.last_heartbeat, tz)}",
            f"  first seen {display.when(agent.first_seen, tz)}",
        )
        if agent.health_error:
            text.append(f"\n⚠ {agent.health_error}", style="yellow")
        for component in agent.components:
            text.append(f"\n  {component.name:<12} ")
            text.append(component.status, style=HEALTH_STYLES.get(component.status, ""))
            if component.message:
                text.append(f"  {component.message}")
        detail.update(text)
        agent_id = agent.id

        def installs_shown(installs: list[fleet_data.InstallLine]) -> None:
            current = self.current_agent()
            if current is None or current.id != agent_id:
                return
            if installs:
                text.append("\n  signature installs: ")
                for install in installs[:4]:
                    style = "red" if install.status == "rejected" else ""
                    when = display.when(install.installed_at, tz, short=True)
                    text.append(f"{install.version} {install.status} ({when})", style=style)
                    if install.reason and install.status == "rejected":
                        text.append(f": {install.reason}", style=style)
                    text.append("; ")
            detail.update(text)

        self.read_store(lambda conn: fleet_data.fetch_installs(conn, agent_id), installs_shown, group="installs")

    @on(DataTable.RowSelected, "#agents")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_incidents()

    def action_incidents(self) -> None:
        """The incidents feed filtered to this agent (blocks and audits, any time)."""
        agent = self.current_agent()
        if agent is None:
            return
        self.console.show_incidents(FilterValues(verdict="block,audit", search=f"agent:{agent.id}"))

    def current_agent(self) -> fleet_data.AgentLine | None:
        if self.data is None:
            return None
        table = self.query_one("#agents", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((a for a in self.data.agents if a.id == key), None)

    @on(DataTable.RowHighlighted, "#agents")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._describe_current()

    @on(Select.Changed, "#window")
    def _window_changed(self, _event: Select.Changed) -> None:
        if self.console.store is not None and self.is_mounted:
            self.load()

    def action_reload(self) -> None:
        self.load()

    def action_cycle_window(self) -> None:
        select = self.query_one("#window", Select)
        keys = [value for _, value in WINDOWS]
        select.value = keys[(keys.index(str(select.value)) + 1) % len(keys)]
