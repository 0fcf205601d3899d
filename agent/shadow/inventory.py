"""Local AI apps: which model servers and AI desktop apps are running on this workstation.

One sweep walks the process table once (psutil `process_iter` with the attributes it needs)
and the socket table once (`net_connections`), and matches processes against the `local_apps`
signatures of the catalog: process names, the name a program gave itself in argv[0],
executable paths and command-line patterns. Listening ports are attached to what matched.

What a sweep never does: store a command line (it can name patient files), follow a process
that vanished mid-lookup, or fail because of permissions. Without root, other users'
processes hide their executable, command line and sockets; the report says how much was
hidden (`access_denied`, `listeners_complete`) rather than pretending it saw everything. A
listener on a signature's port whose owner cannot be seen is reported as "possible" rather
than guessed.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psutil
from sqlmodel import select

from agent.store.engine import Store
from agent.store.events import EventWriter, make_event
from agent.store.models import LocalAIApp
from agent.store.types import utcnow

log = logging.getLogger(__name__)

MAX_PROCESSES = 20_000
MAX_CMDLINE_CHARS = 4096
MAX_FINDINGS = 512
UNATTRIBUTED = "<process not visible>"


class _LocalAppLike(Protocol):
    """The catalog's `LocalApp` (agent.policy.catalog), as far as the inventory needs it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def process_names(self) -> tuple[str, ...]: ...
    @property
    def exe_globs(self) -> tuple[str, ...]: ...
    @property
    def cmdline_globs(self) -> tuple[str, ...]: ...
    @property
    def ports(self) -> tuple[int, ...]: ...


class _ServiceLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def category(self) -> str: ...


class _CatalogLike(Protocol):
    def local_apps(self) -> Iterator[tuple[Any, Any]]: ...


@dataclass(frozen=True)
class AppSignature:
    """One local-app signature, normalised for matching (lower-case names and globs)."""

    id: str
    name: str
    service_id: str
    category: str
    process_names: frozenset[str]
    exe_globs: tuple[str, ...]
    cmdline_globs: tuple[str, ...]
    ports: frozenset[int]

    @classmethod
    def from_catalog(cls, service: _ServiceLike, app: _LocalAppLike) -> AppSignature:
        return cls(
            id=app.id,
            name=app.name,
            service_id=service.id,
            category=service.category,
            process_names=frozenset(_strip_exe(name.lower()) for name in app.process_names),
            exe_globs=tuple(glob.lower() for glob in app.exe_globs),
            cmdline_globs=tuple(glob.lower() for glob in app.cmdline_globs),
            ports=frozenset(app.ports),
        )


def signatures_from_catalog(catalog: _CatalogLike) -> list[AppSignature]:
    return [AppSignature.from_catalog(service, app) for service, app in catalog.local_apps()]


@dataclass(frozen=True)
class LocalAppFinding:
    """A running local AI app: what matched, never the command line itself."""

    signature_id: str
    service_id: str
    category: str
    name: str
    pid: int | None
    process_name: str | None
    exe: str
    user: str | None
    ports: tuple[int, ...]
    matched_by: tuple[str, ...]  # "process_name" | "argv0" | "exe" | "cmdline" | "port"

    @property
    def attributed(self) -> bool:
        return self.pid is not None


@dataclass
class InventoryReport:
    findings: list[LocalAppFinding] = field(default_factory=list)
    processes_seen: int = 0
    access_denied: int = 0  # processes whose exe or command line we could not read
    vanished: int = 0  # processes that exited while we looked at them
    listeners_complete: bool = True  # False: some listening sockets had no visible owner
    truncated: bool = False
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.access_denied or not self.listeners_complete or self.truncated or self.errors)


def _strip_exe(name: str) -> str:
    return name[:-4] if name.endswith(".exe") else name


def _basename(path: str) -> str:
    return _strip_exe(os.path.basename(path.replace("\\", "/")).lower())


@dataclass
class _Listeners:
    by_pid: dict[int, set[int]] = field(default_factory=dict)
    unowned: set[int] = field(default_factory=set)
    complete: bool = True
    error: str | None = None


def listening_ports() -> _Listeners:
    """TCP ports in LISTEN state by owning pid, from one system-wide socket scan.

    On Linux without root, sockets of other users' processes come back without a pid: they
    are kept as `unowned`. Where the scan itself is refused (macOS without root), the result
    is marked incomplete and the caller falls back to per-process lookups.
    """
    result = _Listeners()
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        result.complete = False
        result.error = "listing sockets needs more privileges"
        return result
    except (OSError, psutil.Error) as exc:
        result.complete = False
        result.error = f"socket scan failed: {exc}"
        return result
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        port = int(conn.laddr[1])
        if conn.pid is None:
            result.unowned.add(port)
            result.complete = False
        else:
            result.by_pid.setdefault(conn.pid, set()).add(port)
    return result


def _process_ports(proc: psutil.Process) -> set[int] | None:
    """Listening TCP ports of one process; None when they may not be read (or it exited)."""
    try:
        return {
            int(c.laddr[1]) for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr
        }
    except (psutil.Error, OSError):
        return None


def _match(signature: AppSignature, name: str, argv0: str, exe: str, cmdline: str) -> tuple[str, ...]:
    how: list[str] = []
    if name and _strip_exe(name) in signature.process_names:
        how.append("process_name")
    if argv0 and argv0 in signature.process_names and argv0 != _strip_exe(name):
        how.append("argv0")
    if exe and any(fnmatch.fnmatchcase(exe, glob) for glob in signature.exe_globs):
        how.append("exe")
    if cmdline and any(fnmatch.fnmatchcase(cmdline, glob) for glob in signature.cmdline_globs):
        how.append("cmdline")
    return tuple(how)


