"""Services: the shadow-AI inventory (every AI service and unknown AI host seen) and local AI apps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select, Static

from console.data import display
from console.screens.base import LazyModule, StoreScreen, run_in_worker
from console.screens.dialogs import ConfirmDialog
from console.widgets.filter_bar import FilterValues
from console.widgets.footer import SteadyFooter
from console.widgets.status import StatusLine

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from agent.policy import local as policy_local
    from agent.policy.local import Decision, LocalOverlay
    from console.data import inventory as inv
else:
    inv = LazyModule("console.data.inventory")
    policy_local = LazyModule("agent.policy.local")

STATUS_STYLES = {"unapproved": "bold red", "unknown": "yellow", "approved": "green", "catalog": "cyan"}
WINDOWS: list[tuple[str, str]] = [("events: 24 h", "24h"), ("events: 7 days", "7d"), ("events: 30 days", "30d")]
WINDOW_SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATUS_FILTERS: list[tuple[str, str]] = [
    ("any status", "any"),
    ("not approved", "not-approved"),
    ("unapproved", "unapproved"),
    ("unknown AI", "unknown"),
    ("approved", "approved"),
]


@dataclass(frozen=True)
class ServicesData:
    lines: list[inv.ServiceLine]
    apps: list[inv.LocalAppLine]
    local: LocalOverlay | None = None
    local_error: str = ""


class ServicesScreen(StoreScreen):
    BINDINGS = [
        Binding("enter", "incidents", "Incidents for host", id="services.incidents"),
        Binding("a", "decide('approved')", "Approve", id="services.approve"),
        Binding("b", "decide('blocked')", "Block", id="services.block"),
        Binding("r", "reload", "Reload", id="services.reload"),
        Binding("slash", "focus_search", "Search", id="services.search"),
        Binding("escape", "focus_table", "Table", show=False, id="services.focus_table"),
    ]

    def __init__(self) -> None:
        super().__init__(id="services-screen")
        self.data: ServicesData | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="services-filters"):
            yield Select(STATUS_FILTERS, value="any", allow_blank=False, compact=True, id="status-filter")
            yield Select(WINDOWS, value="7d", allow_blank=False, compact=True, id="window")
            yield Input(placeholder="search host, service, user or process ⏎", compact=True, id="services-search")
        with Vertical(id="services-body"):
            yield Label("AI services and unknown AI hosts", classes="section")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="services")
            yield Static("", id="service-detail")
            yield Label("Local AI apps and model servers", classes="section")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="apps")
        yield StatusLine(id="status")
        yield SteadyFooter()

    def on_mount(self) -> None:
        services = self.query_one("#services", DataTable)
        for key, label, width in (
            ("host", "Host", 26),
            ("service", "Service", 12),
            ("status", "Status", 10),
            ("first", "First seen", 22),
            ("last", "Last seen", 22),
            ("requests", "Requests", 8),
            ("blocks", "Blocks", 6),
            ("events", "Events", 6),
            ("agents", "Agents", 6),
            ("users", "Users", 5),
            ("processes", "Processes", 24),
        ):
            services.add_column(label, key=key, width=width)
        apps = self.query_one("#apps", DataTable)
        for key, label, width in (
            ("name", "App", 18),
            ("signature", "Signature", 14),
            ("agent", "Agent", 12),
            ("user", "User", 10),
            ("ports", "Ports", 12),
            ("exe", "Executable", 30),
            ("last", "Last seen", 22),
        ):
            apps.add_column(label, key=key, width=width)
        status = self.query_one(StatusLine)
        status.store = self.console.store_label
        status.analyst = self.console.settings.analyst
        status.read_only = self.console.settings.read_only
        services.focus()

    def load(self) -> None:
        window = self.query_one("#window", Select).value
        span = WINDOW_SPANS.get(str(window), timedelta(days=7))
        since = self.console.settings.clock() - span
        self.query_one(StatusLine).summary = "loading the inventory…"
        data_dir = self.console.settings.agent_data_dir

        def fetch(conn: Connection) -> ServicesData:
            lines = inv.merge(inv.fetch_inventory(conn), inv.fetch_event_stats(conn, since))
            local, problem = None, ""
            if data_dir is not None:
                try:
                    local = policy_local.read_overlay(policy_local.overlay_path(data_dir))
                except policy_local.OverlayError as exc:
                    problem = str(exc)
            return ServicesData(lines=lines, apps=inv.fetch_local_apps(conn), local=local, local_error=problem)

        self.read_store(fetch, self._show, group="services")

    def _visible(self, data: ServicesData) -> list[inv.ServiceLine]:
        status = str(self.query_one("#status-filter", Select).value)
        needle = self.query_one("#services-search", Input).value.strip().lower()
        result = []
        for line in data.lines:
            if status == "not-approved" and line.status == "approved":
                continue
            if status not in ("any", "not-approved") and line.status != status:
                continue
            if needle:
                haystack = " ".join([line.host, line.service_id or "", *line.users, *line.processes]).lower()
                if needle not in haystack:
                    continue
            result.append(line)
        return result

    def _show(self, data: ServicesData) -> None:
        self.data = data
        tz = self.console.settings.tz
        table = self.query_one("#services", DataTable)
        keep_host = None
        if table.row_count:
            keep_host = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        visible = self._visible(data)
        for line in visible:
            table.add_row(
                Text(line.host),
                Text(display.text(line.service_id)),
                self._status_cell(line, data.local),
                Text(display.when(line.first_seen, tz, short="minutes")),
                Text(display.when(line.last_seen, tz, short="minutes")),
                Text(f"{line.requests:,}", justify="right"),
                Text(f"{line.blocks:,}", justify="right", style="red" if line.blocks else ""),
                Text(f"{line.events:,}", justify="right"),
                Text(f"{line.agents:,}", justify="right"),
                Text(f"{len(line.users):,}", justify="right"),
                Text(", ".join(line.processes) or display.MISSING),
                key=line.host,
            )
        if keep_host is not None and any(line.host == keep_host for line in visible):
            table.move_cursor(row=table.get_row_index(keep_host), animate=False)  # reloads keep the place
        apps = self.query_one("#apps", DataTable)
        apps.clear()
        for app in data.apps:
            apps.add_row(
                Text(app.name),
                Text(app.signature_id),
                Text(app.agent_id),
                Text(display.text(app.user)),
                Text(", ".join(str(p) for p in app.ports) or display.MISSING),
                Text(display.text(app.exe)),
                Text(display.when(app.last_seen, tz, short="minutes")),
            )
        unapproved = sum(1 for line in data.lines if line.status in ("unapproved", "unknown"))
        self.query_one(StatusLine).summary = (
            f"{len(visible):,} of {len(data.lines):,} hosts · {unapproved:,} not approved · "
            f"{len(data.apps):,} local AI apps"
        )
        if not data.lines:
            self.query_one("#service-detail", Static).update(
                "No AI traffic recorded yet: hosts appear here when the proxy sees requests to AI services."
            )
        else:
            self._describe_current()

    def _describe_current(self) -> None:
        line = self.current_line()
        detail = self.query_one("#service-detail", Static)
        if line is None:
            detail.update("")
            return
        users = ", ".join(line.users[:12]) + (" …" if len(line.users) > 12 else "")
        text = Text.assemble(
            (line.host, "bold"),
            f"  {display.text(line.category)}",
            f"  confidence {display.score(line.confidence)}" if line.confidence is not None else "",
            "\nusers: ",
            users or display.MISSING,
            "\nprocesses: ",
            ", ".join(line.processes) or display.MISSING,
        )
        detail.update(text)

    @staticmethod
    def _status_cell(line: inv.ServiceLine, local: LocalOverlay | None) -> Text:
        """The inventory's status, or the local overlay's decision when there is one (marked *)."""
        if local is not None and line.service_id in local.approved:
            return Text("approved*", style=STATUS_STYLES["approved"])
        if local is not None and line.service_id in local.blocked:
            return Text("blocked*", style=STATUS_STYLES["unapproved"])
        return Text(line.status, style=STATUS_STYLES.get(line.status, ""))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide":
            return not self.console.settings.read_only and self.console.settings.agent_data_dir is not None
        return True

    def action_decide(self, decision: str) -> None:
        """Approve or block the service under the cursor in the local policy overlay (confirmed, audited)."""
        line = self.current_line()
        data_dir = self.console.settings.agent_data_dir
        if line is None or data_dir is None or decision not in ("approved", "blocked"):
            return
        if self.console.settings.read_only:
            self.notify("Read-only mode: policy changes are disabled.", severity="warning")
            return
        if line.service_id is None:
            self.notify(
                f"{line.host} is not a catalog service: add it to the catalog first (docs/signatures.md).",
                severity="warning",
            )
            return
        service_id = line.service_id
        analyst = self.console.settings.analyst
        verb = "Approve" if decision == "approved" else "Block"
        detail = (
            f"Writes {policy_local.overlay_path(data_dir)}; the agent applies it on its next request, no restart. "
            f"Recorded in local-audit.jsonl, signed {analyst}."
        )

        def answered(yes: bool | None) -> None:
            if not yes:
                return

            choice: Decision = "approved" if decision == "approved" else "blocked"
            now = self.console.settings.clock()

            def work() -> LocalOverlay:
                return policy_local.set_service(data_dir, service_id, choice, analyst=analyst, now=now)

            def done(_overlay: LocalOverlay) -> None:
                self.notify(f"{service_id} {decision} in the local policy overlay.", title="Policy", timeout=6)
                self.load()

            def failed(exc: BaseException) -> None:
                self.notify(str(exc), severity="error", title="Policy")

            run_in_worker(self, work, done, group="policy", exclusive=False, failed=failed)

        self.app.push_screen(
            ConfirmDialog(f"{verb} {service_id} on this agent?", detail=detail, confirm_label=verb), answered
        )

    def current_line(self) -> inv.ServiceLine | None:
        if self.data is None:
            return None
        table = self.query_one("#services", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((line for line in self.data.lines if line.host == key), None)

    @on(DataTable.RowHighlighted, "#services")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._describe_current()

    @on(DataTable.RowSelected, "#services")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_incidents()

    @on(Select.Changed, "#status-filter")
    def _status_changed(self, _event: Select.Changed) -> None:
        if self.data is not None:
            self._show(self.data)

    @on(Select.Changed, "#window")
    def _window_changed(self, _event: Select.Changed) -> None:
        if self.console.store is not None and self.is_mounted:
            self.load()

    @on(Input.Submitted, "#services-search")
    def _search(self, _event: Input.Submitted) -> None:
        if self.data is not None:
            self._show(self.data)
        self.query_one("#services", DataTable).focus()

    def action_reload(self) -> None:
        self.load()

    def action_focus_search(self) -> None:
        self.query_one("#services-search", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#services", DataTable).focus()

    def action_incidents(self) -> None:
        line = self.current_line()
        if line is None:
            return
        self.console.show_incidents(FilterValues(search=f"host:{line.host}"))

    def now(self) -> datetime:
        return self.console.settings.clock()
