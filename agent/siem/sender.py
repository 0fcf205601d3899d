"""Delivering framed syslog messages over TCP or TLS, and knowing when they were read.

Syslog over TCP/TLS (RFC 6587, RFC 5425) has no acknowledgement, so each batch goes over
its own connection and ends with a close handshake: after the last frame we close our
side (TLS: `close_notify`, then TCP FIN) and wait for the receiver to close its side.
A receiver closes only once it has read everything before our close; one that dies with
bytes unread resets the connection instead, which fails the batch and it is sent again.
Over TLS the close handshake proves the receiver read (and, as receivers process a
stream in order, handled) every record before it. Plain TCP is weaker: a receiver killed
after reading the last bytes but before handling them still closes cleanly; use TLS when
that matters (docs/siem.md).
"""

from __future__ import annotations

import socket
import ssl
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
                return  # the receiver read our close_notify and closed without answering (rsyslog does)
        raw.shutdown(socket.SHUT_WR)
        while True:
            chunk = raw.recv(4096)  # a receiver that talks back is drained; b"" is its close
            if not chunk:
                return