def sweep(
    signatures: Iterable[AppSignature],
    *,
    max_processes: int = MAX_PROCESSES,
    exclude_pids: frozenset[int] = frozenset(),
) -> InventoryReport:
    """One inventory pass. Never raises for process or permission trouble; bounded in work.

    Sockets are looked up only for processes that matched (cheap, per process). The costly
    system-wide socket scan runs only when some processes hid themselves from us, to report
    listeners on signature ports whose owner we cannot see.
    """
    started = time.perf_counter()
    report = InventoryReport()
    sigs = list(signatures)
    if not sigs:
        report.duration_s = time.perf_counter() - started
        return report
    attributed_ports: set[int] = set()
    attrs = ["pid", "name", "exe", "cmdline", "username"]
    try:
        for proc in psutil.process_iter(attrs, ad_value=None):
            if report.processes_seen >= max_processes:
                report.truncated = True
                break
            report.processes_seen += 1
            info = proc.info
            pid = info.get("pid")
            if pid in exclude_pids:
                continue
            name = (info.get("name") or "").lower()
            exe_raw = info.get("exe") or ""
            cmd = info.get("cmdline")
            if info.get("exe") is None or cmd is None:
                report.access_denied += 1
            argv = cmd or []
            argv0 = _basename(argv[0]) if argv else ""
            cmdline = " ".join(argv)[:MAX_CMDLINE_CHARS].lower()
            for signature in sigs:
                how = _match(signature, name, argv0, exe_raw.lower(), cmdline)
                if not how:
                    continue
                ports = _process_ports(proc)
                if ports is None:
                    report.listeners_complete = False
                    ports = set()
                if ports & signature.ports:
                    how += ("port",)
                attributed_ports.update(ports)
                if len(report.findings) < MAX_FINDINGS:
                    report.findings.append(
                        LocalAppFinding(
                            signature_id=signature.id,
                            service_id=signature.service_id,
                            category=signature.category,
                            name=signature.name,
                            pid=pid,
                            process_name=info.get("name"),
                            exe=exe_raw,
                            user=info.get("username"),
                            ports=tuple(sorted(ports)),
                            matched_by=how,
                        )
                    )
                break
    except psutil.Error as exc:  # the iterator itself failed: report what we have
        report.errors.append(f"process scan stopped: {exc}")
    if report.access_denied and any(signature.ports for signature in sigs):
        listeners = listening_ports()
        if listeners.error:
            report.errors.append(listeners.error)
        report.listeners_complete = report.listeners_complete and listeners.complete
        report.findings.extend(_unattributed(sigs, listeners.unowned - attributed_ports))
    report.duration_s = time.perf_counter() - started
    return report


def _unattributed(signatures: list[AppSignature], ports: set[int]) -> Iterator[LocalAppFinding]:
    """Listeners on a signature's port whose owner we may not see: reported as possible, not certain."""
    for port in sorted(ports):
        for signature in signatures:
            if port in signature.ports:
                yield LocalAppFinding(
                    signature_id=signature.id,
                    service_id=signature.service_id,
                    category=signature.category,
                    name=f"possible {signature.name}",
                    pid=None,
                    process_name=None,
                    exe=UNATTRIBUTED,
                    user=None,
                    ports=(port,),
                    matched_by=("port",),
                )
                break


# --- recording ---------------------------------------------------------------------------------


def record_inventory(
    store: Store,
    findings: Iterable[LocalAppFinding],
    *,
    agent_id: str,
    events: EventWriter | None = None,
    now: datetime | None = None,
    catalog_version: str | None = None,
) -> int:
    """Upsert one `local_ai_app` row per (signature, executable); returns how many are new.

    A new row also gets a discovery event (kind "discovery", verdict "info"), so analysts
    see the first time a local model server appears; later sweeps only move `last_seen`.
    """
    when = now or utcnow()
    merged: dict[tuple[str, str], LocalAppFinding] = {}
    ports: dict[tuple[str, str], set[int]] = {}
    users: dict[tuple[str, str], str | None] = {}
    for finding in findings:
        key = (finding.signature_id, finding.exe[:4096])
        merged.setdefault(key, finding)
        ports.setdefault(key, set()).update(finding.ports)
        users[key] = users.get(key) or finding.user
    if not merged:
        return 0
    new: list[LocalAppFinding] = []
    with store.session() as session:
        rows = session.exec(select(LocalAIApp).where(LocalAIApp.agent_id == agent_id)).all()
        existing = {(row.signature_id, row.exe): row for row in rows}
        for key, finding in merged.items():
            row = existing.get(key)
            if row is None:
                row = LocalAIApp(
                    agent_id=agent_id,
                    signature_id=finding.signature_id,
                    name=finding.name[:255],
                    exe=key[1],
                    first_seen=when,
                )
                new.append(finding)
            row.last_seen = when
            user = users[key] or row.user
            row.user = user[:128] if user else None
            row.ports = json.dumps(sorted(ports[key]))
            session.add(row)
        session.commit()
    if events is not None:
        for finding in new:
            events.submit(
                make_event(
                    kind="discovery",
                    verdict="info",
                    agent_id=agent_id,
                    time=when,
                    user=finding.user,
                    pid=finding.pid,
                    process_name=finding.process_name,
                    process_exe=finding.exe if finding.attributed else None,
                    service_id=finding.service_id,
                    service_category=finding.category,
                    reason=f"local AI app running: {finding.name}",
                    catalog_version=catalog_version,
                    details={
                        "signature": finding.signature_id,
                        "ports": list(finding.ports),
                        "matched_by": list(finding.matched_by),
                        "attributed": finding.attributed,
                    },
                )
            )
    return len(new)
