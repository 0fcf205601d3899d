"""Bypass detection: AI traffic that does not pass through the PhiWall proxy.

A process that talks to a catalog AI host directly (its own proxy settings, a hard-coded
address, a VPN split tunnel) or over QUIC (HTTP/3 is UDP: an HTTP proxy never sees it) is
invisible to inspection. The sweep compares the socket table with the resolved addresses of
the catalog's AI hosts and reports each (process, host, transport) once per cool-down as a
`bypass` event. Clients that refuse the proxy's certificate are the proxy's to report: it
records them as `pinned` events at the failed handshake.

Costs are bounded: host names are resolved in a small thread pool with an overall timeout
and cached for a TTL (a stuck resolver delays nothing, its names stay unresolved until it
answers); at most `MAX_CONNECTIONS` sockets are examined per sweep; the dedup table is an
LRU of fixed size. Permission limits (sockets of other users without root) make the result
partial, and the report says so.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import psutil

from agent.store.events import EventWriter, make_event
from agent.store.types import utcnow

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 50_000
MAX_HOSTS = 2048
Transport = Literal["direct", "quic"]
Resolver = Callable[[str], list[str]]


class _ServiceLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def hosts(self) -> tuple[str, ...]: ...


class _CatalogLike(Protocol):
    @property
    def services(self) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class AIHost:
    host: str
    service_id: str
    category: str


def catalog_ai_hosts(catalog: _CatalogLike) -> dict[str, AIHost]:
    """Exact host names of catalog services (wildcard patterns cannot be resolved)."""
    hosts: dict[str, AIHost] = {}
    for service in catalog.services:
        for pattern in service.hosts:
            if "*" in pattern:
                continue
            hosts.setdefault(pattern.lower(), AIHost(pattern.lower(), service.id, service.category))
            if len(hosts) >= MAX_HOSTS:
                return hosts
    return hosts


def system_resolver(host: str) -> list[str]:
    """Addresses of `host` (IPv4 and IPv6), via the system resolver; [] when it has none."""
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


class _DaemonPool:
    """A few daemon threads running lookups: a resolver stuck in a DNS timeout never delays exit."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[str], list[str]], str, Future[list[str]]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"phiwall-dns-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[str], list[str]], name: str) -> Future[list[str]]:
        future: Future[list[str]] = Future()
        self._jobs.put((fn, name, future))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, name, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(name))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class AddressBook:
    """Resolved addresses of AI hosts: refreshed in the background, bounded, never blocking long."""

    def __init__(
        self,
        *,
        resolver: Resolver = system_resolver,
        ttl_s: float = 600.0,
        timeout_s: float = 3.0,
        workers: int = 4,
    ) -> None:
        self._resolver = resolver
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._pool = _DaemonPool(workers)
        self._pending: dict[str, Future[list[str]]] = {}
        self._resolved: dict[str, tuple[float, list[str]]] = {}
        self._by_address: dict[str, AIHost] = {}
        self._lock = threading.Lock()
        self.failed: set[str] = set()

    def refresh(self, hosts: Mapping[str, AIHost]) -> None:
        """Resolve names that are new or stale; wait at most `timeout_s` in total."""
        now = time.monotonic()
        for name in hosts:
            if name in self._pending:
                continue
            cached = self._resolved.get(name)
            if cached is None or now - cached[0] > self._ttl:
                self._pending[name] = self._pool.submit(self._resolver, name)
        if self._pending:
            futures_wait(list(self._pending.values()), timeout=self._timeout)
        for name, future in list(self._pending.items()):
            if not future.done():
                continue  # still resolving: picked up by a later refresh
            del self._pending[name]
            try:
                addresses = future.result()
            except Exception:
                addresses = []
            if addresses:
                self.failed.discard(name)
                self._resolved[name] = (time.monotonic(), addresses)
            else:
                self.failed.add(name)
                if name not in self._resolved:
                    self._resolved[name] = (time.monotonic(), [])
        by_address: dict[str, AIHost] = {}
        for name, (_, addresses) in self._resolved.items():
            if name not in hosts:
                continue
            for address in addresses:
                by_address.setdefault(_canonical(address), hosts[name])
        with self._lock:
            self._by_address = by_address

    def lookup(self, address: str) -> AIHost | None:
        return self._by_address.get(_canonical(address))

    @property
    def size(self) -> int:
        return len(self._by_address)

    def close(self) -> None:
        self._pool.shutdown()


def _canonical(address: str) -> str:
    """One spelling per address (IPv4-mapped IPv6 as IPv4, zone ids dropped)."""
    text = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@dataclass(frozen=True)
class BypassFinding:
    transport: Transport
    host: str
    service_id: str
    category: str
    remote_port: int
    pid: int | None
    process_name: str | None
    exe: str | None
    user: str | None
    connections: int = 1

    @property
    def process_key(self) -> str:
        return self.exe or self.process_name or (f"pid {self.pid}" if self.pid is not None else "?")


@dataclass
class BypassReport:
    findings: list[BypassFinding] = field(default_factory=list)
    connections_seen: int = 0
    unattributed: int = 0  # matching sockets whose process we may not see
    complete: bool = True
    truncated: bool = False
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass(frozen=True)
class _ProcessFacts:
    name: str | None
    exe: str | None
    user: str | None


