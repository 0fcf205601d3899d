"""Incident detail: everything the event knows, its matched asset, process, related incidents
and triage history, with the triage keys of the list (acting on this one incident).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from console.data import display
from console.data.rows import IncidentDetail, IncidentRow, LineageInfo, RelatedGroup
from console.data.triage import TriageResult
from console.screens import triage_flow
from console.screens.base import LazyModule, StoreScreen
from console.widgets.footer import SteadyFooter
from console.widgets.incident_table import VERDICT_STYLES
from console.widgets.status import StatusLine

if TYPE_CHECKING:
    from console.data import incidents as queries
else:
    queries = LazyModule("console.data.incidents")


def _facts(title: str, rows: Sequence[tuple[str, object]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", min_width=16)
    table.add_column(overflow="fold")
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold underline"
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else Text(display.text(value)))
    return table


# Details keys shown in their own place on the page (not again under "Other details").
_PLACED_DETAILS = (
    "parent_pid",
    "parent_name",
    "cmdline",
    "payload_sha256",
    "matched_part",
    "derivative",
    "also_matches",
)


def lineage_rows(lineage: LineageInfo, tz: tzinfo | None) -> list[tuple[str, object]]:
    """A derivative's lineage as fact rows (the incident detail and the Scrubbed screen share them)."""
    score = f", score {display.score(lineage.source_score)}" if lineage.source_score is not None else ""
    return [
        ("lineage", f"#{lineage.id}"),
        ("source asset", lineage.source_text + score),
        ("source asset id", lineage.source_asset_id),
        ("methods", lineage.methods_text),
        ("scrubbed by", f"{display.text(lineage.user)} on {display.text(lineage.agent_id)}"),
        ("scrubbed", display.when(lineage.time, tz)),
        ("output", f"{lineage.output_path} ({lineage.kind}, {display.size(lineage.size)})"),
        ("output SHA-256", lineage.output_sha256),
        ("derivative asset", lineage.derivative_asset_id or "not enrolled (nothing to fingerprint)"),
        ("tool version", lineage.tool_version),
    ]


