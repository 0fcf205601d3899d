"""The shadow-AI component of `phiwall run`: periodic local-app inventory and bypass sweeps.

Runs in the supervising agent process, in one thread: a bypass sweep every
`BYPASS_INTERVAL_S` (cheap: one socket-table scan against cached addresses) and a local-app
inventory every `INVENTORY_INTERVAL_S` (a process-table walk). Both read the signatures in
force (catalog `local_apps` and AI host names) and pick up a newly installed bundle.

The proxy's own process (a supervised child that listens on the proxy port) and this process
are never reported as bypassing: their connections to AI hosts are the inspected ones.
Request-level discovery of unknown AI services happens in the proxy (agent.shadow.hooks).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from agent.components import AgentContext, Health
from agent.shadow.bypass import AddressBook, BypassMonitor, catalog_ai_hosts, scan
from agent.shadow.inventory import record_inventory, signatures_from_catalog, sweep

log = logging.getLogger(__name__)

INVENTORY_INTERVAL_S = 300.0
BYPASS_INTERVAL_S = 30.0
FIRST_SWEEP_DELAY_S = 5.0


@dataclass
class SweepStatus:
    runs: int = 0
    last_duration_s: float = 0.0
    last_error: str | None = None
    partial: str | None = None  # why the last result may be incomplete (permissions)


def _listen_port(listen: str) -> int | None:
    _, _, port = listen.rpartition(":")
    return int(port) if port.isdigit() else None


class ShadowComponent:
    """Periodic sweeps; `run_inventory()` and `run_bypass()` are also callable directly."""

    name = "shadow"

    def __init__(
        self,
        ctx: AgentContext,
        *,
        signatures: Any = None,
        inventory_interval_s: float = INVENTORY_INTERVAL_S,
        bypass_interval_s: float = BYPASS_INTERVAL_S,
        first_delay_s: float = FIRST_SWEEP_DELAY_S,
        address_book: AddressBook | None = None,
    ) -> None:
        self.ctx = ctx
        self._signatures = signatures  # an ActiveSignatures; loaded lazily when None
        self._inventory_interval = inventory_interval_s
        self._bypass_interval = bypass_interval_s
        self._first_delay = first_delay_s
        self._book = address_book or AddressBook()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.monitor = BypassMonitor(agent_id=ctx.agent_id, events=ctx.events, catalog_version=self._catalog_version)
        self.inventory = SweepStatus()
        self.bypass = SweepStatus()
        self.local_apps_seen = 0

    # --- signatures --------------------------------------------------------------------------

    def _active(self) -> Any:
        if self._signatures is None:
            from agent.updates.active import load_active

            self._signatures = load_active(self.ctx.data_dir, self.ctx.config)
        return self._signatures

    def _current(self) -> Any:
        active = self._active()
        try:
            active.reload_if_changed()
        except Exception:  # a bad update keeps the previous set; ActiveSignatures logs why
            log.debug("signature reload check failed", exc_info=True)
        return active.current()

    def _catalog_version(self) -> str | None:
        if self._signatures is None:
            return None
        version = self._signatures.current().version
        return str(version) if version else None

    # --- sweeps --------------------------------------------------------------------------------

    def run_inventory(self) -> int:
        """One local-app sweep, recorded; returns how many apps were new."""
        started = time.perf_counter()
        try:
            catalog = self._current().catalog
            report = sweep(signatures_from_catalog(catalog))
            new = record_inventory(
                self.ctx.store,
                report.findings,
                agent_id=self.ctx.agent_id,
                events=self.ctx.events,
                catalog_version=self._catalog_version(),
            )
            self.local_apps_seen = len(report.findings)
            self.inventory.partial = _partial_inventory(report.access_denied, report.listeners_complete, report.errors)
            self.inventory.last_error = None
            return new
        except Exception as exc:
            self.inventory.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("local AI app inventory failed")
            return 0
        finally:
            self.inventory.runs += 1
            self.inventory.last_duration_s = time.perf_counter() - started

    def run_bypass(self) -> int:
        """One bypass sweep; returns how many events were submitted."""
        started = time.perf_counter()
        try:
            catalog = self._current().catalog
            self._book.refresh(catalog_ai_hosts(catalog))
            report = scan(self._book, exclude_pids=(os.getpid(),), proxy_port=_listen_port(self.ctx.listen))
            self.bypass.partial = "; ".join(report.errors) or (
                f"{report.unattributed} connections to AI hosts from processes we may not see"
                if report.unattributed
                else None
            )
            self.bypass.last_error = None
            return self.monitor.report(report.findings)
        except Exception as exc:
            self.bypass.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("bypass sweep failed")
            return 0
        finally:
            self.bypass.runs += 1
            self.bypass.last_duration_s = time.perf_counter() - started

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="phiwall-shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._book.close()

    def _run(self) -> None:
        next_bypass = next_inventory = time.monotonic() + self._first_delay
        while not self._stop.wait(max(0.0, min(next_bypass, next_inventory) - time.monotonic())):
            if self.ctx.stopping.is_set():
                return
            now = time.monotonic()
            if now >= next_bypass:
                self.run_bypass()
                next_bypass = time.monotonic() + self._bypass_interval
            if now >= next_inventory:
                self.run_inventory()
                next_inventory = time.monotonic() + self._inventory_interval

    def health(self) -> Health:
        errors = [s.last_error for s in (self.inventory, self.bypass) if s.last_error]
        if errors:
            return Health("degraded", "; ".join(errors))
        message = (
            f"{self.local_apps_seen} local AI apps, {self.monitor.reported} bypass reports, "
            f"{self._book.size} AI addresses watched"
        )
        partial = [s.partial for s in (self.inventory, self.bypass) if s.partial]
        if partial:
            return Health("ok", f"{message} (partial view: {'; '.join(partial)})")
        return Health("ok", message)


def _partial_inventory(denied: int, listeners_complete: bool, errors: list[str]) -> str | None:
    reasons = list(errors)
    if denied:
        reasons.append(f"{denied} processes hide their executable (needs root)")
    if not listeners_complete:
        reasons.append("some listening sockets have no visible owner")
    return "; ".join(reasons) or None


def build(ctx: AgentContext) -> ShadowComponent:
    return ShadowComponent(ctx)
