"""A configured SIEM destination: how its records are formatted and where they are delivered."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.config import SiemDestination
from agent.siem.cef import to_cef
from agent.siem.jsonl import RotatingJsonLines
from agent.siem.ocsf import to_ocsf
from agent.siem.records import SiemRecord
from agent.siem.sender import SyslogSender, tls_context
from agent.siem.syslog import format_message, frame


def body_formatter(fmt: str, hostname: str) -> Callable[[SiemRecord], str]:
    """The record's text: compact OCSF JSON (one line) or a CEF line."""
    if fmt == "cef":
        return lambda record: to_cef(record, hostname=hostname)
    return lambda record: json.dumps(to_ocsf(record, hostname=hostname), separators=(",", ":"), ensure_ascii=False)


@dataclass
class Destination:
    """A named destination: `send` formats and delivers records in order, raising `DeliveryError`
    when they may not all have arrived; `transport` answers `address` and `probe`."""

    name: str
    transport: SyslogSender | RotatingJsonLines
    send: Callable[[Sequence[SiemRecord]], None]

    @property
    def acknowledged(self) -> bool:
        """Whether a delivered batch is known to be kept (a fsynced file) rather than only read (syslog)."""
        return isinstance(self.transport, RotatingJsonLines)

    @property
    def address(self) -> str:
        return self.transport.address

    def deliver(self, records: Sequence[SiemRecord]) -> None:
        if records:
            self.send(records)

    def probe(self) -> None:
        self.transport.probe()


def build_destination(settings: SiemDestination, hostname: str) -> Destination:
    body = body_formatter(settings.format, hostname)
    if settings.transport == "file":
        assert settings.path is not None  # the config validator requires it
        lines = RotatingJsonLines(
            settings.path.expanduser(), max_bytes=settings.max_bytes, backups=settings.backups, mode=settings.file_mode
        )
        return Destination(settings.name, lines, lambda records: lines.deliver([body(r) for r in records]))
    assert settings.host is not None
    assert settings.port is not None
    context = None
    if settings.transport == "tls":
        context = tls_context(settings.ca_file, settings.client_cert, settings.client_key)
    sender = SyslogSender(settings.host, settings.port, context, settings.server_name, settings.timeout_seconds)
    facility = settings.facility

    def send(records: Sequence[SiemRecord]) -> None:
        sender.deliver([frame(format_message(r, body(r), hostname=hostname, facility=facility)) for r in records])

    return Destination(settings.name, sender, send)
