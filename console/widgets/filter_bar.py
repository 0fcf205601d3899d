"""The incidents filter bar: verdict, state, time range, service, user and a search box.

Selects apply at once; text fields apply on Enter (a substring search over a million rows
is a real query, not something to run per keystroke). The bar only collects values; turning
them into an `EventFilter` (and reporting bad search terms) is `console.data.filters`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from console.data.filters import OPEN_STATES, EventFilter, parse_query, range_since

VERDICT_OPTIONS: list[tuple[str, str]] = [
    ("any verdict", "any"),
    ("block", "block"),
    ("block + audit", "block,audit"),
    ("audit", "audit"),
    ("allow", "allow"),
    ("info", "info"),
]
STATE_OPTIONS: list[tuple[str, str]] = [
    ("any state", "any"),
    ("open", "open"),
    ("new", "new"),
    ("acknowledged", "acknowledged"),
    ("in progress", "in_progress"),
    ("closed", "closed"),
]
RANGE_OPTIONS: list[tuple[str, str]] = [
    ("last 15 min", "15m"),
    ("last hour", "1h"),
    ("last 24 h", "24h"),
    ("last 7 days", "7d"),
    ("last 30 days", "30d"),
    ("all time", "all"),
]


@dataclass(frozen=True)
class FilterValues:
    """What the bar's controls hold, before interpretation."""

    verdict: str = "any"
    state: str = "any"
    range: str = "all"
    service: str = ""
    user: str = ""
    search: str = ""

    def to_filter(self, now: datetime) -> EventFilter:
        """The filter these values mean at `now` (raises QueryError on a bad search term)."""
        base = EventFilter(
            verdicts=frozenset() if self.verdict == "any" else frozenset(self.verdict.split(",")),
            states=(
                frozenset() if self.state == "any" else OPEN_STATES if self.state == "open" else frozenset({self.state})
            ),
            service=self.service.strip() or None,
            user=self.user.strip() or None,
            since=range_since(self.range, now),
        )
        return parse_query(self.search, now=now, base=base)


class FilterBar(Horizontal):
    """One line of filter controls above the incidents table."""

    DEFAULT_CSS = """
    FilterBar { height: 1; width: 1fr; }
    FilterBar Select { width: 18; margin-right: 1; }
    FilterBar #range { width: 16; }
    FilterBar Input { width: 14; margin-right: 1; }
    FilterBar #search { width: 1fr; margin-right: 0; }
    """

    class Changed(Message):
        """The analyst changed a filter control (values are read from the bar)."""

        def __init__(self, bar: FilterBar) -> None:
            super().__init__()
            self.bar = bar

    def __init__(self, values: FilterValues | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = values or FilterValues()
        # Selects announce their initial value once mounted: that is not the analyst's change.
        self._quiet = True

    def compose(self) -> ComposeResult:
        v = self._initial
        yield Select(VERDICT_OPTIONS, value=v.verdict, allow_blank=False, compact=True, id="verdict")
        yield Select(STATE_OPTIONS, value=v.state, allow_blank=False, compact=True, id="state")
        yield Select(RANGE_OPTIONS, value=v.range, allow_blank=False, compact=True, id="range")
        yield Input(v.service, placeholder="service", compact=True, id="service")
        yield Input(v.user, placeholder="user", compact=True, id="user")
        yield Input(
            v.search,
            placeholder="search: words or key:value (verdict:block user:alice since:24h is:escalated) ⏎",
            compact=True,
            id="search",
        )

    def on_mount(self) -> None:
        self.call_after_refresh(self._unquiet)

    @property
    def values(self) -> FilterValues:
        def pick(select_id: str) -> str:
            value = self.query_one(f"#{select_id}", Select).value
            return value if isinstance(value, str) else "any"

        return FilterValues(
            verdict=pick("verdict"),
            state=pick("state"),
            range=pick("range"),
            service=self.query_one("#service", Input).value,
            user=self.query_one("#user", Input).value,
            search=self.query_one("#search", Input).value,
        )

    def set_values(self, values: FilterValues) -> None:
        """Put `values` into the controls and announce one change (not one per control)."""
        self._quiet = True
        try:
            self.query_one("#verdict", Select).value = values.verdict
            self.query_one("#state", Select).value = values.state
            self.query_one("#range", Select).value = values.range
            self.query_one("#service", Input).value = values.service
            self.query_one("#user", Input).value = values.user
            self.query_one("#search", Input).value = values.search
        finally:
            self.call_after_refresh(self._unquiet)
        self.post_message(self.Changed(self))

    def _unquiet(self) -> None:
        self._quiet = False

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not self._quiet:
            self.post_message(self.Changed(self))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Changed(self))
