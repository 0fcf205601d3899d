"""The agent side: follow block events in the store, push each user's notices to their helper.

A `phiwall run` component. It listens on a local Unix socket (`paths.default_socket`:
`/run/phiwall/notify.sock` for the system service, mode 0666 so every session's helper can
connect) and learns who each connected helper runs
as from the kernel (`SO_PEERCRED`), so a helper only ever receives notices for blocks of its
own user: one clinician never learns about another's uploads. Notices are PHI-free
(`notices.py`). Only blocks that happen after the hub started are sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import socket
import socketserver
import struct
import threading
from datetime import datetime

from sqlmodel import col, select

from agent.components import AgentContext, Health
from agent.notify.notices import notice_for
from agent.notify.paths import default_socket, is_abstract
from agent.store import Event, Store, utcnow

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def normalise_user(name: str | None) -> str:
    """`DOMAIN\\alice`, `alice@DOMAIN` and `Alice` are the same account for matching."""
    if not name:
        return ""
    return name.rsplit("\\", 1)[-1].split("@", 1)[0].strip().lower()


def peer_user(conn: socket.socket) -> str:
    """The account of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    try:
        return normalise_user(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return str(uid)


class NotifyHub:
    name = "notify"

    def __init__(self, store: Store, address: str, *, poll: float = POLL_SECONDS) -> None:
        self._store = store
        self.address = address
        self._poll = poll
        self._clients: list[tuple[str, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._threads: list[threading.Thread] = []
        self._since: datetime = utcnow()
        self._seen: set[str] = set()
        self.sent = 0
        self.error: str | None = None

    def start(self) -> None:
        hub = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                user = peer_user(conn)
                with hub._lock:
                    hub._clients.append((user, conn))
                try:
                    while conn.recv(64):  # helpers send nothing; this returns b"" when they leave
                        pass
                except OSError:
                    pass
                finally:
                    with hub._lock:
                        hub._clients = [c for c in hub._clients if c[1] is not conn]

        try:
            if not is_abstract(self.address):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address)
            server = socketserver.ThreadingUnixStreamServer(self.address, Handler)
            server.daemon_threads = True
            if not is_abstract(self.address):
                os.chmod(self.address, 0o666)  # noqa: S103 - any session may connect; SO_PEERCRED filters
        except OSError as exc:
            self.error = f"cannot listen on {self.address!r}: {exc.strerror or exc}"
            log.error("desktop notifications off: %s", self.error)
            return
        self._server = server
        for target, name in ((server.serve_forever, "phiwall-notify-socket"), (self._follow, "phiwall-notify-feed")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if not is_abstract(self.address):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address)
        with self._lock:
            for _, conn in self._clients:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)

    def connected_users(self) -> list[str]:
        with self._lock:
            return [user for user, _ in self._clients]

    def _follow(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.deliver_new()
            except Exception as exc:  # the store being down must not end the feed
                log.warning("notification feed: %s", exc)

    def deliver_new(self) -> int:
        """Send a notice for each block event since the last call; returns how many were sent."""
        with self._store.session() as session:
            rows = session.exec(
                select(Event)
                .where(col(Event.verdict) == "block", col(Event.time) >= self._since)
                .order_by(col(Event.time))
                .limit(500)
            ).all()
            found = [(r.id, r.time, r.user, r.kind, r.service_id, r.host, r.asset_id, r.reason) for r in rows]
        sent = 0
        for event_id, when, user, kind, service_id, host, asset_id, reason in found:
            if event_id in self._seen:
                continue
            if when > self._since:
                self._since, self._seen = when, set()
            self._seen.add(event_id)
            target = normalise_user(user)
            if not target:
                continue
            line = notice_for(
                incident=event_id, kind=kind, service_id=service_id, host=host, asset_id=asset_id, reason=reason
            ).to_line()
            with self._lock:
                clients = [conn for who, conn in self._clients if who == target]
            for conn in clients:
                try:
                    conn.sendall(line)
                    sent += 1
                except OSError:
                    pass
        self.sent += sent
        return sent

    def health(self) -> Health:
        if self.error:
            return Health("degraded", f"desktop notifications off: {self.error}")
        return Health("ok", f"{len(self.connected_users())} session helper(s) connected; {self.sent} notices sent")


def build(ctx: AgentContext) -> NotifyHub | None:
    if os.name != "posix" or not hasattr(socket, "SO_PEERCRED"):
        return None  # the helper channel is Unix-socket based (Linux); other systems: no hub
    return NotifyHub(ctx.store, default_socket(ctx.data_dir))
