"""Terminal charts for the fleet overview: a labelled time series and horizontal bar lists.

The series uses Textual's `Sparkline` (many lines high); the bars are plain Rich text, so
they render the same in snapshots, tmux and any terminal with Unicode block characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from console.data import display

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(value: int, maximum: int, width: int) -> str:
    """A bar of `width` cells scaled to `maximum`, with eighth-cell resolution."""
    if maximum <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / maximum * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (BLOCKS[rest] if rest else "")


def bar_list(title: str, items: Sequence[tuple[str, int]], *, width: int = 24, label_width: int = 18) -> Text:
    """`title` then one line per item: name, bar, count."""
    text = Text(title + "\n", style="bold")
    if not items:
        text.append("  nothing in this period\n", style="dim")
        return text
    maximum = max(n for _, n in items)
    for name, n in items:
        label = name if len(name) <= label_width else name[: label_width - 1] + "…"
        text.append(f"  {label:<{label_width}} ")
        text.append(f"{bar(n, maximum, width):<{width}}", style="red" if "block" in title.lower() else "cyan")
        text.append(f" {n:>8,}\n")
    return text


def axis(since: datetime, until: datetime, tz: tzinfo | None, width: int) -> str:
    """Start and end labels under a series."""
    span = until - since
    fmt = "%m-%d %H:%M" if span <= timedelta(days=2) else "%Y-%m-%d"
    left = since.astimezone(tz).strftime(fmt)
    right = until.astimezone(tz).strftime(fmt)
    gap = max(1, width - len(left) - len(right))
    return left + " " * gap + right


class SeriesChart(Vertical):
    """A titled sparkline with its total, peak and time axis."""

    DEFAULT_CSS = """
    SeriesChart { height: auto; }
    SeriesChart Sparkline { height: 5; margin: 0 0; }
    SeriesChart .axis { color: $text-muted; }
    """

    def __init__(self, title: str, *, color: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.color = color

    def compose(self) -> ComposeResult:
        yield Label(self.title, classes="title")
        yield Sparkline([], summary_function=max)
        yield Static("", classes="axis")

    def show(
        self, values: Sequence[int], *, since: datetime, until: datetime, bucket: timedelta, tz: tzinfo | None
    ) -> None:
        total = sum(values)
        peak = max(values, default=0)
        self.query_one(".title", Label).update(
            f"{self.title}: {total:,} (peak {peak:,} per {display.duration(bucket)})"
        )
        spark = self.query_one(Sparkline)
        spark.data = list(values)
        spark.styles.color = self.color
        self.query_one(".axis", Static).update(axis(since, until, tz, max(20, self.size.width)))
