"""Aggregating AI-service sightings into one inventory row per host.

The proxy sees every request; analysts want one line per service ("api.new-llm.example: 4,812
requests from 3 users, 97 % sure it is an AI API"), not thousands of events. The recorder
keeps a small running belief per host in memory and writes deltas to `ai_service_seen` in
batches from its own thread, so the proxy's event loop never waits on the store.

Belief per host: decisive classifier verdicts are votes, decayed geometrically so the last
few dozen requests dominate (a host that changes what it serves is re-judged). A host is
`ai` only when the votes agree; a host that flips between AI-like and ordinary requests, or
has been seen too little, stays `unknown`: we say so rather than guess. An "unknown AI
service seen" event is emitted the first time a host becomes `ai`, and later status changes
are reported at most once per cool-down.

Memory is bounded: at most `max_hosts` beliefs are kept (least recently seen are evicted,
their unwritten counts kept for the next flush up to the same bound, then counted as
dropped and reported in `health()`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import col, select

from agent.shadow.belief import (
    Belief,
    DiscoverySettings,
    HostBelief,
    VoteTally,
    normalise_host,
    vote,
)
from agent.shadow.belief import belief_after as belief_after  # the trainer (signatures/shadow/train.py) imports it here
from agent.shadow.classifier import ShapeVerdict
from agent.store.engine import Store, describe_db_error
from agent.store.events import EventWriter, make_event
from agent.store.models import AIServiceSeen
from agent.store.types import utcnow

log = logging.getLogger(__name__)

UNKNOWN_AI_CATEGORY = "unknown-ai"


@dataclass(kw_only=True)
class _HostState(VoteTally):
    """A host's tally plus what the inventory row and the status events need."""

    host: str
    first_seen: datetime
    last_seen: datetime
    total_requests: int = 0
    pending_requests: int = 0
    pending_blocks: int = 0
    users: dict[str, None] = field(default_factory=dict)
    processes: dict[str, None] = field(default_factory=dict)
    service_id: str | None = None
    category: str | None = None
    catalog_status: str | None = None
    last_status_event: datetime | None = None
    reported_status: Belief | None = None
    dirty: bool = False

    @property
    def recorded(self) -> bool:
        """Whether this host belongs in the inventory (a catalog service, or once AI-like)."""
        return self.service_id is not None or self.ever_ai


@dataclass(frozen=True)
class _Delta:
    host: str
    first_seen: datetime
    last_seen: datetime
    requests: int
    blocks: int
    confidence: float
    users: tuple[str, ...]
    processes: tuple[str, ...]
    service_id: str | None
    category: str | None
    status: str