def _side_by_side(left: RenderableType, right: RenderableType) -> Table:
    grid = Table.grid(padding=(0, 4), expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(left, right)
    return grid


def _triage_summary(detail: IncidentDetail, tz: tzinfo | None) -> Table:
    """The triage state first: what an analyst opening the incident must see before anything."""
    row = detail.row
    state = Text(display.state(row.triage_state), style="bold")
    if row.triage_state == "closed":
        state.append(f" as {display.classification(row.classification)}")
    if row.escalated:
        state.append("  ⚑ escalated", style="bold red")
    rows: list[tuple[str, object]] = [("triage", state)]
    if detail.history:
        last = detail.history[-1]
        rows.append(("last action", f"{last.summary()} by {last.analyst}, {display.when(last.time, tz)}"))
        notes = [h for h in detail.history if h.note]
        if notes:
            rows.append(("latest note", notes[-1].note))
    else:
        rows.append(("last action", "none yet"))
    return _facts("Triage", rows)


def render_detail(detail: IncidentDetail, tz: tzinfo | None) -> RenderableType:
    """The detail page as Rich renderables (also what snapshot tests see).

    Order: the triage state, then who (user, host, process, parent, command line), what
    (decision, asset, enrolling agent, how it matched, wrapper path, payload hash), where and
    when; the non-PHI details left over and the full triage history follow.
    """
    row = detail.row
    f = detail.fields
    d = detail.details or {}
    verdict = Text(row.verdict.upper(), style=VERDICT_STYLES.get(row.verdict, "bold"))
    headline = Text.assemble(verdict, "  ", (display.when(row.time, tz), "bold"), "  ", (f"incident {row.id}", "dim"))
    agent = display.text(row.agent_id)
    if detail.agent_hostname:
        agent += f" ({detail.agent_hostname})"
    process = display.text(row.process_name) + (f" (pid {row.pid})" if row.pid is not None else "")
    parent = display.text(d.get("parent_name"))
    if d.get("parent_pid") is not None:
        parent += f" (pid {d['parent_pid']})"
    who = _facts(
        "Who",
        [
            ("user", row.user),
            ("host", detail.agent_hostname or row.agent_id),
            ("process", process),
            ("executable", f.get("process_exe")),
            ("parent process", parent),
            ("command line", d.get("cmdline")),
        ],
    )
    a = detail.asset
    what_rows: list[tuple[str, object]] = [
        ("decision", Text.assemble(verdict, f" ({display.text(f.get('kind'))})")),
        ("reason", f.get("reason")),
    ]
    if row.asset_id is None:
        what_rows.append(("matched asset", "no enrolled asset matched"))
    else:
        what_rows += [
            ("matched asset", a.path if a else "(not in this store: enrolled on another agent or forgotten)"),
            ("enrolled by", display.text(a.origin_agent_id) if a else display.MISSING),
            ("enrolled", display.when(a.enrolled_at, tz) if a else display.MISSING),
            ("how matched", f"{display.text(row.match_kind)} at {display.offset(f.get('match_offset_s'))}"),
            ("score", display.score(row.match_score)),
            ("asset id", row.asset_id),
        ]
        also = d.get("also_matches")
        if isinstance(also, str) and also:
            # Pictures that fit several enrolled assets equally: which one it is cannot be told.
            what_rows.append(("or equally", ", ".join(display.text(a) for a in also.split(","))))
        if a is not None:
            what_rows.append(("asset", f"{a.kind} ({display.text(a.mime)}), {display.size(a.size)}"))
            if a.deleted_at:
                what_rows.append(("deleted", display.when(a.deleted_at, tz)))
    what_rows += [
        ("wrapper path", d.get("matched_part")),
        ("payload SHA-256", d.get("payload_sha256")),
        ("payload", f"{display.size(f.get('payload_size'))}, {display.text(f.get('sniffed_types'))}"),
    ]
    if detail.lineage is not None or "derivative" in d:
        how = d.get("derivative", {}).get("recognised_by") if isinstance(d.get("derivative"), dict) else None
        label = "de-identified copy (scrub derivative)" + (f", recognised by {how}" if how else "")
        what_rows.insert(2, ("derivative", Text(label, style="bold green")))
    what = _facts("What", what_rows)
    where = _facts(
        "Where",
        [
            ("service", f"{display.text(row.service_id)} ({display.text(row.service_category)})"),
            ("destination", f"{display.text(f.get('method'))} {display.text(f.get('host'))}"),
            ("path", f.get("path")),
            ("agent", agent),
        ],
    )
    when = _facts(
        "When",
        [
            ("time", display.when(row.time, tz)),
            ("UTC", row.time.isoformat(timespec="seconds")),
            ("catalog version", f.get("catalog_version")),
        ],
    )
    if detail.details_error:
        facts_rows: list[tuple[str, object]] = [("⚠", detail.details_error), ("raw", f.get("details"))]
    else:
        facts_rows = [
            (str(k), json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
            for k, v in sorted(d.items())
            if k not in _PLACED_DETAILS
        ] or [("", "none")]
    facts = _facts("Other details", facts_rows)
    lineage: list[RenderableType] = []
    if detail.lineage is not None:
        lineage = [_facts("De-identified copy: lineage", lineage_rows(detail.lineage, tz)), Text()]
    history = Table(title="Triage history", title_justify="left", title_style="bold underline", expand=True)
    for name in ("time", "analyst", "action", "note"):
        history.add_column(name, overflow="fold")
    for entry in detail.history:
        history.add_row(display.when(entry.time, tz), entry.analyst, entry.summary(), display.text(entry.note))
    if not detail.history:
        history.add_row("", "", "no action yet", "")
    return Group(
        headline, _triage_summary(detail, tz), Text(), _side_by_side(who, what), Text(), _side_by_side(where, when),
        Text(), *lineage, facts, Text(), history,
    )  # fmt: skip


class RelatedTable(DataTable[object]):
    DEFAULT_CSS = "RelatedTable { height: auto; max-height: 12; margin-bottom: 1; }"

    def __init__(self, tz: tzinfo | None, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.tz = tz

    def on_mount(self) -> None:
        for key, label, width in (
            ("time", "Time", 25),
            ("verdict", "Verdict", 7),
            ("state", "State", 12),
            ("service", "Service", 12),
            ("user", "User", 10),
            ("asset", "Asset", 22),
        ):
            self.add_column(label, key=key, width=width)

    def show(self, group: RelatedGroup) -> None:
        self.clear()
        for row in group.rows:
            self.add_row(
                Text(display.when(row.time, self.tz, short=True)),
                Text(row.verdict, style=VERDICT_STYLES.get(row.verdict, "")),
                Text(display.state(row.triage_state)),
                Text(display.text(row.service_id)),
                Text(display.text(row.user)),
                Text(display.asset_label(row.asset_path, row.asset_id)),
                key=row.id,
            )


class IncidentDetailScreen(StoreScreen):
    """One incident; `j`/`k` walk the list it was opened from."""

    BINDINGS = [
        Binding("escape,q", "back", "Back", id="detail.back"),
        Binding("a", "triage('acknowledge')", "Ack", id="detail.acknowledge"),
        Binding("i", "triage('start')", "In progress", id="detail.start"),
        Binding("c", "triage('close')", "Close", id="detail.close"),
        Binding("o", "triage('reopen')", "Reopen", id="detail.reopen"),
        Binding("n", "triage('note')", "Note", id="detail.note"),
        Binding("e", "triage('escalate')", "Escalate", id="detail.escalate"),
        Binding("E", "triage('deescalate')", "De-escalate", show=False, id="detail.deescalate"),
        Binding("C", "triage('classify')", "Re-classify", show=False, id="detail.classify"),
        Binding("j", "step(1)", "Next", id="detail.next"),
        Binding("k", "step(-1)", "Previous", id="detail.previous"),
        Binding("r", "reload", "Reload", show=False, id="detail.reload"),
    ]

    def __init__(
        self,
        event_id: str,
        *,
        neighbours: Sequence[str] = (),
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__(id="detail-screen")
        self.event_id = event_id
        self.neighbours = list(neighbours)
        self.on_change = on_change
        self.detail: IncidentDetail | None = None

    def compose(self) -> ComposeResult:
        tz = self.console.settings.tz
        with VerticalScroll(id="detail-body"):
            yield Static("Loading…", id="detail")
            yield Label("Related incidents (blocks and audits)", classes="section")
            for key in ("user", "asset", "service"):
                yield Label("", id=f"related-{key}-label", classes="related-label")
                yield RelatedTable(tz, id=f"related-{key}")
        yield StatusLine(id="status")
        yield SteadyFooter()

    def on_mount(self) -> None:
        status = self.query_one(StatusLine)
        status.store = self.console.store_label
        status.analyst = self.console.settings.analyst
        status.read_only = self.console.settings.read_only

    def load(self) -> None:
        event_id = self.event_id
        self.read_store(lambda conn: queries.fetch_detail(conn, event_id), self._show, group="detail")

    def _show(self, detail: IncidentDetail | None) -> None:
        body = self.query_one("#detail", Static)
        if detail is None:
            self.detail = None
            body.update(Text(f"Incident {self.event_id} is not in this store (deleted, or a mistyped id).", "bold red"))
            return
        self.detail = detail
        self.refresh_bindings()
        body.update(render_detail(detail, self.console.settings.tz))
        position = ""
        if self.event_id in self.neighbours:
            position = f" · {self.neighbours.index(self.event_id) + 1:,} of {len(self.neighbours):,} in the list"
        self.query_one(StatusLine).summary = f"incident {detail.row.id}{position}"
        for group, key in zip(detail.related, ("user", "asset", "service"), strict=True):
            label = self.query_one(f"#related-{key}-label", Label)
            if group.value is None:
                label.update(f"{group.label}: not recorded")
            else:
                total = f"{group.total:,}+" if group.capped else f"{group.total:,}"
                label.update(f"{group.label} ({display.text(group.value)[:40]}): {total}, latest {len(group.rows)}")
            table = self.query_one(f"#related-{key}", RelatedTable)
            table.show(group)
            table.display = bool(group.rows)

    @on(DataTable.RowSelected)
    def _open_related(self, event: DataTable.RowSelected) -> None:
        event_id = event.row_key.value
        if event_id:
            self.app.push_screen(IncidentDetailScreen(event_id, on_change=self.on_change))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "triage":
            if self.console.settings.read_only:
                return False
            row = self.detail.row if self.detail else None
            if row is None:
                return None
            kind = parameters[0] if parameters else ""
            if kind in ("reopen", "classify"):
                return row.triage_state == "closed"
            if kind == "escalate":
                return not row.escalated
            if kind == "deescalate":
                return row.escalated
            if kind in ("acknowledge", "start", "close"):
                return row.triage_state != "closed"
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.load()

    def action_step(self, delta: int) -> None:
        if self.event_id not in self.neighbours:
            return
        index = self.neighbours.index(self.event_id) + delta
        if 0 <= index < len(self.neighbours):
            self.event_id = self.neighbours[index]
            self.query_one("#detail-body", VerticalScroll).scroll_home(animate=False)
            self.load()

    def action_triage(self, action: str) -> None:
        triage_flow.start(self, action, [self.event_id], self._triaged)  # type: ignore[arg-type]

    def _triaged(self, result: TriageResult, ids: list[str]) -> None:
        self.load()
        self.refresh_bindings()
        if self.on_change is not None and result.applied:
            self.on_change(result.applied)

    def current_row(self) -> IncidentRow | None:
        return self.detail.row if self.detail else None
