"""Which local process (and user) opened a proxied connection: off the loop, cached.

The proxy only sees a client address like 127.0.0.1:53122. The process behind it is found
through the kernel's socket table. `psutil.net_connections` does that by listing every socket
of every process (170 ms on a busy machine, longer than many requests live), so on Linux the
lookup goes straight for the one socket (/proc/net/tcp gives its inode and owner uid) and
then for the process holding that inode, trying recently seen client pids first; psutil
describes the process (name, exe, user). It runs in one background thread, lazily (for
flows that may become events, started at the request headers while the client is still
connected), at most once per client connection. Processes of other users are not readable
without privileges: then the user still comes from the socket's owner uid and pid/name/exe
stay empty.

Analysts also get the parent process (what launched the uploader: a browser under a
remote-desktop session, a script under cron) and the command line, kept as typed: like
enrolled paths it may name a patient file, and like them it stays in the private store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
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
    parent_pid: int | None = None
    parent_name: str | None = None
    cmdline: str | None = None


MAX_CMDLINE_CHARS = 2000


def _lineage(process: psutil.Process) -> tuple[int | None, str | None, str | None]:
    """(parent pid, parent name, command line) of a process; None for what is not readable."""
    try:
        args = process.cmdline()
        cmdline: str | None = shlex.join(args)[:MAX_CMDLINE_CHARS] if args else None
    except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
        cmdline = None
    try:
        parent_pid: int | None = process.ppid() or None
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        parent_pid = None
    parent_name = None
    if parent_pid is not None:
        try:
            parent_name = psutil.Process(parent_pid).name()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            parent_name = None
    return parent_pid, parent_name, cmdline


UNKNOWN = ProcessInfo()


def _user_of_uid(uid: int) -> str | None:
    import pwd  # POSIX only: the Linux lookup is the only caller

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _socket_entry(client_port: int, proxy_port: int) -> tuple[int, int] | None:
    """(owner uid, inode) of the TCP socket :client_port -> :proxy_port, from /proc/net/tcp*."""
    wanted_local, wanted_remote = f":{client_port:04X}", f":{proxy_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) < 10 or fields[9] == "0":
                        continue  # inode 0: TIME_WAIT remnant of a closed socket, owned by nobody
                    if fields[1].endswith(wanted_local) and fields[2].endswith(wanted_remote):
                        return int(fields[7]), int(fields[9])
        except OSError:
            continue
    return None


def _pid_holding(inode: int, uid: int, hints: list[int]) -> int | None:
    """The pid with an fd on socket `inode`: recently seen pids first, then that user's processes."""
    target = f"socket:[{inode}]"
    own = os.geteuid()
    try:
        everyone = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    seen = set()
    for pid in [*hints, *everyone]:
        if pid in seen:
            continue
        seen.add(pid)
        try:
            if own != 0 and os.stat(f"/proc/{pid}").st_uid != uid:
                continue  # not readable anyway
            fd_dir = f"/proc/{pid}/fd"
            for fd in os.listdir(fd_dir):
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


def _describe(pid: int, uid: int | None) -> ProcessInfo:
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
                user = _user_of_uid(uid) if uid is not None else None
            parent_pid, parent_name, cmdline = _lineage(process)
        return ProcessInfo(
            pid=pid, name=name, exe=exe, user=user, parent_pid=parent_pid, parent_name=parent_name, cmdline=cmdline
        )
    except psutil.NoSuchProcess:
        return ProcessInfo(pid=pid, user=_user_of_uid(uid) if uid is not None else None)
    except psutil.AccessDenied:
        return ProcessInfo(pid=pid, user=_user_of_uid(uid) if uid is not None else None)


def lookup_process(client_port: int, proxy_port: int, hints: list[int] | None = None) -> ProcessInfo:
    """The process owning the client end of a loopback connection to the proxy (blocking).

    Linux: the socket's inode and owner from /proc/net/tcp*, then the process holding that
    inode (recently seen clients first), which stops at the first hit and takes a few ms.
    Elsewhere: psutil.net_connections (a full scan).
    """
    if sys.platform.startswith("linux"):
        entry = _socket_entry(client_port, proxy_port)
        if entry is None:
            return UNKNOWN
        uid, inode = entry
        pid = _pid_holding(inode, uid, hints or [])
        return _describe(pid, uid) if pid is not None else ProcessInfo(user=_user_of_uid(uid))
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.raddr and conn.laddr.port == client_port and conn.raddr.port == proxy_port:
                # pid 0 is the idle process, never a client: it is what Windows reports when
                # the connection's owner cannot be told (e.g. a client on another machine).
                return _describe(conn.pid, None) if conn.pid else UNKNOWN
    except (psutil.AccessDenied, OSError) as exc:
        log.debug("net_connections not permitted: %s", exc)
    return UNKNOWN


class ProcessAttribution:
    """Cached, asynchronous `lookup_process`, keyed by mitmproxy client connection id."""

    def __init__(self, *, max_entries: int = 4096) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phiwall-attribution")
        self._cache: OrderedDict[str, asyncio.Future[ProcessInfo]] = OrderedDict()
        self._max_entries = max_entries
        self._recent_pids: OrderedDict[int, None] = OrderedDict()
        self.lookups = 0

    def _started(self, connection_id: str, client_port: int, proxy_port: int) -> asyncio.Future[ProcessInfo]:
        """The lookup for this connection: the cached one, or a new one started in the thread."""
        cached = self._cache.get(connection_id)
        if cached is None:
            self.lookups += 1
            loop = asyncio.get_running_loop()
            hints = list(self._recent_pids)
            cached = loop.run_in_executor(self._pool, lookup_process, client_port, proxy_port, hints)
            cached.add_done_callback(self._remember_pid)
            self._cache[connection_id] = cached
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(connection_id)
        return cached

    async def lookup(self, connection_id: str, client_port: int | None, proxy_port: int | None) -> ProcessInfo:
        if client_port is None or proxy_port is None:
            return UNKNOWN
        cached = self._started(connection_id, client_port, proxy_port)
        try:
            return await asyncio.shield(cached)
        except Exception as exc:  # attribution is best effort: an event without a pid beats no event
            log.warning("process lookup failed: %s", exc)
            return UNKNOWN

    def cached(self, connection_id: str) -> ProcessInfo | None:
        """The process of a connection if a lookup already finished (never starts one)."""
        future = self._cache.get(connection_id)
        if future is None or not future.done() or future.cancelled() or future.exception() is not None:
            return None
        return future.result()

    def _remember_pid(self, future: asyncio.Future[ProcessInfo]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        pid = future.result().pid
        if pid is not None:
            self._recent_pids[pid] = None
            self._recent_pids.move_to_end(pid, last=False)
            while len(self._recent_pids) > 16:
                self._recent_pids.popitem()

    def prefetch(self, client: ClientRef) -> None:
        """Start a lookup now (the client may be gone by the time the event is written)."""
        if client.client_port is not None and client.proxy_port is not None:
            self._started(client.connection_id, client.client_port, client.proxy_port)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
