"""The signature-update component of `phiwall run`.

A thread polls the configured repository (`[signatures] repository`: a directory or an
http(s) URL), installs verified bundles atomically, and records each accepted or rejected
bundle. The proxy child process sees the new pointer through `ActiveSignatures.
reload_if_changed()`; this process's own `ActiveSignatures` feeds `catalog_version` to the
heartbeat so the console shows the version in force.

The poll period is 15 minutes (`PHIWALL_SIGNATURES_POLL_SECONDS` overrides it, e.g. in
tests). The same rejection seen on consecutive polls is recorded once, not every poll.

The poll never holds up the agent: it runs on its own thread, every download is bounded
(`[signatures] fetch_*`: deadline, stall timeout, minimum rate) and `stop()` abandons a
check in flight. A check that could not reach the repository or was abandoned as stalled is
retried sooner, with exponential back-off from `retry_initial` up to the poll period.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from agent.backoff import Backoff
from agent.components import AgentContext, Health
from agent.environment import environment
from agent.store import utcnow
from agent.updates.active import ActiveSignatures, load_active
from agent.updates.errors import UpdateRejected
from agent.updates.fetch import limits_from_config
from agent.updates.install import (
    StoreRecorder,
    UpdateOutcome,
    check_for_update,
    read_state,
    trusted_root_bytes,
)
from agent.updates.installed import Layout

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 900.0
POLL_ENV = "PHIWALL_SIGNATURES_POLL_SECONDS"


TRANSIENT = frozenset({"unreachable", "stalled"})  # worth retrying soon; the rest wait for the next poll


def poll_seconds() -> float:
    configured = environment().signatures_poll_seconds
    return DEFAULT_POLL_SECONDS if configured is None else max(0.2, configured)


class SignatureUpdates:
    name = "signatures"

    def __init__(self, ctx: AgentContext, active: ActiveSignatures, *, interval: float | None = None) -> None:
        self._ctx = ctx
        self.active = active
        self._layout = Layout.for_data_dir(ctx.data_dir)
        self._repository = ctx.config.signatures.repository
        self._pinned = ctx.config.signatures.catalog is not None
        self._interval = interval if interval is not None else poll_seconds()
        self._recorder = StoreRecorder(ctx.store, ctx.agent_id, ctx.events)
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._last_rejection: tuple[str | None, str] | None = None
        self._check_started: float | None = None  # monotonic start of the check in flight
        self._transient_failures = 0
        self.last_outcome: UpdateOutcome | None = None
        self.config_error: str | None = None

    @property
    def catalog_version(self) -> str:
        return self.active.current().label[:64]

    def start(self) -> None:
        if self._repository and not self._pinned:
            self._thread = threading.Thread(target=self._loop, name="phiwall-signature-updates", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._wake.set()  # also cancels a download in flight (the fetcher watches this event)
        if self._thread is not None:
            self._thread.join(10.0)

    def check_now(self) -> UpdateOutcome | None:
        """One poll: fetch, verify, install, record, reload. Returns None when not configured."""
        if not self._repository:
            return None
        try:
            trusted_root = trusted_root_bytes(self._ctx.config)
        except UpdateRejected as exc:
            self.config_error = str(exc)
            log.error("signature updates disabled: %s", exc)
            return None
        self.config_error = None
        self._check_started = time.monotonic()
        try:
            outcome, _ = check_for_update(
                self._layout,
                self._repository,
                trusted_root,
                limits=limits_from_config(self._ctx.config.signatures),
                cancel=self._wake,
            )
        finally:
            self._check_started = None
        self.last_outcome = outcome
        self._transient_failures = (
            self._transient_failures + 1 if outcome.status == "rejected" and outcome.code in TRANSIENT else 0
        )
        if outcome.status == "installed":
            self._last_rejection = None
            self.active.reload_if_changed(force=True)
            log.info("%s", outcome.summary)
        elif outcome.status == "rejected":
            key = (outcome.code, outcome.reason)
            if key == self._last_rejection:
                return outcome
            self._last_rejection = key
            log.warning("%s", outcome.summary)
        else:
            self._last_rejection = None
            return outcome
        try:
            self._recorder.record(outcome)
        except Exception as exc:  # the store being down must not stop enforcement or polling
            log.error("could not record signature outcome: %s", exc)
        return outcome

    def next_wait(self) -> float:
        """Seconds until the next check: the poll period, or less after a transient failure."""
        if not self._transient_failures:
            return self._interval
        initial = float(self._ctx.config.signatures.retry_initial)
        return Backoff(first=initial, cap=self._interval, jitter=(0.8, 1.0)).delay(self._transient_failures)

    def _loop(self) -> None:
        while not self._ctx.stopping.is_set() and not self._wake.is_set():
            try:
                self.check_now()
            except Exception:  # never let one bad poll end the update thread
                log.exception("signature update check crashed")
            wait = self.next_wait()
            if self._transient_failures:
                log.info("signature update check retried in %.0f s", wait)
            if self._wake.wait(wait) or self._ctx.stopping.is_set():
                return

    def health(self) -> Health:
        current = self.active.current()
        if self.active.last_error:
            return Health(
                "degraded", f"installed bundle unusable ({self.active.last_error}); enforcing {current.label}"
            )
        if self.config_error:
            return Health("degraded", f"updates disabled: {self.config_error}; enforcing {current.label}")
        if not self._repository or self._pinned:
            why = "catalog pinned by config" if self._pinned else "no repository configured"
            return Health("ok", f"{current.label}; {why}")
        state = read_state(self._layout)
        started = self._check_started
        if started is not None and time.monotonic() - started > 30:
            running = int(time.monotonic() - started)
            return Health("degraded", f"update check running for {running} s; enforcing {current.label}")
        if state.last_code:
            return Health(
                "degraded", f"{rejection_summary(state.last_code, state.last_error)}; enforcing {current.label}"
            )
        now = utcnow()
        if state.fresh_until is not None and state.fresh_until < now:
            stale = int((now - state.fresh_until) / timedelta(minutes=1))
            return Health("degraded", f"{current.label}: repository not confirmed current for {stale} min")
        if state.last_check is None:
            return Health("ok", f"{current.label}; first check pending")
        return Health("ok", f"{current.label}; checked {int((now - state.last_check).total_seconds())} s ago")


def rejection_summary(code: str, error: str | None) -> str:
    """One line per failure kind, for health and status."""
    lead = {
        "stalled": "last update check abandoned (download stalled or too slow; retrying)",
        "unreachable": "last update check could not reach the repository (retrying)",
        "model": "last update refused: a model in the signed bundle is broken",
        "schema": "last update refused: the signed bundle's catalog or policy is invalid",
    }.get(code, "last update rejected")
    return f"{lead} ({error})"


def build(ctx: AgentContext) -> SignatureUpdates:
    """Always built: even without a repository it reports the catalog version in force."""
    return SignatureUpdates(ctx, load_active(ctx.data_dir, ctx.config))
