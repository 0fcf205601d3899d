"""`SiemForwarder`: the `phiwall run` component that empties the SIEM outbox into each destination.

One thread per destination, so a receiver that is down holds back only its own records.
Each thread reads the rows after its cursor (oldest first), formats them, delivers the
batch, and only then moves its cursor: a crash or an outage at any point re-sends, never
skips, and records leave in the order they were recorded. Syslog has no acknowledgement:
a receiver killed after reading a batch but before handling its last records closes the
connection as cleanly as one that handled them, so after any failed delivery the last
delivered batch is sent again first (duplicates, deduplicable by record id, not losses). Failures back off
exponentially (at most a minute) and are reported in the component's health.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from agent.backoff import Backoff
from agent.components import AgentContext, Health
from agent.config import SiemSection
from agent.errors import ConfigError, PhiWallError
from agent.identity import host_facts
from agent.siem import outbox, records
from agent.siem.destination import Destination, build_destination
from agent.store import Store, describe_db_error

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
RETRY = Backoff(first=0.5, cap=MAX_BACKOFF_S, jitter=(0.8, 1.2))


@dataclass
class DestinationState:
    destination: Destination
    delivered: int = 0
    failures: int = 0  # consecutive, reset when a batch gets through
    failed_batches: int = 0  # since start
    last_error: str | None = None
    down_since: float | None = None
    replay: bool = False  # re-send the last delivered batch: the receiver may have died handling it


class SiemForwarder:
    """Delivers queued events and triage actions to every configured SIEM destination."""

    name = "siem"

    def __init__(self, store: Store, destinations: list[Destination], settings: SiemSection | None = None) -> None:
        self.store = store
        self.settings = settings or SiemSection()
        self.states = [DestinationState(d) for d in destinations]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._registered = False
        self._register_lock = threading.Lock()

    def _register(self) -> None:
        """Make the configured destinations the store's (once; retried while the store fails)."""
        with self._register_lock:
            if not self._registered:
                outbox.register(self.store, [s.destination.name for s in self.states])
                self._registered = True

    def forward_once(self, state: DestinationState) -> int:
        """Deliver one batch to one destination; returns how many outbox rows it settled."""
        self._register()
        name = state.destination.name
        queued = outbox.pending(self.store, name, self.settings.batch, replay=state.replay)
        if not queued:
            return 0
        state.destination.deliver(records.load(self.store, queued))
        outbox.advance(self.store, name, queued[-1].seq, queued[0].seq - 1)
        state.replay = False
        state.delivered += len(queued)
        return len(queued)

    def start(self) -> None:
        try:
            self._register()  # at once, so the triggers queue from now on
        except SQLAlchemyError as exc:
            log.warning("SIEM outbox not ready yet (%s): retrying in the forwarding threads", describe_db_error(exc))
        for state in self.states:
            thread = threading.Thread(
                target=self._run, args=(state,), name=f"phiwall-siem-{state.destination.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, state: DestinationState) -> None:
        while not self._stop.is_set():
            try:
                settled = self.forward_once(state)
            except (PhiWallError, SQLAlchemyError, OSError) as exc:
                message = exc.message if isinstance(exc, PhiWallError) else describe_db_error(exc)
                self._failed(state, message)
                delay = RETRY.delay(state.failures)
            except Exception as exc:  # a bug must not end forwarding for good
                log.exception("SIEM forwarding to %s failed", state.destination.name)
                self._failed(state, f"internal error: {type(exc).__name__}")
                delay = MAX_BACKOFF_S
            else:
                self._recovered(state)
                delay = 0.0 if settled >= self.settings.batch else self.settings.poll_seconds
            if delay:
                self._stop.wait(delay)

    def _failed(self, state: DestinationState, message: str) -> None:
        if state.down_since is None:
            state.down_since = time.monotonic()
            log.warning("SIEM delivery to %s failed: %s (queueing, retrying)", state.destination.name, message)
        state.failures += 1
        state.failed_batches += 1
        state.replay = not state.destination.acknowledged
        state.last_error = message

    def _recovered(self, state: DestinationState) -> None:
        if state.down_since is not None:
            log.info("SIEM delivery to %s works again after %d failures", state.destination.name, state.failures)
        state.down_since = None
        state.failures = 0
        state.last_error = None

    def health(self) -> Health:
        parts: list[str] = []
        degraded = False
        for state in self.states:
            name = state.destination.name
            try:
                queued: int | str = outbox.backlog(self.store, name)
            except SQLAlchemyError as exc:
                return Health("degraded", f"SIEM outbox unreadable: {describe_db_error(exc)}")
            if state.down_since is not None:
                degraded = True
                since = int(time.monotonic() - state.down_since)
                parts.append(f"{name}: failing for {since} s ({state.last_error}); {queued} queued")
            else:
                parts.append(f"{name}: {state.delivered} delivered, {queued} queued")
        return Health("degraded" if degraded else "ok", "; ".join(parts))


def build(ctx: AgentContext) -> SiemForwarder | None:
    settings = ctx.config.siem
    if not settings.destinations:
        if ctx.store.is_sqlite:
            try:
                dropped = outbox.unregister_all(ctx.store)
            except SQLAlchemyError as exc:
                log.warning("could not clear the SIEM outbox: %s", describe_db_error(exc))
            else:
                if dropped:
                    log.info("SIEM forwarding is off: dropped %d queued records", dropped)
        return None
    hostname = host_facts()["hostname"]
    destinations = []
    for destination in settings.destinations:
        try:
            destinations.append(build_destination(destination, hostname))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"siem destination {destination.name!r}: cannot load its TLS files: {exc}",
                hint="check ca_file, client_cert and client_key",
            ) from None
    return SiemForwarder(ctx.store, destinations, settings)
