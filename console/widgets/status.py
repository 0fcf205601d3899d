"""The status line: store, analyst, mode, match count, live-feed state and the last error."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusLine(Static):
    """One line at the bottom of a screen; fields are reactive so workers can just set them."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    store = reactive("")
    analyst = reactive("")
    read_only = reactive(False)
    summary = reactive("")
    live = reactive("")
    error = reactive("")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.error:
            text.append("⚠ " + self.error, style="bold red")
            text.append("  ·  ")
        if self.summary:
            text.append(self.summary, style="bold")
            text.append("  ·  ")
        if self.live:
            text.append(self.live, style="bold yellow" if "new" in self.live or "paused" in self.live else "")
            text.append("  ·  ")
        text.append(f"analyst {self.analyst}")
        if self.read_only:
            text.append("  ·  ")
            text.append("READ-ONLY", style="bold reverse")
        text.append("  ·  ")
        text.append(self.store, style="dim")
        return text
