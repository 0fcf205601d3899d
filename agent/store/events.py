"""Writing events: validated rows, written off the caller's thread in batches.

The proxy records decisions from mitmproxy's event loop; a slow disk or a locked SQLite file
must never stall traffic, so `EventWriter` queues rows (bounded) and a thread writes them.
When the queue is full the writer counts dropped rows and reports them in its health rather
than blocking the proxy; a store that fails is retried until it works or the agent stops.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from agent.store.engine import Store
from agent.store.errors import describe_db_error
from agent.store.models import Event

log = logging.getLogger(__name__)

_FORBIDDEN_TYPES = (bytes, bytearray, memoryview)


def make_event(**fields: Any) -> Event:
    """Build an `Event`, refusing byte payloads and turning `details` dicts into JSON."""
    for key, value in fields.items():
        if isinstance(value, _FORBIDDEN_TYPES):
            raise TypeError(f"event field {key!r} must not hold bytes (PHI rule)")
    details = fields.pop("details", None)
    if isinstance(details, dict):
        fields["details"] = json.dumps(details, sort_keys=True, default=str)
    elif isinstance(details, str):
        fields["details"] = details
    return Event(**fields)


def write_events(store: Store, events: Iterable[Event]) -> None:
    with store.session() as session:
        session.add_all(list(events))
        session.commit()


class EventWriter:
    """A background writer with a bounded queue; `submit` never blocks."""

    def __init__(
        self,
        store: Store,
        *,
        max_queue: int = 10_000,
        batch: int = 200,
        on_written: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self._store = store
        self._queue: queue.Queue[Event | None] = queue.Queue(max_queue)
        self._batch = batch
        self._on_written = on_written
        self._thread = threading.Thread(target=self._run, name="phiwall-event-writer", daemon=True)
        self.dropped = 0
        self.written = 0
        self.last_error: str | None = None
        self._started = False
        self._stopping = threading.Event()
        self._flush_markers: dict[str, threading.Event] = {}

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, event: Event) -> bool:
        try:
            self._queue.put_nowait(event)
            return True
        except queue.Full:
            self.dropped += 1
            log.error("event queue full: dropped event %s (%s)", event.id, event.verdict)
            return False

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        done = threading.Event()
        marker = make_event(verdict="info", reason="__flush__")
        self._flush_markers[marker.id] = done
        self._queue.put(marker, timeout=timeout)
        done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._started:
            self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)
            self._stopping.set()
            self._thread.join(1.0)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pending = [first]
            while len(pending) < self._batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._write(pending)
                    return
                pending.append(item)
            self._write(pending)

    def _write(self, pending: list[Event]) -> None:
        markers = [e for e in pending if e.id in self._flush_markers]
        rows = [e for e in pending if e.id not in self._flush_markers]
        # A locked or briefly unavailable store is retried until it works: events are the
        # audit record, and the bounded queue (not this loop) is what protects memory.
        attempt = 0
        while rows:
            try:
                write_events(self._store, rows)
            except SQLAlchemyError as exc:
                attempt += 1
                self.last_error = describe_db_error(exc)
                log.warning("event write failed (attempt %d): %s", attempt, self.last_error)
                if self._stopping.wait(min(5.0, 0.2 * attempt)):
                    self.dropped += len(rows)
                    log.error("shutdown with %d unwritten events", len(rows))
                    break
                continue
            self.written += len(rows)
            self.last_error = None
            if self._on_written:
                self._on_written(rows)
            break
        for marker in markers:
            self._flush_markers.pop(marker.id).set()
