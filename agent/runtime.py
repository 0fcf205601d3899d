"""`phiwall run`: start the components, keep the agent row's heartbeat, stop cleanly.

The process model (docs/architecture.md): this supervisor process runs the folder watcher,
signature updates, shadow-AI inventory and fleet forwarding in threads, and the proxy as a
supervised child process. All of them write to the one store.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from agent import __version__
from agent.components import AgentContext, Component, Health
from agent.config import Config, ProxySection
from agent.errors import ListenError
from agent.identity import agent_id, host_facts
from agent.listen import ensure_can_listen
from agent.paths import ensure_writable_dir
from agent.permissions import tighten_private_paths
from agent.store import Agent, EventWriter, Store, open_store, redact, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
HEALTH_POLL_SECONDS = 2.0

# Component factories, in start order: "module:function" taking an AgentContext and
# returning a Component, or None when the capability is not configured on this machine.
COMPONENT_FACTORIES: list[str] = [
    "agent.watch.component:build",
    "agent.fleet.component:build",
    "agent.siem.component:build",
    "agent.updates.component:build",
    "agent.shadow.component:build",
    "agent.proxy.component:build",
    "agent.notify.hub:build",
]


def load_factories() -> list[Callable[[AgentContext], Component | None]]:
    factories = []
    for target in COMPONENT_FACTORIES:
        module_name, attribute = target.split(":")
        factories.append(getattr(importlib.import_module(module_name), attribute))
    return factories


def write_heartbeat(store: Store, ident: str, health: dict[str, Health], catalog_version: str | None) -> None:
    facts = host_facts()
    payload = json.dumps({name: {"status": h.status, "message": h.message} for name, h in health.items()})
    with store.session() as session:
        row = session.get(Agent, ident)
        if row is None:
            row = Agent(id=ident, hostname=facts["hostname"], os=facts["os"], version=__version__)
        row.last_heartbeat = utcnow()
        row.version = __version__
        row.health = payload
        if catalog_version:
            row.catalog_version = catalog_version
        session.add(row)
        session.commit()


class AgentRuntime:
    """The running agent: owns the store, the event writer and every component."""

    def __init__(self, config: Config, store_url: str, listen: str | None = None) -> None:
        self.config = config
        self.store_url = store_url
        self.listen = listen or config.proxy.listen
        self.components: list[Component] = []
        self._stop = threading.Event()
        self.context: AgentContext | None = None
        self._last_heartbeat = 0.0
        self._last_statuses: dict[str, str] = {}
        self._last_version: str | None = None

    def catalog_version(self) -> str | None:
        for component in self.components:
            version = getattr(component, "catalog_version", None)
            if isinstance(version, str):
                return version
        return None

    def health(self) -> dict[str, Health]:
        report: dict[str, Health] = {}
        for component in self.components:
            try:
                report[component.name] = component.health()
            except Exception as exc:  # a broken health probe must not stop heartbeats
                report[component.name] = Health("degraded", f"health check failed: {exc}")
        if self.context is not None:
            writer = self.context.events
            if writer.dropped or writer.last_error:
                report["events"] = Health("degraded", f"{writer.dropped} dropped, last error: {writer.last_error}")
            else:
                report["events"] = Health("ok", f"{writer.written} written")
        return report

    def start(self) -> AgentContext:
        data_dir = ensure_writable_dir(self.config.data_dir)
        store = open_store(self.store_url)
        tighten_private_paths(data_dir, self.store_url)  # an existing data dir or store may be looser
        ident = agent_id(self.config)
        events = EventWriter(store)
        events.start()
        self.context = AgentContext(
            config=self.config,
            store=store,
            agent_id=ident,
            data_dir=data_dir,
            listen=self.listen,
            events=events,
            stopping=self._stop,
        )
        log.info("agent %s starting (store %s, proxy %s)", ident, redact(self.store_url), self.listen)
        for factory in load_factories():
            component = factory(self.context)
            if component is None:
                continue
            component.start()
            self.components.append(component)
            log.info("started %s", component.name)
        self._heartbeat(force=True)
        return self.context

    def _heartbeat(self, *, force: bool) -> None:
        """Write the agent row every HEARTBEAT_SECONDS, and at once when a component's status changes."""
        assert self.context is not None
        health = self.health()
        statuses: dict[str, str] = {name: h.status for name, h in health.items()}
        version = self.catalog_version()
        due = time.monotonic() - self._last_heartbeat >= HEARTBEAT_SECONDS
        if not (force or due or statuses != self._last_statuses or version != self._last_version):
            return
        write_heartbeat(self.context.store, self.context.agent_id, health, version)
        self._last_heartbeat = time.monotonic()
        self._last_statuses = statuses
        self._last_version = version

    def run_forever(self) -> None:
        while not self._stop.wait(HEALTH_POLL_SECONDS):
            try:
                self._heartbeat(force=False)
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        for component in reversed(self.components):
            try:
                component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
        if self.context is not None:
            self.context.events.stop()
            self.context.store.dispose()


def run_agent(config: Config, store_url: str, listen: str | None = None) -> None:
    """Run until stopped. A proxy address in use is `ListenError` (exit 7) before anything starts."""
    section = ProxySection(listen=listen) if listen else config.proxy
    ensure_can_listen(section.listen_host, section.listen_port)
    runtime = AgentRuntime(config, store_url, listen)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        runtime.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runtime.start()
        runtime.run_forever()
    finally:
        runtime.stop()
        log.info("agent stopped")
    for component in runtime.components:
        fatal = getattr(component, "fatal_error", None)
        if fatal:
            raise ListenError(fatal, hint="stop the other program or choose another address with --listen")
