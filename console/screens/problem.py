"""Shown when the store cannot be opened: what is wrong, what to do, retry or quit."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class StoreProblemScreen(ModalScreen[bool]):
    """Dismisses with True to retry; the app stays usable (help, quit) meanwhile."""

    DEFAULT_CSS = """
    StoreProblemScreen { align: center middle; }
    StoreProblemScreen > Vertical { width: 90; height: auto; border: thick $error; background: $surface; padding: 1 2; }
    StoreProblemScreen .title { text-style: bold; color: $error; margin-bottom: 1; }
    StoreProblemScreen .keys { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("r", "retry", "Retry", id="problem.retry"),
        Binding("q,escape", "app.quit", "Quit", id="problem.quit"),
    ]

    def __init__(self, message: str, store_label: str) -> None:
        super().__init__()
        self.message = message
        self.store_label = store_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("The store cannot be opened", classes="title")
            yield Static(Text(self.message), id="problem-message")
            yield Static(Text(f"store: {self.store_label}", style="dim"))
            yield Static("r retry · q quit", classes="keys")

    def action_retry(self) -> None:
        self.dismiss(True)
