"""The PhiWall analyst console: a Textual app over the store (SQLite or PostgreSQL).

Screens are Textual modes (incidents, services, fleet), each with its own stack (the incident
detail is pushed on the incidents stack). The store is opened in a worker after the first
paint, so a slow or unreachable PostgreSQL never freezes the terminal; a failure shows what
is wrong with retry and quit, and errors while running go to the status line and a
notification while the console keeps working.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual._context import active_app
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.worker import Worker

from agent.errors import PhiWallError
from console.screens.base import describe_error, run_in_worker
from console.screens.incidents import IncidentsScreen
from console.settings import ConsoleSettings, store_label
from console.widgets.filter_bar import FilterValues
from console.widgets.status import StatusLine

if TYPE_CHECKING:
    from textual.command import Provider

    from agent.store import Store
    from console.data.rows import Count, Page
    from console.screens.dialogs import AuditAnswer


def _styled_now[S: Screen[None]](screen: S) -> S:
    """A new mode's screen, marked as styled with the current stylesheet.

    Textual 8 re-parses every CSS source from scratch (`App.refresh_css`) twice when a mode's
    screen is created and shown, because a new screen's CSS generation counter starts out of
    date. It needs no refresh: each of its widgets is styled from the current stylesheet when
    it is mounted, and a later theme change refreshes it as usual. Skipping the two re-parses
    takes 0.05-0.1 s off the first frame (docs/console.md, Scale).
    """
    screen._css_update_count = active_app.get()._css_update_count
    return screen


def _first_screen() -> Screen[None]:
    return _styled_now(IncidentsScreen())


def _lazy_screen(module: str, name: str) -> Callable[[], Screen[None]]:
    """A mode's screen class imported when the mode is first shown, not before the first frame."""

    def make() -> Screen[None]:
        screen: Screen[None] = getattr(importlib.import_module(module), name)()
        return _styled_now(screen)

    return make


def _palette_commands() -> type[Provider]:
    """The palette's console commands, imported when the palette first opens."""
    from console.commands import ConsoleCommands

    return ConsoleCommands


