"""ArcSight CEF (Common Event Format, Implementation Standard rev 25) lines for SIEM records.

Escaping follows rev 25 exactly: in the header, `\\` and `|` are escaped with a backslash
(and a header may not span lines, so line breaks become spaces); in extension values, `\\`
and `=` are escaped and line breaks are written as `\\n` / `\\r`; a `|` in an extension is
left alone. Keys are fixed CEF dictionary names or labelled custom fields (docs/siem.md).
"""

from __future__ import annotations

from agent import __version__
from agent.siem.ocsf import epoch_ms
from agent.siem.records import SiemRecord

CEF_VERSION = 0
VERDICT_SEVERITY = {"block": 8, "audit": 5, "allow": 2, "info": 2}


def escape_header(value: str) -> str:
    text = value.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def escape_extension(value: str) -> str:
    text = value.replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _class_and_name(record: SiemRecord) -> tuple[str, str]:
    e = record.event
    if record.triage is None:
        return f"phiwall:{e.get('kind')}:{e.get('verdict')}", f"PhiWall {e.get('kind')} {e.get('verdict')}"
    t = record.triage
    what = t.state if t.action == "state" and t.state else t.action
    return f"phiwall:triage:{what}", f"PhiWall triage {what}"


def to_cef(record: SiemRecord, *, hostname: str) -> str:
    """One CEF line (no trailing newline) for `record`."""
    e = record.event
    t = record.triage
    class_id, name = _class_and_name(record)
    severity = VERDICT_SEVERITY.get(str(e.get("verdict")), 2)
    score = e.get("match_score")
    fields: list[tuple[str, object | None]] = [
        ("rt", epoch_ms(record.time)),
        ("externalId", record.uid),
        ("flexString1Label", "eventId"),
        ("flexString1", e["id"]),
        ("cn1Label", "sequence"),
        ("cn1", record.seq),
        ("dvchost", hostname),
        ("deviceExternalId", record.agent_id or None),
        ("cat", e.get("kind")),
        ("act", e.get("verdict")),
        ("reason", e.get("reason") or None),
        ("msg", t.note if t is not None else (e.get("reason") or None)),
        ("suser", e.get("user")),
        ("sproc", e.get("process_name")),
        ("spid", e.get("pid")),
        ("dhost", e.get("host")),
        ("requestMethod", e.get("method")),
        ("cs1Label", "service"),
        ("cs1", e.get("service_id")),
        ("cs2Label", "urlPath"),
        ("cs2", e.get("path")),
        ("cs3Label", "matchKind"),
        ("cs3", e.get("match_kind")),
        ("cfp1Label", "matchScore"),
        ("cfp1", round(float(score), 4) if score is not None else None),
        ("fileHash", e.get("asset_id")),
        ("fsize", e.get("payload_size")),
        ("fileType", e.get("sniffed_types")),
        ("cs4Label", "triageState"),
        ("cs4", (t.state if t is not None else "new") or None),
        ("cs5Label", "classification"),
        ("cs5", t.classification if t is not None else None),
        ("cs6Label", "analyst"),
        ("cs6", t.analyst if t is not None else None),
    ]
    present = [(k, v) for k, v in fields if v is not None]
    # Drop labels whose value is absent, so receivers see no orphan labels.
    values = {k for k, _ in present}
    present = [(k, v) for k, v in present if not k.endswith("Label") or k.removesuffix("Label") in values]
    extension = " ".join(f"{key}={escape_extension(str(value))}" for key, value in present)
    header = "|".join(
        escape_header(part) for part in ("PhiWall", "PhiWall", __version__, class_id, name, str(severity))
    )
    return f"CEF:{CEF_VERSION}|{header}|{extension}"
