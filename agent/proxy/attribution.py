"""Which local process (and user) opened a proxied connection: psutil, off the loop, cached.

The proxy only sees a client address like 127.0.0.1:53122. The process behind it is found by
matching that source port in the kernel's socket table (`psutil.net_connections`), which
walks /proc and costs milliseconds, so it is done lazily (only for flows that become events),
in one background thread, at most once per client connection. Processes of other users are
not readable without privileges: then the user still comes from the socket's owner uid
(/proc/net/tcp on Linux) and pid/name/exe stay empty.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientRef:
    """Enough of a client connection to attribute it later."""

    connection_id: str
    client_port: int | None
    proxy_port: int | None


@dataclass(frozen=True)
class ProcessInfo:
    pid: int | None = None
    name: str | None = None
    exe: str | None = None
    user: str | None = None


UNKNOWN = ProcessInfo()


def _user_of_uid(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _socket_owner_uid(client_port: int, proxy_port: int) -> int | None:
    """Owner uid of the TCP socket 127.0.0.1:client_port -> proxy_port (Linux /proc/net/tcp*)."""
    if not sys.platform.startswith("linux"):
        return None
    wanted_local, wanted_remote = f"{client_port:04X}", f"{proxy_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) < 8:
                        continue
                    local_port = fields[1].rsplit(":", 1)[-1]
                    remote_port = fields[2].rsplit(":", 1)[-1]
                    if local_port == wanted_local and remote_port == wanted_remote:
                        return int(fields[7])
        except OSError:
            continue
    return None


def lookup_process(client_port: int, proxy_port: int) -> ProcessInfo:
    """The process owning the client end of a loopback connection to the proxy (blocking)."""
    pid: int | None = None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if not conn.laddr or not conn.raddr:
                continue
            if conn.laddr.port == client_port and conn.raddr.port == proxy_port:
                pid = conn.pid
                break
    except (psutil.AccessDenied, OSError) as exc:
        log.debug("net_connections not permitted: %s", exc)
    if pid is None or pid == os.getpid():
        uid = _socket_owner_uid(client_port, proxy_port)
        return ProcessInfo(user=_user_of_uid(uid)) if uid is not None else UNKNOWN
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            name = process.name()
            try:
                exe: str | None = process.exe() or None
            except (psutil.AccessDenied, psutil.ZombieProcess):
                exe = None
            try:
                user: str | None = process.username()
            except (psutil.AccessDenied, KeyError):
                user = None
        return ProcessInfo(pid=pid, name=name, exe=exe, user=user)
    except psutil.NoSuchProcess:
        return ProcessInfo(pid=pid)
    except psutil.AccessDenied:
        uid = _socket_owner_uid(client_port, proxy_port)
        return ProcessInfo(pid=pid, user=_user_of_uid(uid) if uid is not None else None)


class ProcessAttribution:
    """Cached, asynchronous `lookup_process`, keyed by mitmproxy client connection id."""

    def __init__(self, *, max_entries: int = 4096) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phiwall-attribution")
        self._cache: OrderedDict[str, asyncio.Future[ProcessInfo]] = OrderedDict()
        self._max_entries = max_entries
        self._prefetching: set[asyncio.Task[ProcessInfo]] = set()
        self.lookups = 0

    async def lookup(self, connection_id: str, client_port: int | None, proxy_port: int | None) -> ProcessInfo:
        if client_port is None or proxy_port is None:
            return UNKNOWN
        cached = self._cache.get(connection_id)
        if cached is None:
            self.lookups += 1
            loop = asyncio.get_running_loop()
            cached = asyncio.ensure_future(loop.run_in_executor(self._pool, lookup_process, client_port, proxy_port))
            self._cache[connection_id] = cached
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(connection_id)
        try:
            return await asyncio.shield(cached)
        except Exception as exc:  # attribution is best effort: an event without a pid beats no event
            log.warning("process lookup failed: %s", exc)
            return UNKNOWN

    def prefetch(self, client: ClientRef) -> None:
        """Start a lookup now (the client may be gone by the time the event is written)."""
        if client.connection_id not in self._cache:
            task = asyncio.get_running_loop().create_task(
                self.lookup(client.connection_id, client.client_port, client.proxy_port)
            )
            self._prefetching.add(task)
            task.add_done_callback(self._prefetching.discard)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