class ConsoleApp(App[None]):
    """The analyst console."""

    TITLE = "PhiWall console"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    MODES: ClassVar[dict[str, Callable[[], Screen[None]]]] = {  # type: ignore[assignment]
        "incidents": _first_screen,
        "services": _lazy_screen("console.screens.services", "ServicesScreen"),
        "fleet": _lazy_screen("console.screens.fleet", "FleetScreen"),
        "scrubbed": _lazy_screen("console.screens.scrubbed", "ScrubbedScreen"),
    }
    COMMANDS = App.COMMANDS | {_palette_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("1", "switch_mode('incidents')", "Incidents", show=False, id="app.incidents"),
        Binding("2", "switch_mode('services')", "Services", show=False, id="app.services"),
        Binding("3", "switch_mode('fleet')", "Fleet", show=False, id="app.fleet"),
        Binding("4", "switch_mode('scrubbed')", "Scrubbed", show=False, id="app.scrubbed"),
        Binding("A", "audit", "Audit report", show=False, id="app.audit"),
    ]

    def __init__(self, settings: ConsoleSettings) -> None:
        super().__init__()
        self.settings = settings
        self.store: Store | None = None
        self.store_opened: Signal[Store] = Signal(self, "store-opened")
        self.store_label = store_label(settings.url)
        self.last_error: str = ""
        # A start-up check failed (settings.preflight): the command reports it after exit.
        self.fatal_error: PhiWallError | None = None
        self._store_started = False
        self._preflight_started = False
        self._frozen = False
        self._collector_timer: Timer | None = None
        if settings.read_only:
            self.sub_title = "read-only"

    # -- store life cycle ------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        # Not DEFAULT_MODE: with it, Textual 8 mounts the first mode's widgets before the mode's
        # screen stack exists (an Input then fails with "No screens on stack" in a real terminal).
        self.switch_mode("incidents")
        # The store is opened once the first frame is on screen (the incidents screen asks for
        # it after its first refresh): importing SQLAlchemy in a worker thread while the main
        # thread paints would share the GIL with the paint and delay it. The timer is a fallback.
        self.set_timer(1.0, self.start_store)

    def start_store(self) -> None:
        """Open the store the first time this is called (later calls do nothing).

        A SQLite store at this PhiWall's schema shows its first page read with plain `sqlite3`
        first (console.data.first_page), and is opened with SQLAlchemy once those rows are
        painted; any other store, or a first page that cannot be read that way, is opened
        directly (migrated, or refused with the usual error).
        """
        if self._store_started:
            return
        self._store_started = True
        screen = self.incidents_screen()
        wanted = screen.first_view() if screen is not None else None
        if screen is None or wanted is None:
            self.open_store()
            return
        url = self.settings.url
        flt, sort = wanted

        def work() -> tuple[Page, Count] | None:
            from console.data.first_page import read_first_page

            return read_first_page(url, flt, sort)

        def done(found: tuple[Page, Count] | None) -> None:
            if found is not None:
                screen.show_first_page(flt, sort, *found)
            # SQLAlchemy is imported once those rows are on screen (not during their paint).
            self.call_after_refresh(self.open_store)

        run_in_worker(screen, work, done, group="first-page", failed=lambda _exc: self.open_store())

    def open_store(self) -> None:
        settings = self.settings

        def work() -> Store:
            # SQLAlchemy, the models and the driver are first imported here, in the worker,
            # while the first frame is already on screen (they are most of the start-up time).
            from console.data.source import open_for_console

            return open_for_console(settings.url, read_only=settings.read_only)

        run_in_worker(self.screen, work, self._store_ready, group="open", failed=self._store_failed)

    def started(self) -> None:
        """The first rows and the footer are drawn: freeze what lives as long as the app.

        Only with `settings.tune_garbage_collector`; once per process.
        """
        if not self.settings.tune_garbage_collector or self._frozen:
            return
        self._frozen = True
        gc.collect()
        gc.freeze()

    def hold_collector(self) -> None:
        """Defer cyclic garbage collection until `release_collector`, or one second at most.

        Called as a filter is applied, released when its rows are drawn: a collection then
        runs after the frame instead of inside it. Only with `settings.tune_garbage_collector`.
        """
        if not self.settings.tune_garbage_collector:
            return
        if self._collector_timer is not None:
            self._collector_timer.stop()
        gc.disable()
        self._collector_timer = self.set_timer(1.0, self.release_collector)

    def release_collector(self) -> None:
        if self._collector_timer is None:
            return
        self._collector_timer.stop()
        self._collector_timer = None
        gc.enable()

    def run_preflight(self) -> None:
        """The start-up checks left until the first rows are shown (once; see ConsoleSettings)."""
        check = self.settings.preflight
        if check is None or self._preflight_started:
            return
        self._preflight_started = True

        def failed(exc: BaseException) -> None:
            if isinstance(exc, PhiWallError):
                self.fatal_error = exc
                self.exit(return_code=exc.exit_code)
            else:
                self.report_store_error(exc, prefix="configuration check failed: ")

        run_in_worker(self.screen, check, lambda _result: None, group="preflight", exclusive=False, failed=failed)

    def _store_ready(self, store: Store) -> None:
        self.store = store
        self.clear_store_error()
        self.store_opened.publish(store)

    def _store_failed(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, PhiWallError) else describe_error(exc, self.settings.url)

        def answered(retry: bool | None) -> None:
            if retry:
                self.notify("Opening the store again…", timeout=3)
                self.open_store()

        from console.screens.problem import StoreProblemScreen

        self.push_screen(StoreProblemScreen(message, self.store_label), answered)

    def report_store_error(self, exc: BaseException, *, prefix: str = "") -> None:
        """An error while running: one line on every status bar, and a notification when new."""
        message = prefix + describe_error(exc, self.settings.url)
        if message != self.last_error:
            self.notify(message, severity="error", title="Store", timeout=8)
        self.last_error = message
        for status in self.screen.query(StatusLine):
            status.error = message

    def clear_store_error(self) -> None:
        if self.last_error:
            self.last_error = ""
            for status in self.screen.query(StatusLine):
                status.error = ""

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.dispose()

    # -- navigation and app-wide actions ---------------------------------------------------
    def incidents_screen(self) -> IncidentsScreen | None:
        for screen in self._screen_stacks.get("incidents", []):
            if isinstance(screen, IncidentsScreen):
                return screen
        return None

    def show_incidents(self, values: FilterValues) -> None:
        """Switch to the incidents feed with these filter values."""
        self.switch_mode("incidents")

        def apply() -> None:
            screen = self.incidents_screen()
            if screen is not None:
                while isinstance(self.screen, Screen) and self.screen is not screen and len(self.screen_stack) > 1:
                    self.pop_screen()
                screen.set_filter_values(values)

        self.call_after_refresh(apply)

    def open_incident(self, id_or_prefix: str) -> None:
        store = self.store
        if store is None:
            return
        self.switch_mode("incidents")

        def resolve() -> list[str]:
            from console.data import incidents as queries

            with store.engine.connect() as conn:
                return queries.resolve_id(conn, id_or_prefix)

        def found(ids: list[str]) -> None:
            screen = self.incidents_screen()
            if not ids:
                self.notify(f"No incident starts with {id_or_prefix}.", severity="warning")
            elif len(ids) > 1:
                self.notify(f"{id_or_prefix} is ambiguous: type more of the id.", severity="warning")
            elif screen is not None:
                screen.open_incident(ids[0])

        run_in_worker(self.screen, resolve, found, group="resolve")

    def action_help(self) -> None:
        from console.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_export(self) -> None:
        screen = self.incidents_screen()
        if screen is None:
            return
        self.switch_mode("incidents")
        self.call_after_refresh(screen.action_export)

    def action_toggle_pause(self) -> None:
        screen = self.incidents_screen()
        if screen is not None:
            screen.action_pause()

    def action_audit(self) -> None:
        now = self.settings.clock()
        default = Path.cwd() / f"phiwall-audit-{now.strftime('%Y%m%d')}.csv"
        from console.screens.dialogs import AuditDialog

        self.push_screen(AuditDialog(default, now), self._audit)

    def _audit(self, answer: AuditAnswer | None) -> None:
        store = self.store
        if answer is None or store is None:
            return
        analyst = self.settings.analyst
        from console.data.export import ExportError, audit_report

        def work() -> object:
            return audit_report(
                store.engine,
                answer.since,
                answer.until,
                answer.path,
                generated_by=analyst,
                fmt="json" if answer.format == "json" else "csv",
            )

        def done(result: object) -> None:
            rows = getattr(result, "rows", 0)
            self.notify(f"Audit report: {rows:,} actions written to {answer.path}", title="Audit", timeout=8)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, ExportError):
                self.notify(str(exc), severity="error", title="Audit")
            else:
                self.report_store_error(exc, prefix="audit report failed: ")

        run_in_worker(self.screen, work, done, group="audit", exclusive=False, failed=failed)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Keys, search syntax and triage rules (?)", self.action_help)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Workers report their own errors; this only keeps a crash in one from going unseen."""
        if event.worker.error is not None and event.worker.group not in ("open",):
            self.report_store_error(event.worker.error)


AUDIT_DEFAULT_SPAN = timedelta(days=30)
