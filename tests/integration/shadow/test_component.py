"""The shadow component as `phiwall run` runs it: periodic sweeps against real processes and sockets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from agent.components import AgentContext
from agent.config import AgentSection, Config
from agent.policy.catalog import LocalApp
from agent.policy.org import OrgPolicy
from agent.runtime import COMPONENT_FACTORIES
from agent.shadow.component import ShadowComponent, build
from agent.store import Event, EventWriter, LocalAIApp, Store
from agent.updates.active import ActiveSignatures, SignatureSet
from tests.unit.shadow.support import (
    children,
    listener,
    loopback_address,
    loopback_catalog,
    proxy_like,
    server_with_process_name,
    tcp_client,
    udp_client,
)


@pytest.fixture
def context(tmp_path: Path, store: Store) -> Iterator[AgentContext]:
    writer = EventWriter(store)
    writer.start()
    config = Config(agent=AgentSection(id="ws-shadow", data_dir=tmp_path / "data"))
    ctx = AgentContext(
        config=config,
        store=store,
        agent_id="ws-shadow",
        data_dir=tmp_path / "data",
        listen="127.0.0.1:0",
        events=writer,
        stopping=threading.Event(),
    )
    yield ctx
    writer.stop()


def _signatures(address: str, port: int) -> ActiveSignatures:
    apps = (LocalApp(id="ollama", name="Ollama", process_names=("ollama",), ports=(port,)),)
    catalog = loopback_catalog(address, apps)
    return ActiveSignatures(SignatureSet(version=catalog.version, catalog=catalog, policy=OrgPolicy(), models={}))


def _events(store: Store, kind: str) -> list[Event]:
    with store.session() as session:
        return list(session.exec(select(Event).where(Event.kind == kind)).all())


def test_registered_in_the_runtime(context: AgentContext) -> None:
    assert "agent.shadow.component:build" in COMPONENT_FACTORIES
    component = build(context)
    assert isinstance(component, ShadowComponent)
    assert component.name == "shadow"


def test_periodic_sweeps_find_local_apps_and_bypasses(context: AgentContext, tmp_path: Path) -> None:
    address = loopback_address()
    server = listener(address)
    try:
        with children() as started:
            app = server_with_process_name("ollama", "127.0.0.1", tmp_path)
            direct = tcp_client(address, server.getsockname()[1])
            quic = udp_client(address, 443)
            proxy = proxy_like(address, server.getsockname()[1])
            started.extend([app, direct, quic, proxy])
            context.listen = f"127.0.0.1:{proxy.first_line}"  # that child plays the proxy
            component = ShadowComponent(
                context,
                signatures=_signatures(address, int(app.first_line)),
                first_delay_s=0.0,
                bypass_interval_s=0.2,
                inventory_interval_s=0.3,
            )
            component.start()
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and (component.inventory.runs < 2 or component.bypass.runs < 3):
                    time.sleep(0.05)
            finally:
                component.stop()
    finally:
        server.close()
    context.events.flush()
    assert component.inventory.runs >= 2
    assert component.bypass.runs >= 3
    health = component.health()
    assert health.status == "ok"
    assert "local AI apps" in health.message

    with context.store.session() as session:
        apps = session.exec(select(LocalAIApp)).all()
    assert [(a.signature_id, json.loads(a.ports)) for a in apps] == [("ollama", [int(app.first_line)])]

    discovery = [e for e in _events(context.store, "discovery") if e.pid == app.pid]
    assert len(discovery) == 1  # several sweeps, one event

    bypass = _events(context.store, "bypass")
    reported = {(e.pid, json.loads(e.details)["transport"]) for e in bypass}
    assert (direct.pid, "tcp") in reported
    assert (quic.pid, "udp/quic") in reported
    assert all(pid != proxy.pid for pid, _ in reported)  # the proxy's own connections are not bypasses
    assert len([e for e in bypass if e.pid == direct.pid]) == 1  # deduplicated across sweeps
    assert all(e.agent_id == "ws-shadow" and e.catalog_version == "2026.1.1" for e in bypass)


def test_a_failing_sweep_degrades_health_and_keeps_running(context: AgentContext) -> None:
    class Broken:
        def reload_if_changed(self) -> bool:
            return False

        def current(self) -> SignatureSet:
            raise RuntimeError("signatures unavailable")

    component = ShadowComponent(context, signatures=Broken())
    assert component.run_inventory() == 0
    assert component.run_bypass() == 0
    health = component.health()
    assert health.status == "degraded"
    assert "signatures unavailable" in health.message
    component.stop()