def _process_facts(pid: int, cache: dict[int, _ProcessFacts | None]) -> _ProcessFacts | None:
    if pid in cache:
        return cache[pid]
    facts: _ProcessFacts | None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = _safe(proc.name)
            exe = _safe(proc.exe)
            user = _safe(proc.username)
        facts = _ProcessFacts(name, exe or None, user)
    except psutil.NoSuchProcess:
        facts = None  # gone between the socket scan and now
    except psutil.Error:
        facts = _ProcessFacts(None, None, None)
    cache[pid] = facts
    return facts


def _safe(getter: Callable[[], str]) -> str | None:
    try:
        return getter()
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None


def proxy_pids(listen_port: int, connections: Iterable[Any]) -> set[int]:
    """Processes listening on the proxy's port: their upstream connections are not bypasses."""
    return {
        c.pid
        for c in connections
        if c.pid is not None and c.status == psutil.CONN_LISTEN and c.laddr and int(c.laddr[1]) == listen_port
    }


def scan(
    book: AddressBook,
    *,
    exclude_pids: Iterable[int] = (),
    proxy_port: int | None = None,
    connections: Callable[[], list[Any]] | None = None,
) -> BypassReport:
    """One pass over the socket table; never raises for permission or vanishing processes."""
    started = time.perf_counter()
    report = BypassReport()
    try:
        table = connections() if connections is not None else psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        report.complete = False
        report.errors.append("listing sockets needs more privileges: bypass detection is off")
        return report
    except (OSError, psutil.Error) as exc:
        report.complete = False
        report.errors.append(f"socket scan failed: {exc}")
        return report
    excluded = set(exclude_pids) | {os.getpid()}
    if proxy_port:
        excluded |= proxy_pids(proxy_port, table)
    facts_cache: dict[int, _ProcessFacts | None] = {}
    grouped: dict[tuple[Transport, str, int | None, int], BypassFinding] = {}
    for index, conn in enumerate(table):
        if index >= MAX_CONNECTIONS:
            report.truncated = True
            break
        report.connections_seen += 1
        transport = _transport(conn)
        if transport is None:
            continue
        target = book.lookup(str(conn.raddr[0]))
        if target is None or conn.pid in excluded:
            continue
        pid = conn.pid
        facts = _process_facts(pid, facts_cache) if pid is not None else _ProcessFacts(None, None, None)
        if facts is None:
            continue  # the process exited: nothing left to attribute or stop
        if pid is None:
            report.unattributed += 1
            report.complete = False
        key = (transport, target.host, pid, int(conn.raddr[1]))
        previous = grouped.get(key)
        grouped[key] = BypassFinding(
            transport=transport,
            host=target.host,
            service_id=target.service_id,
            category=target.category,
            remote_port=int(conn.raddr[1]),
            pid=pid,
            process_name=facts.name,
            exe=facts.exe,
            user=facts.user,
            connections=(previous.connections + 1) if previous else 1,
        )
    report.findings = list(grouped.values())
    report.duration_s = time.perf_counter() - started
    return report


def _transport(conn: Any) -> Transport | None:
    if not conn.raddr:
        return None
    if conn.type == socket.SOCK_STREAM and conn.status in (psutil.CONN_ESTABLISHED, psutil.CONN_SYN_SENT):
        return "direct"
    if conn.type == socket.SOCK_DGRAM and int(conn.raddr[1]) == 443:
        return "quic"
    return None


class BypassMonitor:
    """Turns findings into `bypass` events, once per (transport, process, host) per cool-down."""

    def __init__(
        self,
        *,
        agent_id: str,
        events: EventWriter | None,
        cooldown_s: float = 3600.0,
        max_remembered: int = 4096,
        catalog_version: Callable[[], str | None] | None = None,
    ) -> None:
        self._agent_id = agent_id
        self._events = events
        self._cooldown = cooldown_s
        self._max = max_remembered
        self._catalog_version = catalog_version
        self._seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self.reported = 0

    def due(self, finding: BypassFinding, now: float | None = None) -> bool:
        key = (finding.transport, finding.process_key, finding.host)
        moment = time.monotonic() if now is None else now
        last = self._seen.get(key)
        if last is not None and moment - last < self._cooldown:
            return False
        self._seen[key] = moment
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True

    def report(self, findings: Iterable[BypassFinding], *, when: datetime | None = None) -> int:
        """Submit an event for each finding that is due; returns how many."""
        submitted = 0
        for finding in findings:
            if not self.due(finding):
                continue
            if self._events is not None:
                self._events.submit(self._event(finding, when or utcnow()))
            submitted += 1
        self.reported += submitted
        return submitted

    def _event(self, finding: BypassFinding, when: datetime) -> Any:
        who = finding.process_name or "a process we may not see (needs root)"
        if finding.transport == "quic":
            reason = (
                f"{who} talks QUIC (HTTP/3, UDP 443) to {finding.host}: the proxy cannot see it; "
                "block UDP 443 to AI hosts or disable HTTP/3 in the browser policy"
            )
        else:
            reason = f"{who} connects to {finding.host} directly, not through the PhiWall proxy"
        return make_event(
            kind="bypass",
            verdict="audit",
            agent_id=self._agent_id,
            time=when,
            user=finding.user,
            pid=finding.pid,
            process_name=finding.process_name,
            process_exe=finding.exe,
            host=finding.host,
            service_id=finding.service_id,
            service_category=finding.category,
            reason=reason,
            catalog_version=self._catalog_version() if self._catalog_version else None,
            details={
                "transport": "udp/quic" if finding.transport == "quic" else "tcp",
                "remote_port": finding.remote_port,
                "connections": finding.connections,
                "attributed": finding.pid is not None,
            },
        )
