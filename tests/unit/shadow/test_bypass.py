"""Bypass detection with real sockets on loopback and real client processes."""

from __future__ import annotations

import json
import os
import threading
import time

from sqlmodel import select

from agent.shadow.bypass import AddressBook, AIHost, BypassMonitor, catalog_ai_hosts, scan, system_resolver
from agent.store import Event, EventWriter, Store
from tests.unit.shadow.support import (
    children,
    listener,
    loopback_address,
    loopback_catalog,
    proxy_like,
    tcp_client,
    udp_client,
)


def _book(address: str) -> AddressBook:
    book = AddressBook(timeout_s=2.0)
    book.refresh(catalog_ai_hosts(loopback_catalog(address)))
    return book


def test_catalog_addresses_resolve_through_the_system_resolver() -> None:
    address = loopback_address()
    book = _book(address)
    try:
        target = book.lookup(address)
        assert target == AIHost(address, "loopback-llm", "inference")
        assert book.lookup("::ffff:" + address) == target  # IPv4-mapped spelling
        assert book.lookup("127.0.0.1") is None
        assert system_resolver("no-such-host.invalid") == []
    finally:
        book.close()


def test_direct_tcp_connection_to_an_ai_host_is_found_with_its_process() -> None:
    address = loopback_address()
    server = listener(address)
    book = _book(address)
    try:
        with children() as started:
            client = tcp_client(address, server.getsockname()[1])
            started.append(client)
            report = scan(book)
    finally:
        server.close()
        book.close()
    mine = [f for f in report.findings if f.pid == client.pid]
    assert len(mine) == 1
    finding = mine[0]
    assert finding.transport == "direct"
    assert finding.host == address
    assert finding.service_id == "loopback-llm"
    assert finding.process_name
    assert finding.process_name.startswith("python")
    assert finding.exe
    assert "python" in finding.exe
    # The accepting side lives in this process, which is always excluded.
    assert not any(f.pid == os.getpid() for f in report.findings)
    assert report.connections_seen > 0


def test_quic_to_an_ai_host_is_its_own_finding() -> None:
    address = loopback_address()
    book = _book(address)
    try:
        with children() as started:
            quic = udp_client(address, 443)
            other_udp = udp_client(address, 53)  # UDP to another port: not QUIC, not reported
            started.extend([quic, other_udp])
            report = scan(book)
    finally:
        book.close()
    kinds = {(f.pid, f.transport, f.remote_port) for f in report.findings if f.host == address}
    assert (quic.pid, "quic", 443) in kinds
    assert all(pid != other_udp.pid for pid, _, _ in kinds)


def test_the_proxy_process_is_not_a_bypass() -> None:
    """Whatever listens on the proxy port is the proxy: its upstream connections are the inspected ones."""
    address = loopback_address()
    server = listener(address)
    book = _book(address)
    try:
        with children() as started:
            proxy = proxy_like(address, server.getsockname()[1])
            started.append(proxy)
            assert any(f.pid == proxy.pid for f in scan(book).findings)
            assert not any(f.pid == proxy.pid for f in scan(book, proxy_port=int(proxy.first_line)).findings)
            assert not any(f.pid == proxy.pid for f in scan(book, exclude_pids=[proxy.pid]).findings)
    finally:
        server.close()
        book.close()


def test_slow_resolver_never_holds_the_sweep_up() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow(host: str) -> list[str]:
        calls.append(host)
        release.wait(10)
        return ["127.9.9.9"]

    book = AddressBook(resolver=slow, timeout_s=0.1)
    hosts = {"slow.ai.example": AIHost("slow.ai.example", "slow", "chat")}
    try:
        started = time.monotonic()
        book.refresh(hosts)
        assert time.monotonic() - started < 2.0
        assert book.lookup("127.9.9.9") is None
        book.refresh(hosts)  # still pending: not submitted twice
        assert calls == ["slow.ai.example"]
        release.set()
        deadline = time.monotonic() + 5
        while book.lookup("127.9.9.9") is None and time.monotonic() < deadline:
            book.refresh(hosts)
            time.sleep(0.02)
        assert book.lookup("127.9.9.9") == hosts["slow.ai.example"]
    finally:
        book.close()


def test_failing_resolver_leaves_the_host_unresolved() -> None:
    def broken(host: str) -> list[str]:
        raise OSError("resolver exploded")

    book = AddressBook(resolver=broken, timeout_s=1.0)
    try:
        book.refresh({"x.ai.example": AIHost("x.ai.example", "x", "chat")})
        assert book.failed == {"x.ai.example"}
        assert book.size == 0
    finally:
        book.close()


def test_socket_table_errors_give_an_honest_partial_report() -> None:
    def denied() -> list[object]:
        import psutil

        raise psutil.AccessDenied()

    book = AddressBook(resolver=lambda host: [], timeout_s=0.1)
    try:
        report = scan(book, connections=denied)
    finally:
        book.close()
    assert not report.complete
    assert report.findings == []
    assert "privileges" in report.errors[0]


def test_events_once_per_process_and_host_per_cooldown(store: Store) -> None:
    address = loopback_address()
    server = listener(address)
    book = _book(address)
    writer = EventWriter(store)
    writer.start()
    monitor = BypassMonitor(agent_id="ws-1", events=writer, cooldown_s=3600)
    try:
        with children() as started:
            client = tcp_client(address, server.getsockname()[1])
            quic = udp_client(address, 443)
            started.extend([client, quic])
            findings = [f for f in scan(book).findings if f.pid in (client.pid, quic.pid)]
            assert monitor.report(findings) == 2
            assert monitor.report([f for f in scan(book).findings if f.pid in (client.pid, quic.pid)]) == 0
    finally:
        server.close()
        book.close()
    writer.flush()
    writer.stop()
    with store.session() as session:
        events = session.exec(select(Event).where(Event.kind == "bypass")).all()
    assert len(events) == 2
    by_transport = {json.loads(e.details)["transport"]: e for e in events}
    assert set(by_transport) == {"tcp", "udp/quic"}
    assert by_transport["tcp"].pid == client.pid
    assert by_transport["tcp"].host == address
    assert by_transport["tcp"].verdict == "audit"
    assert "directly, not through the PhiWall proxy" in by_transport["tcp"].reason
    assert "QUIC" in by_transport["udp/quic"].reason
    assert by_transport["udp/quic"].service_id == "loopback-llm"


def test_dedup_table_is_bounded() -> None:
    monitor = BypassMonitor(agent_id="ws-1", events=None, max_remembered=10)
    from agent.shadow.bypass import BypassFinding

    for i in range(100):
        finding = BypassFinding("direct", f"h{i}.example", "s", "chat", 443, i, f"p{i}", None, None)
        assert monitor.due(finding)
    assert len(monitor._seen) == 10
