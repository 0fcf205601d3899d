"""Delivering framed syslog messages over TCP or TLS, and knowing when they were read.

Syslog over TCP/TLS (RFC 6587, RFC 5425) has no acknowledgement, so each batch goes over
its own connection and ends with a close handshake: after the last frame we close our
side (TLS: `close_notify`, then TCP FIN) and wait for the receiver to close its side.
A receiver closes only once it has read everything before our close; one that dies with
bytes unread resets the connection instead, which fails the batch and it is sent again.
A receiver that closes *before* our bytes reached it (it refused our client certificate,
it is shutting down) also closes cleanly, so a clean close counts only when the kernel
also says every byte we sent was acknowledged and no reset followed (Linux `SIOCOUTQ`,
`SO_ERROR`): bytes that reach a closed socket are answered with a reset, never an ack.
Over TLS the close handshake proves the receiver read (and, as receivers process a
stream in order, handled) every record before it. Plain TCP is weaker: a receiver killed
after reading the last bytes but before handling them still closes cleanly; use TLS when
that matters (docs/siem.md).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.errors import PhiWallError


class DeliveryError(PhiWallError):
    """A batch could not be delivered (refused, reset, timed out, TLS failure); it is re-sent."""


def tls_context(
    ca_file: Path | None, client_cert: Path | None = None, client_key: Path | None = None
) -> ssl.SSLContext:
    """A client context that always verifies the server: against `ca_file`, else the system CAs."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


@dataclass
class SyslogSender:
    """One syslog receiver; `deliver` returns only when the receiver has read the whole batch."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    server_name: str | None = None
    timeout: float = 10.0

    @property
    def address(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise DeliveryError(f"{self.address}: cannot connect: {exc.strerror or exc}") from None
        if self.tls is None:
            return raw
        try:
            return self.tls.wrap_socket(raw, server_hostname=self.server_name or self.host)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise DeliveryError(f"{self.address}: server certificate not trusted: {exc.verify_message}") from None
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise DeliveryError(f"{self.address}: TLS handshake failed: {exc}") from None

    def deliver(self, frames: Sequence[bytes]) -> None:
        """Send `frames` on one connection and wait for the receiver to have read them all."""
        conn = self._connect()
        try:
            conn.sendall(b"".join(frames))
            self._close_handshake(conn)
        except DeliveryError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{self.address}: connection lost mid-batch: {exc}") from None
        finally:
            conn.close()

    def probe(self) -> None:
        """Connect (and complete the TLS handshake) without sending a record."""
        self._connect().close()

    def _close_handshake(self, conn: socket.socket) -> None:
        raw = conn
        if isinstance(conn, ssl.SSLSocket):
            try:
                raw = conn.unwrap()  # sends close_notify; returns if the receiver answers with its own
            except ssl.SSLEOFError:
                # The receiver closed without answering (rsyslog does): after reading our
                # close_notify, or before our bytes reached it. Only the kernel can tell.
                self._check_acknowledged(conn)
                return
        raw.shutdown(socket.SHUT_WR)
        while True:
            chunk = raw.recv(4096)  # a receiver that talks back is drained; b"" is its close
            if not chunk:
                self._check_acknowledged(raw)
                return

    def _check_acknowledged(self, conn: socket.socket, wait: float = 0.5) -> None:
        """Raise unless every byte sent was acknowledged by the receiver and no reset came."""
        deadline = time.monotonic() + wait
        while True:
            error = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise DeliveryError(f"{self.address}: connection reset at close: {os.strerror(error)}")
            pending = unacknowledged_bytes(conn)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise DeliveryError(f"{self.address}: receiver closed before reading {pending} bytes")
            time.sleep(0.005)


def unacknowledged_bytes(conn: socket.socket) -> int:
    """Bytes sent on `conn` its peer has not acknowledged yet (Linux SIOCOUTQ); 0 where unknown."""
    with contextlib.suppress(OSError, AttributeError, ImportError):
        import fcntl  # POSIX only; Windows reports 0 (unknown)
        import termios

        return int(struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    return 0
