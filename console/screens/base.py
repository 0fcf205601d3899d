"""What every store-backed screen shares: database work in thread workers, errors to the status line.

Harlequin's rule: the event loop never waits on the database. `StoreScreen.query` runs a
function of a SQLAlchemy connection in a thread worker and hands its result (or the error,
as one line) back on the event loop; exclusive groups drop stale work, e.g. an older filter.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from console.host import ConsoleHost, host_of

if TYPE_CHECKING:
    from sqlalchemy import Connection

T = TypeVar("T")


class LazyModule:
    """A module imported on first attribute access.

    The data layer pulls in SQLAlchemy and the models (most of the start-up time); screens
    reach it through these so the first frame is painted before it is imported, and the
    first access happens in a worker thread (store opening), not on the event loop.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def describe_error(exc: BaseException, url: str) -> str:
    """One line for the analyst (console.data.source, imported only once there is an error)."""
    from console.data.source import describe_error as describe

    return describe(exc, url)


def run_in_worker[T](
    owner: Screen[Any],
    work: Callable[[], T],
    done: Callable[[T], None],
    *,
    group: str,
    exclusive: bool = True,
    failed: Callable[[BaseException], None] | None = None,
) -> Worker[None]:
    """Run `work()` in a thread; call `done(result)` or `failed(exc)` back on the event loop."""
    app = owner.app

    def body() -> None:
        worker = get_current_worker()
        try:
            result = work()
        except Exception as exc:  # reported to the analyst, never raised into Textual
            if not worker.is_cancelled:
                _call_back(app, failed or _default_failed(owner), exc)
            return
        if not worker.is_cancelled:
            _call_back(app, done, result)

    return owner.run_worker(body, thread=True, group=group, exclusive=exclusive, exit_on_error=False)


def _call_back(app: Any, callback: Callable[[Any], None], value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the app is shutting down
        app.call_from_thread(callback, value)


def _default_failed(owner: Screen[Any]) -> Callable[[BaseException], None]:
    def failed(exc: BaseException) -> None:
        app = owner.app
        report = getattr(app, "report_store_error", None)
        if report is not None:
            report(exc)

    return failed


class StoreScreen(Screen[None]):
    """A screen that reads the store; `load()` is called once the store is open (and on reload)."""

    @property
    def console(self) -> ConsoleHost:
        return host_of(self.app)

    def on_mount(self) -> None:
        # Textual runs every class's on_mount along the MRO: subclasses must not call this one.
        self.console.store_opened.subscribe(self, self._on_store_opened)
        if self.console.store is not None:
            self.call_after_refresh(self.load)

    def _on_store_opened(self, _store: object) -> None:
        self.load()

    def load(self) -> None:
        """Read what the screen shows (override)."""

    def read_store(
        self,
        fn: Callable[[Connection], T],
        done: Callable[[T], None],
        *,
        group: str,
        exclusive: bool = True,
        failed: Callable[[BaseException], None] | None = None,
    ) -> Worker[None] | None:
        """Run `fn(connection)` off the event loop; None when the store is not open yet."""
        store = self.console.store
        if store is None:
            return None

        def work() -> T:
            with store.engine.connect() as conn:
                return fn(conn)

        def ok(result: T) -> None:
            self.console.clear_store_error()
            done(result)

        return run_in_worker(self, work, ok, group=group, exclusive=exclusive, failed=failed)

    def error_text(self, exc: BaseException) -> str:
        return describe_error(exc, self.console.settings.url)