class DiscoveryRecorder:
    """Aggregates sightings per (agent, host) and writes them in batches."""

    def __init__(
        self,
        store: Store,
        *,
        agent_id: str = "",
        events: EventWriter | None = None,
        threshold: float = 0.8,
        low_threshold: float = 0.2,
        settings: DiscoverySettings | None = None,
        catalog_version: Callable[[], str | None] | None = None,
    ) -> None:
        self._store = store
        self._agent_id = agent_id
        self._events = events
        self._threshold = threshold
        self._low_threshold = low_threshold
        self.settings = settings or DiscoverySettings()
        self._catalog_version = catalog_version
        self._hosts: OrderedDict[str, _HostState] = OrderedDict()
        self._evicted: OrderedDict[str, _Delta] = OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written_rows = 0
        self.last_error: str | None = None

    # --- observing (hot path: memory only) ------------------------------------------------

    def observe(
        self,
        host: str,
        score: float | ShapeVerdict | None,
        *,
        process: str | None = None,
        user: str | None = None,
        blocked: bool = False,
        service_id: str | None = None,
        category: str | None = None,
        status: str | None = None,
        now: datetime | None = None,
    ) -> HostBelief:
        """Count one request to `host` and update the belief about it.

        `score` is the classifier's verdict (or probability) for this request; None when the
        request was not classified. Catalog hosts pass `service_id`/`category`/`status`
        instead and are recorded as the catalog says.
        """
        name = normalise_host(host)
        when = now or utcnow()
        event_due: tuple[Belief, bool] | None = None
        with self._lock:
            state = self._hosts.get(name)
            if state is None:
                state = _HostState(host=name, first_seen=when, last_seen=when)
                self._hosts[name] = state
                self._evict_if_full()
            else:
                self._hosts.move_to_end(name)
            state.last_seen = max(state.last_seen, when)
            state.total_requests += 1
            state.pending_requests += 1
            if blocked:
                state.pending_blocks += 1
            self._remember(state.users, user)
            self._remember(state.processes, process)
            if service_id is not None:
                state.service_id, state.category, state.catalog_status = service_id, category, status
                state.status = "ai"
                state.ever_ai = True
            else:
                previous = state.status
                vote(state, score, self.settings, self._threshold, self._low_threshold)
                event_due = self._status_event_due(state, previous, when)
            state.dirty = state.dirty or state.recorded
            belief = HostBelief(name, state.status, state.confidence, state.total_requests)
            event_fields = self._event_fields(state, *event_due, when) if event_due is not None else None
        if event_fields is not None:
            self._emit(event_fields)
        return belief

    def belief(self, host: str) -> HostBelief | None:
        """What the recorder currently believes about `host` (None if not seen lately)."""
        with self._lock:
            state = self._hosts.get(normalise_host(host))
            if state is None:
                return None
            return HostBelief(state.host, state.status, state.confidence, state.total_requests)

    def _remember(self, names: dict[str, None], value: str | None) -> None:
        if value and len(names) < self.settings.max_names:
            names[value[:128]] = None

    def _status_event_due(self, state: _HostState, previous: Belief, when: datetime) -> tuple[Belief, bool] | None:
        """(previous reported status, first report) when this change deserves an event.

        Only decisive statuses are news (a host drifting into "unknown" is not), a host is
        first reported when it becomes AI, and a change that happens within the cool-down of
        the last report is dropped, not delayed: a flapping host costs one event per hour.
        """
        if state.status == previous or state.status == "unknown" or state.status == state.reported_status:
            return None
        if state.reported_status is None:
            if state.status != "ai":
                return None  # never reported as AI: an ordinary host is not news
            state.reported_status, state.last_status_event = state.status, when
            return ("unknown", True)
        assert state.last_status_event is not None
        if (when - state.last_status_event).total_seconds() < self.settings.status_event_cooldown_s:
            return None
        last = state.reported_status
        state.reported_status, state.last_status_event = state.status, when
        return (last, False)

    def _event_fields(self, state: _HostState, previous: Belief, first: bool, when: datetime) -> dict[str, object]:
        if state.status == "ai":
            reason = f"unknown AI service seen: {state.host}" if first else f"{state.host} looks like an AI API again"
        else:
            reason = f"{state.host}, reported as an AI API before, no longer looks like one"
        return {
            "kind": "discovery",
            "verdict": "info",
            "agent_id": self._agent_id,
            "time": when,
            "host": state.host,
            "user": next(iter(state.users), None),
            "process_name": next(iter(state.processes), None),
            "service_category": UNKNOWN_AI_CATEGORY,
            "reason": reason,
            "catalog_version": self._catalog_version() if self._catalog_version else None,
            "details": {
                "status": state.status,
                "previous_status": previous,
                "confidence": round(state.confidence, 4),
                "requests": state.total_requests,
                "first_seen": state.first_seen.isoformat(),
                "processes": list(state.processes),
                "first_report": first,
            },
        }

    def _emit(self, fields: dict[str, object]) -> None:
        if self._events is None:
            return
        try:
            self._events.submit(make_event(**fields))
        except Exception:  # an event that cannot be built must not break observation
            log.exception("could not build discovery event for %s", fields.get("host"))

    def _evict_if_full(self) -> None:
        while len(self._hosts) > self.settings.max_hosts:
            _, oldest = self._hosts.popitem(last=False)
            if oldest.dirty:
                self._evicted[oldest.host] = self._take_delta(oldest)
                while len(self._evicted) > self.settings.max_hosts:
                    _, lost = self._evicted.popitem(last=False)
                    self.dropped += lost.requests

    def _take_delta(self, state: _HostState) -> _Delta:
        delta = _Delta(
            host=state.host,
            first_seen=state.first_seen,
            last_seen=state.last_seen,
            requests=state.pending_requests,
            blocks=state.pending_blocks,
            confidence=1.0 if state.service_id else state.confidence,
            users=tuple(state.users),
            processes=tuple(state.processes),
            service_id=state.service_id,
            category=state.category if state.service_id else UNKNOWN_AI_CATEGORY,
            status=state.catalog_status or "unknown",
        )
        state.pending_requests = 0
        state.pending_blocks = 0
        state.dirty = False
        return delta

    # --- writing (background thread) --------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="phiwall-discovery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_interval_s):
            self.flush()

    def flush(self) -> int:
        """Write every pending delta now; returns how many hosts were written."""
        with self._flush_lock:
            with self._lock:
                by_host: dict[str, _Delta] = dict(self._evicted)
                self._evicted.clear()
                for state in self._hosts.values():
                    if state.dirty:
                        by_host[state.host] = _merge_deltas(by_host.get(state.host), self._take_delta(state))
            deltas = list(by_host.values())
            written = 0
            for start in range(0, len(deltas), self.settings.batch_hosts):
                chunk = deltas[start : start + self.settings.batch_hosts]
                if self._write(chunk):
                    written += len(chunk)
                else:
                    self._requeue(chunk)
                    break
            return written

    def _requeue(self, deltas: list[_Delta]) -> None:
        with self._lock:
            for delta in deltas:
                merged = _merge_deltas(self._evicted.get(delta.host), delta)
                self._evicted[delta.host] = merged
            while len(self._evicted) > self.settings.max_hosts:
                _, lost = self._evicted.popitem(last=False)
                self.dropped += lost.requests

    def _write(self, deltas: list[_Delta]) -> bool:
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                self._upsert(deltas)
                self.written_rows += len(deltas)
                self.last_error = None
                return True
            except IntegrityError:
                # Another process inserted the same (agent, host) meanwhile: the retry updates it.
                if attempt == attempts:
                    self.last_error = "conflicting inserts into ai_service_seen"
            except OperationalError as exc:
                # SQLite refuses at once (no busy wait) to turn this read transaction into a write
                # when another connection wrote since it began; a fresh transaction succeeds.
                if attempt < attempts and _is_lock_conflict(exc):
                    time.sleep(0.05 * attempt)
                    continue
                self.last_error = describe_db_error(exc)
                log.warning("writing shadow-AI inventory failed: %s", self.last_error)
                return False
            except SQLAlchemyError as exc:
                self.last_error = describe_db_error(exc)
                log.warning("writing shadow-AI inventory failed: %s", self.last_error)
                return False
        return False

    def _upsert(self, deltas: list[_Delta]) -> None:
        limit = self.settings.max_names
        with self._store.session() as session:
            hosts = [delta.host for delta in deltas]
            existing = {
                row.host: row
                for row in session.exec(
                    select(AIServiceSeen).where(
                        AIServiceSeen.agent_id == self._agent_id, col(AIServiceSeen.host).in_(hosts)
                    )
                )
            }
            for delta in deltas:
                row = existing.get(delta.host)
                if row is None:
                    row = AIServiceSeen(agent_id=self._agent_id, host=delta.host, first_seen=delta.first_seen)
                row.first_seen = min(row.first_seen, delta.first_seen)
                row.last_seen = max(row.last_seen, delta.last_seen) if row.id else delta.last_seen
                row.request_count += delta.requests
                row.block_count += delta.blocks
                row.confidence = delta.confidence
                row.service_id = delta.service_id
                row.category = delta.category
                row.status = delta.status
                row.users = _merge_names(row.users, delta.users, limit)
                row.processes = _merge_names(row.processes, delta.processes, limit)
                session.add(row)
            session.commit()

    def health_summary(self) -> tuple[bool, str]:
        """(healthy, message) for the owning component's health report."""
        with self._lock:
            tracked = len(self._hosts)
            ai_hosts = sum(1 for state in self._hosts.values() if state.status == "ai")
        message = f"{tracked} hosts tracked, {ai_hosts} AI-like, {self.written_rows} rows written"
        if self.dropped:
            message += f", {self.dropped} requests not recorded (host table full)"
        if self.last_error:
            return False, f"{message}; last store error: {self.last_error}"
        return not self.dropped, message


def _is_lock_conflict(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def _merge_names(stored: str, new: tuple[str, ...], limit: int) -> str:
    try:
        names = json.loads(stored or "[]")
    except ValueError:
        names = []
    if not isinstance(names, list):
        names = []
    merged = list(dict.fromkeys([str(name) for name in names] + list(new)))[:limit]
    return json.dumps(merged)


def _merge_deltas(old: _Delta | None, new: _Delta) -> _Delta:
    if old is None:
        return new
    return _Delta(
        host=new.host,
        first_seen=min(old.first_seen, new.first_seen),
        last_seen=max(old.last_seen, new.last_seen),
        requests=old.requests + new.requests,
        blocks=old.blocks + new.blocks,
        confidence=new.confidence,
        users=tuple(dict.fromkeys(old.users + new.users)),
        processes=tuple(dict.fromkeys(old.processes + new.processes)),
        service_id=new.service_id,
        category=new.category,
        status=new.status,
    )
