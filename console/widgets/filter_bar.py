"""The incidents filter bar: verdict, state, time range, service, user and a search box.

Selects apply at once; text fields apply on Enter (a substring search over a million rows
is a real query, not something to run per keystroke).

Three `Select`s and three `Input`s cost about as much to build as the whole incidents table
(docs/console.md, Scale), so the bar first paints look-alike `Static`s and builds the real
controls once the first rows are shown (`build`), or at once when the analyst reaches for them.
The bar only collects values; turning them into an `EventFilter` (and reporting bad search
terms) is `console.data.filters`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Click
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
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
    FilterBar Select, FilterBar .select-placeholder { width: 18; margin-right: 1; }
    FilterBar #range, FilterBar #range-placeholder { width: 16; }
    FilterBar Input, FilterBar .input-placeholder { width: 14; margin-right: 1; }
    FilterBar .input-placeholder { padding: 0 1; color: $text-muted; background: $surface; }
    FilterBar .select-placeholder { padding: 0 1; background: $surface; }
    FilterBar #search, FilterBar #search-placeholder { width: 1fr; margin-right: 0; }
    """

    SEARCH_HINT = "search: words or key:value (verdict:block user:alice since:24h is:escalated) ⏎"

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
        self._built = False
        self._mounted = False
        self.ready = False
        """The real controls are mounted and report changes (until then `values` is what they will hold)."""

    def compose(self) -> ComposeResult:
        # Look-alikes of the controls: the real ones are built after the first rows (build()).
        for control_id, content in self._looks(self._initial):
            kind = "select" if control_id in ("verdict", "state", "range") else "input"
            yield _Placeholder(control_id, content, classes=f"{kind}-placeholder")

    def _looks(self, v: FilterValues) -> list[tuple[str, Text | str]]:
        """What each control shows for `v`, as the placeholders paint it."""
        looks: list[tuple[str, Text | str]] = []
        for select_id, options, value in (
            ("verdict", VERDICT_OPTIONS, v.verdict),
            ("state", STATE_OPTIONS, v.state),
            ("range", RANGE_OPTIONS, v.range),
        ):
            label = next((text for text, key in options if key == value), value)
            looks.append((select_id, Text.assemble(label, " ", ("▼", "bold"))))
        looks += [("service", v.service or "service"), ("user", v.user or "user")]
        looks.append(("search", v.search or self.SEARCH_HINT))
        return looks

    def _controls(self, v: FilterValues) -> list[Widget]:
        from textual.widgets import Input, Select

        return [
            Select(VERDICT_OPTIONS, value=v.verdict, allow_blank=False, compact=True, id="verdict"),
            Select(STATE_OPTIONS, value=v.state, allow_blank=False, compact=True, id="state"),
            Select(RANGE_OPTIONS, value=v.range, allow_blank=False, compact=True, id="range"),
            Input(v.service, placeholder="service", compact=True, id="service"),
            Input(v.user, placeholder="user", compact=True, id="user"),
            Input(v.search, placeholder=self.SEARCH_HINT, compact=True, id="search"),
        ]

    def build(self) -> None:
        """Replace the look-alikes with the real controls (once; later calls do nothing)."""
        if self._built:
            return
        self._built = True
        self._quiet = True
        placeholders = list(self.query(_Placeholder))
        mounted = self.mount_all(self._controls(self._initial))
        for placeholder in placeholders:
            placeholder.remove()

        async def settled() -> None:
            await mounted
            self._mounted = True
            self.call_after_refresh(self._unquiet)

        self.call_later(settled)

    def focus_control(self, control_id: str) -> None:
        """Focus one control (building the bar first if needed)."""
        self.build()
        self.query_one(f"#{control_id}").focus()

    @property
    def values(self) -> FilterValues:
        if not self._mounted:
            return self._initial
        from textual.widgets import Input, Select

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
        self._initial = values
        if not self._mounted:
            if self._built:
                # Controls are mounting with the old values: set them once they are in place.
                self.call_later(lambda: self.set_values(values))
                return
            self._refresh_placeholders(values)
            self.post_message(self.Changed(self))
            return
        from textual.widgets import Input, Select

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

    def _refresh_placeholders(self, values: FilterValues) -> None:
        for control_id, content in self._looks(values):
            self.query_one(f"#{control_id}-placeholder", _Placeholder).update(content)

    def _unquiet(self) -> None:
        self._quiet = False
        self.ready = self._built

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not self._quiet:
            self.post_message(self.Changed(self))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Changed(self))


class _Placeholder(Static):
    """A control's look-alike until the real one is built; a click builds the bar and focuses it."""

    def __init__(self, control_id: str, content: Text | str, *, classes: str) -> None:
        super().__init__(content, id=f"{control_id}-placeholder", classes=classes)
        self.control_id = control_id

    def on_click(self, event: Click) -> None:
        event.stop()
        bar = self.parent
        if isinstance(bar, FilterBar):
            bar.focus_control(self.control_id)
