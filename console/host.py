"""What a screen or the command palette may ask of the console app: a narrow protocol.

Screens are built by the app (`console.app`), so they must not import it back (that was an
import circle through every screen). They reach the app through `ConsoleHost` instead: the
store and its life cycle, the settings, and the few app-wide actions they trigger.
`host_of(app)` checks that the running app provides all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual.notifications import SeverityLevel
from textual.signal import Signal

from console.settings import ConsoleSettings

if TYPE_CHECKING:
    from agent.store import Store
    from console.widgets.filter_bar import FilterValues


@runtime_checkable
class ConsoleHost(Protocol):
    """The console app as its screens see it (implemented by `console.app.ConsoleApp`)."""

    settings: ConsoleSettings
    store: Store | None
    store_opened: Signal[Store]
    store_label: str

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def start_store(self) -> None: ...

    def report_store_error(self, exc: BaseException, *, prefix: str = "") -> None: ...

    def clear_store_error(self) -> None: ...

    def run_preflight(self) -> None:
        """The start-up checks left until the first rows are shown (once)."""
        ...

    def started(self) -> None:
        """The first screen is complete (rows and footer drawn)."""
        ...

    def hold_collector(self) -> None:
        """A filter is applied: no garbage collection until its rows are drawn."""
        ...

    def release_collector(self) -> None: ...

    def show_incidents(self, values: FilterValues) -> None: ...

    def open_incident(self, id_or_prefix: str) -> None: ...

    def switch_mode(self, mode: str) -> Any: ...

    def action_export(self) -> None: ...

    def action_audit(self) -> None: ...

    def action_toggle_pause(self) -> None: ...


def host_of(app: object) -> ConsoleHost:
    """`app` as a `ConsoleHost` (fails loudly when a screen runs under another app)."""
    assert isinstance(app, ConsoleHost), f"{type(app).__name__} is not the PhiWall console"
    return app
