"""The triage interaction shared by the incidents list and the detail screen.

ask (dialog for close / note) -> confirm (always for several incidents, stating the count)
-> apply in a worker (one transaction) -> tell the analyst what happened -> let the caller
refresh its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from console.data import triage
from console.data.filters import EventFilter
from console.data.triage import TriageError, TriageRequest, TriageResult
from console.screens.base import LazyModule, StoreScreen, run_in_worker
from console.screens.dialogs import CloseAnswer, CloseDialog, ConfirmDialog, NoteDialog

if TYPE_CHECKING:
    from console.data import bulk
else:
    bulk = LazyModule("console.data.bulk")

Done = Callable[[TriageResult, list[str]], None]


def start(screen: StoreScreen, action: triage.Action, event_ids: Sequence[str], done: Done) -> None:
    """Run the whole flow for `action` on `event_ids` from `screen`."""
    app = screen.console
    ids = list(event_ids)
    if app.settings.read_only:
        app.notify("Read-only mode: triage is disabled.", severity="warning")
        return
    if app.store is None:
        app.notify("The store is not open.", severity="error")
        return
    if not ids:
        app.notify("No incident selected.", severity="warning")
        return
    analyst = app.settings.analyst

    def confirm_then_apply(request: TriageRequest) -> None:
        try:
            request.validate()
        except TriageError as exc:
            app.notify(str(exc), severity="error")
            return
        if len(ids) == 1:
            _apply(screen, ids, request, done)
            return

        def on_answer(yes: bool | None) -> None:
            if yes:
                _apply(screen, ids, request, done)

        detail = f"Each incident gets its own audit record, signed {analyst}."
        screen.app.push_screen(
            ConfirmDialog(request.describe(len(ids)), detail=detail, confirm_label=f"Apply to {len(ids):,}"),
            on_answer,
        )

    _ask(screen, action, len(ids), analyst, confirm_then_apply)


def start_matching(screen: StoreScreen, action: triage.Action, flt: EventFilter, done: Callable[[], None]) -> None:
    """The flow for every event matching `flt` in the store: exact count, confirmation, one transaction."""
    app = screen.console
    store = app.store
    if app.settings.read_only:
        app.notify("Read-only mode: triage is disabled.", severity="warning")
        return
    if store is None:
        app.notify("The store is not open.", severity="error")
        return
    analyst = app.settings.analyst

    def confirm(request: TriageRequest) -> None:
        try:
            request.validate()
        except TriageError as exc:
            app.notify(str(exc), severity="error")
            return

        def counted(found: bulk.BulkScope) -> None:
            if found.eligible == 0:
                app.notify(f"None of the {found.matching:,} matching events can take this action.", severity="warning")
                return
            detail = f"{found.matching:,} events match: {flt.describe()}."
            if found.skipped:
                detail += f" {found.skipped:,} are skipped (the action does not apply to them)."
            detail += f" Each incident gets its own audit record, signed {analyst}; one transaction."

            def on_answer(yes: bool | None) -> None:
                if yes:
                    _apply_matching(screen, flt, request, done)

            screen.app.push_screen(
                ConfirmDialog(
                    request.describe(found.eligible), detail=detail, confirm_label=f"Apply to {found.eligible:,}"
                ),
                on_answer,
            )

        screen.read_store(lambda conn: bulk.scope(conn, flt, request), counted, group="bulk-scope")

    _ask(screen, action, 2, analyst, confirm)


def _ask(
    screen: StoreScreen, action: triage.Action, count: int, analyst: str, then: Callable[[TriageRequest], None]
) -> None:
    """The dialog an action needs (classification, note), then `then(request)`."""
    if action in ("close", "classify"):

        def on_close(answer: CloseAnswer | None) -> None:
            if answer is not None:
                then(TriageRequest(action, analyst, classification=answer.classification, note=answer.note or None))

        screen.app.push_screen(CloseDialog(count, classify_only=action == "classify"), on_close)
    elif action == "note":

        def on_note(note: str | None) -> None:
            if note:
                then(TriageRequest("note", analyst, note=note))

        screen.app.push_screen(NoteDialog(count), on_note)
    else:
        then(TriageRequest(action, analyst))


def _apply_matching(screen: StoreScreen, flt: EventFilter, request: TriageRequest, done: Callable[[], None]) -> None:
    app = screen.console
    store = app.store
    if store is None:
        return
    app.notify("Applying to every matching event…", timeout=3)

    def work() -> bulk.BulkResult:
        return bulk.apply_matching(store.engine, flt, request, clock=app.settings.clock)

    def ok(result: bulk.BulkResult) -> None:
        app.notify(result.summary(request), severity="information", timeout=8)
        done()

    def failed(exc: BaseException) -> None:
        if isinstance(exc, TriageError):
            app.notify(str(exc), severity="error")
        else:
            app.report_store_error(exc, prefix="triage not saved: ")

    run_in_worker(screen, work, ok, group="triage", exclusive=False, failed=failed)


def _apply(screen: StoreScreen, ids: list[str], request: TriageRequest, done: Done) -> None:
    app = screen.console
    store = app.store
    if store is None:
        return

    def work() -> TriageResult:
        return triage.apply(store.engine, ids, request, clock=app.settings.clock)

    def ok(result: TriageResult) -> None:
        app.notify(result.summary(request), severity="information" if result.applied else "warning", timeout=6)
        done(result, ids)

    def failed(exc: BaseException) -> None:
        if isinstance(exc, TriageError):
            app.notify(str(exc), severity="error")
        else:
            app.report_store_error(exc, prefix="triage not saved: ")

    run_in_worker(screen, work, ok, group="triage", exclusive=False, failed=failed)
