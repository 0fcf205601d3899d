"""OCSF records validate against the shipped OCSF 1.5.0 schema; CEF escaping follows rev 25; RFC 5424 framing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent import __version__
from agent.siem import outbox, records
from agent.siem.cef import escape_extension, escape_header, to_cef
from agent.siem.ocsf import to_ocsf
from agent.siem.records import SiemRecord, TriageFacts
from agent.siem.syslog import format_message, frame
from agent.store import Store, write_events
from console.data.triage import TriageRequest, apply
from tests.support.siem import add_events, blocked_upload, close_as_false_positive

SCHEMA_FILE = Path("agent/siem/schema/ocsf-1.5.0-data_security_finding.schema.json")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((Path(__file__).parents[3] / SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def queued_records(store: Store) -> list[SiemRecord]:
    return records.load(store, outbox.pending(store, "soc", 1000))


def test_every_record_kind_validates_against_the_ocsf_schema(
    store: Store, validator: jsonschema.Draft202012Validator
) -> None:
    outbox.register(store, ["soc"])
    ids = add_events(store, "ws-a", 2)
    minimal = blocked_upload("ws-a", 9, user=None, pid=None, process_exe=None, asset_id=None, match_score=None)
    minimal.kind, minimal.verdict = "discovery", "info"
    store_events = [minimal]
    write_events(store, store_events)
    close_as_false_positive(store, ids[:1])
    apply(store.engine, ids[1:], TriageRequest("escalate", "analyst.kim"))
    apply(store.engine, ids[1:], TriageRequest("note", "analyst.kim", note="called the ward"))
    loaded = queued_records(store)
    assert len(loaded) == 6
    findings = [to_ocsf(r, hostname="ws-a.hospital.local") for r in loaded]
    for finding in findings:
        errors = [e.message for e in validator.iter_errors(finding)]
        assert errors == [], errors
    created, _, _, closed, escalated, noted = findings
    assert (created["class_uid"], created["activity_id"], created["type_uid"]) == (2006, 1, 200601)
    assert created["finding_info"]["uid"] == ids[0]
    assert created["metadata"]["uid"] == ids[0]
    assert created["severity_id"] == 4
    assert created["data_security"]["category_id"] == 2  # Protected Health Information
    assert created["file"]["hashes"][0] == {"algorithm_id": 3, "algorithm": "SHA-256", "value": "ab" * 32}
    assert created["actor"]["user"]["name"] == "dr.jones"
    assert (closed["activity_id"], closed["status_id"], closed["finding_info"]["uid"]) == (3, 4, ids[0])
    assert closed["comment"] == "vendor test file"
    assert closed["unmapped"]["phiwall"]["triage"]["classification"] == "false_positive"
    assert (escalated["activity_id"], escalated["unmapped"]["phiwall"]["triage"]["escalate"]) == (2, True)
    assert noted["comment"] == "called the ward"
    assert len({f["metadata"]["uid"] for f in findings}) == 6  # every record its own dedup id


def test_the_schema_refuses_what_ocsf_does_not_allow(store: Store, validator: jsonschema.Draft202012Validator) -> None:
    outbox.register(store, ["soc"])
    add_events(store, "ws-a", 1)
    good = to_ocsf(queued_records(store)[0], hostname="h")
    broken: list[dict[str, Any]] = [
        {k: v for k, v in good.items() if k != "metadata"},
        {**good, "class_uid": 2004},
        {**good, "type_uid": 200603},  # not class_uid * 100 + activity_id
        {**good, "time": "2026-12-05T11:00:00Z"},
        {**good, "severity_id": 7},
        {**good, "phiwall_verdict": "block"},  # custom fields belong in `unmapped`
        {**good, "file": {"type_id": 1}},  # a file needs a name
    ]
    for finding in broken:
        assert not validator.is_valid(finding), finding


def test_cef_header_and_extension_escaping_follow_rev_25() -> None:
    assert escape_header(r"a|b\c") == r"a\|b\\c"
    assert escape_header("two\nlines") == "two lines"
    assert escape_header("x=y") == "x=y"  # = needs no escape in the header
    assert escape_extension(r"a=b\c") == r"a\=b\\c"
    assert escape_extension("one\r\ntwo\nthree\rfour") == r"one\ntwo\nthree\rfour"
    assert escape_extension("a|b") == "a|b"  # | needs no escape in extensions


def test_cef_line_carries_the_ids_and_escaped_values(store: Store) -> None:
    outbox.register(store, ["soc"])
    event = blocked_upload("ws-a", 1, reason="blocked: a=b | c\\d\nnext", path="/v1/files")
    write_events(store, [event])
    close_as_false_positive(store, [event.id], note="line one\nline=two")
    created, closed = (to_cef(r, hostname="ws|a") for r in queued_records(store))
    *header, extension = created.split("|", 7)
    assert header == ["CEF:0", "PhiWall", "PhiWall", __version__, "phiwall:upload:block", "PhiWall upload block", "8"]
    assert f"externalId={event.id} " in extension
    assert r"reason=blocked: a\=b | c\\d\nnext " in extension
    assert "dvchost=ws|a " in extension
    assert "fileHash=" + "ab" * 32 in extension
    assert "\n" not in created
    assert "|phiwall:triage:closed|" in closed
    assert r"msg=line one\nline\=two " in closed
    assert "cs5Label=classification cs5=false_positive" in closed


def test_rfc5424_message_and_octet_counting_frame() -> None:
    event: dict[str, Any] = {"id": "e" * 32, "time": datetime(2026, 12, 5, 11, 0, 0, 123456, tzinfo=UTC)}
    event |= {"agent_id": "ws a", "verdict": "block", "kind": "upload"}
    record = SiemRecord(7, "event", event)
    message = format_message(record, '{"ü": 1}', hostname="ws a.local", facility="local4")
    assert message.startswith(b"<164>1 2026-12-05T11:00:00.123Z ws_a.local phiwall - event ")
    assert b'[phiwall@32473 uid="' + b"e" * 32 + b'" agent="ws a" seq="7" kind="event"]' in message
    assert frame(message) == str(len(message)).encode() + b" " + message
    triage = TriageFacts(3, event["time"], "kim", "note", None, None, 'say "hi"]', None)
    quoted = format_message(SiemRecord(8, "triage", {**event, "agent_id": 'x"]'}, triage=triage), "m", hostname="h")
    assert b'agent="x\\"\\]"' in quoted
    assert quoted.startswith(b"<133>1 ")  # local0.notice for a triage action


def test_no_payload_or_transcript_reaches_any_format(store: Store) -> None:
    outbox.register(store, ["soc"])
    secret = "Patient Jane Roe DOB 1961-02-03 dictation"
    event = blocked_upload(
        "ws-a",
        1,
        details={"transcript": secret, "body": secret, "Payload": secret, "parts": 2, "nested": {"text": secret}},
    )
    write_events(store, [event])
    (record,) = queued_records(store)
    assert record.details == {"parts": 2}
    outputs = [json.dumps(to_ocsf(record, hostname="h")), to_cef(record, hostname="h")]
    outputs.append(format_message(record, outputs[1], hostname="h").decode())
    for text in outputs:
        assert "Jane Roe" not in text
    with pytest.raises(TypeError, match="PHI"):
        blocked_upload("ws-a", 2, reason=b"raw bytes")
