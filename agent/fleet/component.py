"""`FleetLink`: the agent's connection to the fleet store, run as a component of `phiwall run`.

One thread does every fleet round trip, in a cycle: forward queued events, push newly
enrolled assets, pull assets enrolled elsewhere, then the heartbeat with the cycle's
figures. When the fleet store is unreachable (down, refusing connections, network gone) the
cycle fails as a whole and is retried with exponential back-off; the agent meanwhile
enforces from its local index and queues events in its local outbox, which is only trimmed
of rows the fleet has committed, so nothing is lost. Timing uses the monotonic
clock only: a wall clock that jumps cannot stall or hurry the link.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from agent.backoff import Backoff
from agent.components import AgentContext, Health
from agent.config import FleetSection
from agent.errors import PhiWallError
from agent.fleet.forward import forward_events, outbox_depth, push_assets
from agent.fleet.heartbeat import send_heartbeat
from agent.fleet.sync import pull_assets
from agent.store import Store, describe_db_error, open_store, redact

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
RETRY = Backoff(first=1.0, cap=MAX_BACKOFF_S, jitter=(0.8, 1.2))
# Bounded work per cycle, so a long backlog never starves heartbeats and fingerprint pulls.
MAX_EVENT_BATCHES_PER_CYCLE = 100


@dataclass(frozen=True)
class CycleReport:
    forwarded: int
    pushed: int
    pulled: int
    seen: int  # fleet assets read past the watermark, pulled or not
    evicted: int
    backlog: bool  # more events were waiting when the cycle ended


class FleetLink:
    """Forwarding, fingerprint sync and heartbeats between one agent and the fleet store."""

    name = "fleet"

    def __init__(
        self,
        local: Store,
        fleet_url: str,
        *,
        agent_id: str,
        settings: FleetSection | None = None,
        on_pulled: Callable[[int], None] | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self.local = local
        self.fleet_url = fleet_url
        self.agent_id = agent_id
        self.settings = settings or FleetSection()
        self._on_pulled = on_pulled
        self._forget = forget
        self._fleet: Store | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.forwarded = 0
        self.pushed = 0
        self.pulled = 0
        self.failures = 0
        self.last_error: str | None = None
        self._down_since: float | None = None
        self._last_ok: float | None = None

    # -- one cycle -------------------------------------------------------------------------
    def fleet_store(self) -> Store:
        """The fleet store, opened (and migrated, under its advisory lock) on first success."""
        if self._fleet is None:
            self._fleet = open_store(self.fleet_url)
        return self._fleet

    def sync_once(self) -> CycleReport:
        """One full round trip; raises when the fleet or the local store fails."""
        fleet = self.fleet_store()
        batch = self.settings.batch
        forwarded = 0
        backlog = False
        for _ in range(MAX_EVENT_BATCHES_PER_CYCLE):
            count = forward_events(self.local, fleet, batch=batch)
            forwarded += count
            if count < batch:
                break
        else:
            backlog = True
        self.forwarded += forwarded
        pushed = push_assets(self.local, fleet, agent_id=self.agent_id, batch=batch)
        self.pushed += pushed
        result = pull_assets(
            self.local,
            fleet,
            agent_id=self.agent_id,
            max_assets=self.settings.max_assets,
            max_age_days=self.settings.max_age_days,
            batch=batch,
            forget=self._forget,
        )
        self.pulled += result.pulled
        if (result.pulled or result.evicted) and self._on_pulled is not None:
            self._on_pulled(result.pulled)
        send_heartbeat(self.local, fleet, self.agent_id, self._fleet_health_facts())
        self._mark_ok()
        return CycleReport(forwarded, pushed, result.pulled, result.seen, result.evicted, backlog)

    def _mark_ok(self) -> None:
        if self._down_since is not None:
            log.info("fleet store %s reachable again after %d failures", redact(self.fleet_url), self.failures)
        self._down_since = None
        self.failures = 0
        self.last_error = None
        self._last_ok = time.monotonic()

    def _mark_failed(self, error: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("fleet store %s unreachable: %s (queueing locally)", redact(self.fleet_url), error)
        self.failures += 1
        self.last_error = error

    # -- the thread --------------------------------------------------------------------------
    def start(self) -> None:
        if not self.local.is_sqlite:
            self.last_error = "fleet mode needs the agent's local store on SQLite (its outbox)"
            log.error("%s; not forwarding", self.last_error)
            return
        self._thread = threading.Thread(target=self._run, name="phiwall-fleet", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._fleet is not None:
            self._fleet.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.sync_once()
                delay = 0.0 if report.backlog else self.settings.sync_seconds
            except (SQLAlchemyError, PhiWallError, OSError) as exc:
                message = exc.message if isinstance(exc, PhiWallError) else describe_db_error(exc)
                self._mark_failed(message)
                delay = RETRY.delay(self.failures)
            except Exception as exc:  # a bug must not end forwarding for good
                log.exception("fleet cycle failed")
                self._mark_failed(f"internal error: {type(exc).__name__}")
                delay = MAX_BACKOFF_S
            if delay:
                self._wake.wait(delay)
                self._wake.clear()

    # -- health ------------------------------------------------------------------------------
    def _fleet_health_facts(self) -> dict[str, str]:
        return {"forwarded": str(self.forwarded), "pushed": str(self.pushed), "pulled": str(self.pulled)}

    def health(self) -> Health:
        try:
            queued = outbox_depth(self.local)
        except SQLAlchemyError as exc:
            return Health("degraded", f"local outbox unreadable: {describe_db_error(exc)}")
        if self._thread is None and self.last_error:
            return Health("down", self.last_error)
        if self._down_since is not None:
            since = int(time.monotonic() - self._down_since)
            return Health(
                "degraded",
                f"fleet store unreachable for {since} s ({self.last_error}); {queued} rows queued locally; "
                "enforcing from the local index",
            )
        if self._last_ok is None:
            return Health("ok", f"connecting; {queued} rows queued")
        return Health(
            "ok",
            f"forwarded {self.forwarded} events, shared {self.pushed} and pulled {self.pulled} assets; {queued} queued",
        )


def build(ctx: AgentContext) -> FleetLink | None:
    fleet_url = ctx.config.store.fleet_url
    if not fleet_url:
        return None
    if fleet_url == ctx.store.url:
        log.info("the store is the fleet store: nothing to forward")
        return None
    return FleetLink(ctx.store, fleet_url, agent_id=ctx.agent_id, settings=ctx.config.fleet)
