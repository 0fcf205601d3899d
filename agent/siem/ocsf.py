"""OCSF 1.5.0 Data Security Finding (class 2006) records for PhiWall events and triage actions.

Why this class: a PhiWall event is a data-loss-prevention finding about protected health
information moving to an AI service, which is what Data Security Finding describes
(`data_security`: detection system, data lifecycle state, data category), and OCSF
findings are updated in place by later records with the same `finding_info.uid`, which
is how triage actions (Update, Close) attach to their event. Field mapping: docs/siem.md;
the shipped schema `schema/ocsf-1.5.0-data_security_finding.schema.json` checks it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent import __version__
from agent.siem.records import SiemRecord

OCSF_VERSION = "1.5.0"
CLASS_UID = 2006
CATEGORY_UID = 2
ACTIVITIES = {1: "Create", 2: "Update", 3: "Close"}
SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High"}
VERDICT_SEVERITY = {"block": 4, "audit": 3, "allow": 1, "info": 1}
# Finding status (finding status_id): triage states mapped onto OCSF's.
STATUS = {
    "new": (1, "New"),
    "acknowledged": (2, "In Progress"),
    "in_progress": (2, "In Progress"),
    "closed": (4, "Resolved"),
}
SHA256_ALGORITHM_ID = 3
PHI_CATEGORY_ID = 2
ENDPOINT_DETECTION_ID = 1
IN_TRANSIT_STATE_ID = 2


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def activity_of(record: SiemRecord) -> int:
    if record.triage is None:
        return 1
    return 3 if record.triage.action == "state" and record.triage.state == "closed" else 2


def _prune(value: Any) -> Any:
    """Drop None and empty containers, so records carry only what is known."""
    if isinstance(value, list):
        items = (_prune(v) if isinstance(v, dict | list) else v for v in value if v is not None)
        return [v for v in items if v != {} and v != []]
    pruned: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict | list):
            item = _prune(item)
            if not item:
                continue
        elif item is None:
            continue
        pruned[key] = item
    return pruned


def to_ocsf(record: SiemRecord, *, hostname: str) -> dict[str, Any]:
    """The OCSF object for one record (a plain dict, ready for `json.dumps`)."""
    e = record.event
    activity = activity_of(record)
    severity = VERDICT_SEVERITY.get(str(e.get("verdict")), 1)
    created_ms = epoch_ms(e["time"])
    status: tuple[int, str] | None = (1, "New") if record.triage is None else None
    if record.triage is not None and record.triage.state:
        status = STATUS.get(record.triage.state, (99, record.triage.state))
    score = e.get("match_score")
    asset_id = e.get("asset_id")
    observables: list[dict[str, Any]] = []
    if e.get("host"):
        observables.append({"name": "dst_endpoint.hostname", "type_id": 1, "type": "Hostname", "value": e["host"]})
    if e.get("user"):
        observables.append({"name": "actor.user.name", "type_id": 4, "type": "User Name", "value": e["user"]})
    if asset_id:
        observables.append({"name": "file.hashes", "type_id": 8, "type": "Hash", "value": asset_id})
    triage = record.triage
    finding: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": ACTIVITIES[activity],
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Data Security Finding",
        "type_uid": CLASS_UID * 100 + activity,
        "type_name": f"Data Security Finding: {ACTIVITIES[activity]}",
        "time": epoch_ms(record.time),
        "timezone_offset": 0,
        "severity_id": severity,
        "severity": SEVERITIES[severity],
        "status_id": status[0] if status else None,
        "status": status[1] if status else None,
        "message": e.get("reason") or None,
        "is_alert": e.get("verdict") == "block",
        "comment": triage.note if triage else None,
        "confidence_score": round(float(score) * 100) if score is not None else None,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": record.uid,
            "correlation_uid": e["id"],
            "sequence": record.seq,
            "log_name": "phiwall",
            "product": {"name": "PhiWall", "vendor_name": "PhiWall", "version": __version__},
        },
        "finding_info": {
            "uid": e["id"],
            "title": f"PhiWall {e.get('kind')}: {e.get('verdict')}",
            "desc": e.get("reason") or None,
            "created_time": created_ms,
            "types": [str(e.get("kind"))],
        },
        "data_security": {
            "detection_system_id": ENDPOINT_DETECTION_ID,
            "detection_system": "Endpoint",
            "data_lifecycle_state_id": IN_TRANSIT_STATE_ID if e.get("kind") == "upload" else None,
            "data_lifecycle_state": "Data in Transit" if e.get("kind") == "upload" else None,
            "category_id": PHI_CATEGORY_ID if asset_id else None,
            "category": "Protected Health Information (PHI)" if asset_id else None,
        },
        "device": {"type_id": 0, "type": "Unknown", "hostname": hostname, "uid": record.agent_id or None},
        "actor": {
            "user": {"name": e.get("user")} if e.get("user") else None,
            "process": {
                "pid": e.get("pid"),
                "name": e.get("process_name"),
                "file": {"name": e.get("process_name") or "", "path": e.get("process_exe"), "type_id": 1}
                if e.get("process_exe")
                else None,
            },
        },
        "dst_endpoint": {"hostname": e.get("host")} if e.get("host") else None,
        "file": {
            "name": asset_id,
            "type_id": 1,
            "type": "Regular File",
            "hashes": [{"algorithm_id": SHA256_ALGORITHM_ID, "algorithm": "SHA-256", "value": asset_id}],
        }
        if asset_id
        else None,
        "observables": observables,
        "unmapped": {
            "phiwall": {
                "record": record.kind,
                "event_kind": e.get("kind"),
                "verdict": e.get("verdict"),
                "reason": e.get("reason") or None,
                "service_id": e.get("service_id"),
                "service_category": e.get("service_category"),
                "http_method": e.get("method"),
                "url_path": e.get("path"),
                "match_kind": e.get("match_kind"),
                "match_score": score,
                "match_offset_s": e.get("match_offset_s"),
                "payload_size": e.get("payload_size"),
                "sniffed_types": e.get("sniffed_types"),
                "catalog_version": e.get("catalog_version"),
                "details": dict(record.details),
                "triage": {
                    "id": triage.id,
                    "analyst": triage.analyst,
                    "action": triage.action,
                    "state": triage.state,
                    "classification": triage.classification,
                    "escalate": triage.escalate,
                }
                if triage
                else None,
            }
        },
    }
    return _prune(finding)  # type: ignore[no-any-return]
