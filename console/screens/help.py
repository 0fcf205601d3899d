"""The help screen (`?`): the keys of the screen it was opened from, search syntax, triage rules."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from console.data.filters import help_terms
from console.data.triage import CLASSIFICATIONS

_KEY_NAMES = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc"}


def _keys_table(title: str, bindings: list[Binding]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold cyan", min_width=12)
    table.add_column()
    table.add_column(style="dim")
    seen: set[str] = set()
    for binding in bindings:
        if not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        table.add_row(
            binding.key_display or _KEY_NAMES.get(binding.key, binding.key), binding.description, binding.id or ""
        )
    return table


def active_bindings(screen: Screen[object]) -> tuple[list[Binding], list[Binding], list[Binding]]:
    """The console's bindings on this screen, the app-wide ones, and widget navigation keys.

    Read from the screen's active bindings, so a user keymap (`--keymap`) shows its own keys.
    """
    local: list[Binding] = []
    app_wide: list[Binding] = []
    navigation: list[Binding] = []
    for active in screen.active_bindings.values():
        binding_id = active.binding.id or ""
        if binding_id.startswith("app."):
            app_wide.append(active.binding)
        elif binding_id:
            local.append(active.binding)
        else:
            navigation.append(active.binding)
    return local, app_wide, navigation


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; height: 90%; border: thick $accent; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close")]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.screen_name = type(screen).__name__.removesuffix("Screen") or "Console"
        self.local_bindings, self.app_bindings, self.navigation = active_bindings(screen)

    def compose(self) -> ComposeResult:
        name = self.screen_name
        search = Table(title="Search box terms", title_justify="left", title_style="bold", box=None, show_header=False)
        search.add_column(style="bold cyan")
        search.add_column()
        for key, example in help_terms():
            search.add_row(f"{key}:", example)
        search.add_row(
            "words", "plain words must all appear (host, user, process, reason, path, asset file name, start of an id)"
        )
        search.add_row("host:*.x", "a * makes service/host/user/process/agent a pattern")
        triage = Text.assemble(
            ("Triage\n", "bold"),
            "new → acknowledged → in progress → closed; steps may be skipped; a closed incident can be reopened.\n",
            "Closing needs a classification: ",
            ", ".join(c.replace("_", " ") for c in CLASSIFICATIONS),
            ".\nMark rows with space (M: every event the filter matches, in the store), then a / i / c / n / e act on\n"
            "all marked incidents after a confirmation that states the exact count.\n",
            "Every action is stored append-only with your analyst name and the time (see the audit report).",
        )
        with VerticalScroll():
            yield Static(
                Group(
                    Text(f"PhiWall console: {name}", style="bold underline"),
                    Text(),
                    _keys_table("Keys on this screen", self.local_bindings),
                    Text(),
                    _keys_table("Everywhere", self.app_bindings),
                    Text(),
                    _keys_table("Moving around", self.navigation),
                    Text(),
                    search,
                    Text(),
                    triage,
                    Text(),
                    Text(
                        "ctrl+p opens the command palette (filters, screens, export, audit report, open by id).",
                        style="dim",
                    ),
                )
            )
