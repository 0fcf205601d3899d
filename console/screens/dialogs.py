"""Modal dialogs: confirmation, close (classification + note), note, export and audit report.

Dialogs only collect input and dismiss with a value (None = cancelled); the screen that
opened them does the work in a worker. Escape always cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static, TextArea

from console.data import display
from console.data.filters import QueryError, parse_time
from console.data.triage import CLASSIFICATIONS, MAX_NOTE_CHARS

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; height: auto; max-height: 90%; padding: 1 2;
    border: thick $accent; background: $surface;
}}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} .hint {{ color: $text-muted; }}
{name} .error {{ color: $error; height: auto; }}
{name} .buttons {{ height: auto; margin-top: 1; align-horizontal: right; }}
{name} .buttons Button {{ margin-left: 2; }}
{name} TextArea {{ height: 6; }}
{name} Input {{ margin-bottom: 1; }}
"""


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no with the question stated in full (bulk actions say how many incidents)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmDialog")
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="dialog.cancel"),
        Binding("y", "confirm", "Yes", id="dialog.confirm"),
    ]

    def __init__(self, question: str, *, detail: str = "", confirm_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title", id="question")
            if self.detail:
                yield Static(self.detail, classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self.confirm_label} (y)", variant="warning", id="confirm")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass(frozen=True)
class CloseAnswer:
    classification: str
    note: str


class CloseDialog(ModalScreen[CloseAnswer | None]):
    """Closing needs a classification; a note is optional (it goes to the audit trail)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="CloseDialog")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Close incident", id="dialog.submit"),
    ]

    def __init__(self, count: int, *, classify_only: bool = False) -> None:
        super().__init__()
        self.count = count
        self.classify_only = classify_only

    def compose(self) -> ComposeResult:
        noun = "incident" if self.count == 1 else f"{self.count:,} incidents"
        verb = "Re-classify" if self.classify_only else "Close"
        with Vertical():
            yield Label(f"{verb} {noun}", classes="title")
            yield Label("Classification (required):")
            with RadioSet(id="classification"):
                for value in CLASSIFICATIONS:
                    yield RadioButton(display.classification(value), name=value)
            yield Label("Note (optional, kept in the audit trail; no patient data):")
            yield TextArea(id="note")
            yield Static("", classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(f"{verb} (ctrl+s)", variant="primary", id="submit")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is None or pressed.name is None:
            self.query_one("#error", Static).update("Choose a classification first.")
            return
        note = self.query_one("#note", TextArea).text.strip()
        if len(note) > MAX_NOTE_CHARS:
            self.query_one("#error", Static).update(f"The note is limited to {MAX_NOTE_CHARS} characters.")
            return
        self.dismiss(CloseAnswer(classification=pressed.name, note=note))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteDialog(ModalScreen[str | None]):
    DEFAULT_CSS = _DIALOG_CSS.format(name="NoteDialog")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Save note", id="dialog.submit"),
    ]

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def compose(self) -> ComposeResult:
        noun = "incident" if self.count == 1 else f"{self.count:,} incidents"
        with Vertical():
            yield Label(f"Add a note to {noun}", classes="title")
            yield Static("Notes are kept forever in the audit trail: do not paste patient data.", classes="hint")
            yield TextArea(id="note")
            yield Static("", classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save (ctrl+s)", variant="primary", id="submit")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        note = self.query_one(TextArea).text.strip()
        if not note:
            self.query_one("#error", Static).update("The note is empty.")
            return
        if len(note) > MAX_NOTE_CHARS:
            self.query_one("#error", Static).update(f"The note is limited to {MAX_NOTE_CHARS} characters.")
            return
        self.dismiss(note)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ExportAnswer:
    path: Path
    format: str


class ExportDialog(ModalScreen[ExportAnswer | None]):
    """Where to write the current view, and as what."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ExportDialog")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, default_path: Path, description: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Export the current view", classes="title")
            yield Static(f"Filter: {self.description}", classes="hint")
            yield Label("File:")
            yield Input(str(self.default_path), id="path")
            yield Select([("CSV", "csv"), ("JSON", "json")], value="csv", allow_blank=False, id="format")
            yield Static("The file is created readable by you only (it names clinical files).", classes="hint")
            yield Static("", classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Export", variant="primary", id="submit")

    @on(Select.Changed, "#format")
    def _format_changed(self, event: Select.Changed) -> None:
        path_input = self.query_one("#path", Input)
        path = Path(path_input.value)
        if path.suffix in (".csv", ".json"):
            path_input.value = str(path.with_suffix(f".{event.value}"))

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self.query_one("#error", Static).update("Give a file name.")
            return
        fmt = self.query_one("#format", Select).value
        self.dismiss(ExportAnswer(path=Path(raw).expanduser(), format=str(fmt)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class AuditAnswer:
    since: datetime
    until: datetime
    path: Path
    format: str


class AuditDialog(ModalScreen[AuditAnswer | None]):
    """The audit report's period (dates or 7d-style spans) and file."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="AuditDialog")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, default_path: Path, now: datetime) -> None:
        super().__init__()
        self.default_path = default_path
        self.now = now

    def compose(self) -> ComposeResult:
        start = (self.now - timedelta(days=30)).strftime("%Y-%m-%d")
        end = (self.now + timedelta(days=1)).strftime("%Y-%m-%d")
        with Vertical():
            yield Label("Audit report: who did what, when", classes="title")
            yield Static(
                "Dates are UTC (YYYY-MM-DD or 2026-03-01T08:00); spans like 7d count back from now.", classes="hint"
            )
            yield Label("From (inclusive):")
            yield Input(start, id="since")
            yield Label("Until (exclusive):")
            yield Input(end, id="until")
            yield Label("File (.csv or .json):")
            yield Input(str(self.default_path), id="path")
            yield Static("", classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Write report", variant="primary", id="submit")

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        error = self.query_one("#error", Static)
        try:
            since = parse_time(self.query_one("#since", Input).value, now=self.now, field_name="from")
            until = parse_time(self.query_one("#until", Input).value, now=self.now, field_name="until")
        except QueryError as exc:
            error.update(str(exc))
            return
        if until <= since:
            error.update("'Until' must be after 'from'.")
            return
        raw = self.query_one("#path", Input).value.strip()
        path = Path(raw).expanduser()
        if path.suffix not in (".csv", ".json"):
            error.update("Name the file .csv or .json.")
            return
        self.dismiss(AuditAnswer(since=since, until=until, path=path, format=path.suffix[1:]))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
