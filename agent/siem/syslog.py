"""RFC 5424 syslog messages and RFC 6587 octet-counting frames (the framing RFC 5425 uses).

Each message carries the record's id in structured data, so a receiver (or an analyst in
the SIEM) can dedupe re-sent records: `[phiwall@32473 uid="..." agent="..." seq="..."]`.
32473 is IANA's example enterprise number (RFC 5612), the conventional choice for a
product without a registered one.
"""

from __future__ import annotations

import re

from agent.siem.records import SiemRecord

SD_ID = "phiwall@32473"
APP_NAME = "phiwall"
FACILITIES = {
    "kern": 0, "user": 1, "daemon": 3, "auth": 4, "authpriv": 10, "local0": 16, "local1": 17, "local2": 18,
    "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
# Syslog severities: 4 warning (a block), 5 notice (an audit, a triage action), 6 informational.
VERDICT_SEVERITY = {"block": 4, "audit": 5}
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]")


def header_token(value: str, limit: int) -> str:
    """A HOSTNAME/APP-NAME/MSGID token: printable US-ASCII without spaces, or the nil value."""
    token = _NOT_PRINTABLE.sub("_", value)[:limit]
    return token or "-"


def sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def severity_of(record: SiemRecord) -> int:
    if record.triage is not None:
        return 5
    return VERDICT_SEVERITY.get(str(record.event.get("verdict")), 6)


def format_message(record: SiemRecord, body: str, *, hostname: str, facility: str = "local0") -> bytes:
    """One RFC 5424 message for `record` with `body` (OCSF JSON or CEF) as MSG."""
    pri = FACILITIES[facility] * 8 + severity_of(record)
    moment = record.time
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    structured = (
        f'[{SD_ID} uid="{sd_value(record.uid)}" agent="{sd_value(record.agent_id)}" '
        f'seq="{record.seq}" kind="{record.kind}"]'
    )
    head = f"<{pri}>1 {timestamp} {header_token(hostname, 255)} {APP_NAME} - {record.kind} {structured} "
    return head.encode("ascii") + body.encode("utf-8")


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`."""
    return str(len(message)).encode("ascii") + b" " + message
