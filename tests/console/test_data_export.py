"""Exports of the filtered view and the audit report: content, order, privacy, no partial files."""

from __future__ import annotations

import csv
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from agent.store import Store
from console.data import triage
from console.data.export import ExportError, audit_report, export_view
from console.data.filters import EventFilter, Sort, parse_query
from console.data.incidents import count_matching
from console.data.triage import TriageRequest
from tests.console.conftest import NOW


def test_csv_export_holds_exactly_the_filtered_view(any_small_store: Store, tmp_path: Path) -> None:
    flt = parse_query("verdict:block,audit", now=NOW)
    out = tmp_path / "view.csv"
    result = export_view(any_small_store.engine, flt, Sort(), out)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with any_small_store.engine.connect() as conn:
        expected = count_matching(conn, flt).value
    assert result.rows == len(rows) == expected
    assert {r["verdict"] for r in rows} == {"block", "audit"}
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert rows[0]["asset_path"].startswith("/srv/clinical/")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*partial"))


def test_json_export_pages_through_more_than_one_batch(small_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    result = export_view(small_store.engine, EventFilter(), Sort("user", descending=False), out)
    document = json.loads(out.read_text())
    assert result.rows == document["count"] == len(document["events"]) == 400
    assert len({e["id"] for e in document["events"]}) == 400
    users = [e["user"] for e in document["events"]]
    assert users == sorted(users)
    assert document["filter"] == "all events"


def test_export_to_an_unwritable_place_says_so(small_store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write"):
        export_view(small_store.engine, EventFilter(), Sort(), blocker / "view.csv")
    with pytest.raises(ExportError, match=r"\.csv or \.json"):
        export_view(small_store.engine, EventFilter(), Sort(), tmp_path / "view.xlsx")


def test_failed_export_leaves_no_file(small_store: Store, tmp_path: Path) -> None:
    out_dir = tmp_path / "exports"
    with pytest.raises(ExportError, match="cancelled"):
        export_view(small_store.engine, EventFilter(), Sort(), out_dir / "view.csv", cancelled=lambda: True)
    assert list(out_dir.iterdir()) == []


def test_audit_report_covers_the_period_with_who_did_what(any_small_store: Store, tmp_path: Path) -> None:
    engine = any_small_store.engine
    ids = [f"{n:032x}" for n in (1, 2, 3)]
    triage.apply(engine, ids, TriageRequest("acknowledge", "alice"), clock=lambda: NOW - timedelta(days=3))
    triage.apply(engine, ids[:2], TriageRequest("close", "bob", classification="benign"), clock=lambda: NOW)
    triage.apply(engine, ids[2:], TriageRequest("note", "carol", note="asked IT"), clock=lambda: NOW)
    since, until = NOW - timedelta(days=1), NOW + timedelta(days=1)

    csv_path = tmp_path / "audit.csv"
    assert audit_report(engine, since, until, csv_path, generated_by="auditor").rows == 3
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["analyst"], r["action"], r["state"]) for r in rows] == [
        ("bob", "state", "closed"),
        ("bob", "state", "closed"),
        ("carol", "note", ""),
    ]
    assert rows[0]["event_verdict"]
    assert rows[2]["note"] == "asked IT"

    json_path = tmp_path / "audit.json"
    audit_report(engine, NOW - timedelta(days=7), until, json_path, generated_by="auditor")
    document = json.loads(json_path.read_text())
    assert document["count"] == 6
    assert len(document["actions"]) == 6
    assert document["by_analyst"] == {
        "alice": {"state:acknowledged": 3},
        "bob": {"state:closed": 2},
        "carol": {"note": 1},
    }
    assert document["generated_by"] == "auditor"
    assert stat.S_IMODE(json_path.stat().st_mode) == 0o600

    with pytest.raises(ExportError, match="empty"):
        audit_report(engine, until, since, tmp_path / "x.csv", generated_by="auditor")


def test_json_export_has_structured_details_and_the_triage_trail(any_small_store: Store, tmp_path: Path) -> None:
    flt = parse_query("verdict:block", now=NOW)
    out = tmp_path / "blocks.json"
    first = f"{7:032x}"  # a new block in the synthetic store
    triage.apply(any_small_store.engine, [first], TriageRequest("acknowledge", "ann", note="called the ward"))
    triage.apply(any_small_store.engine, [first], TriageRequest("close", "bob", classification="true_positive"))
    export_view(any_small_store.engine, flt, Sort(), out)
    events = {e["id"]: e for e in json.loads(out.read_text())["events"]}
    event = events[first]
    assert isinstance(event["details"], dict)
    assert event["details"]["payload_sha256"] == f"{7:064x}"
    assert [(a["analyst"], a.get("state"), a.get("note")) for a in event["triage"]] == [
        ("ann", "acknowledged", "called the ward"),
        ("bob", "closed", None),
    ]
    assert event["triage"][1]["classification"] == "true_positive"
    assert event["triage_state"] == "closed"
    others = [e for i, e in events.items() if i != first]
    assert others
    assert all(e["triage"] == [] for e in others)
