"""Helpers for SIEM tests: events and triage actions written the way the agent and console write them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.store import Event, Store, make_event, write_events
from console.data.triage import TriageRequest, apply

SD = re.compile(r'\[phiwall@32473 uid="(?P<uid>[^"]+)" agent="(?P<agent>[^"]*)" seq="(?P<seq>\d+)"')


def blocked_upload(agent_id: str, n: int, **fields: object) -> Event:
    values: dict[str, object] = {
        "agent_id": agent_id,
        "kind": "upload",
        "user": "dr.jones",
        "pid": 4242,
        "process_name": "firefox",
        "process_exe": "/usr/lib/firefox/firefox",
        "host": "api.openai.com",
        "path": "/v1/audio/transcriptions",
        "method": "POST",
        "service_id": "openai",
        "service_category": "genai",
        "verdict": "block",
        "reason": f"clinical audio (match 0.97) to unapproved AI service openai #{n}",
        "asset_id": "ab" * 32,
        "match_score": 0.97,
        "match_kind": "audio",
        "match_offset_s": 12.5,
        "payload_size": 123456,
        "sniffed_types": "audio/mpeg",
        "catalog_version": "2026.11.1",
        "details": {"transport": "multipart", "parts": 2},
    }
    values.update(fields)
    return make_event(**values)


def add_events(store: Store, agent_id: str, count: int, start: int = 0) -> list[str]:
    events = [blocked_upload(agent_id, start + i) for i in range(count)]
    write_events(store, events)
    return [e.id for e in events]


def close_as_false_positive(store: Store, event_ids: list[str], note: str = "vendor test file") -> None:
    request = TriageRequest("close", "analyst.kim", classification="false_positive", note=note)
    result = apply(store.engine, event_ids, request)
    assert len(result.applied) == len(event_ids), result.skipped


@dataclass(frozen=True)
class Received:
    uid: str
    agent: str
    seq: int


def parse_received(messages: list[str]) -> list[Received]:
    found = []
    for message in messages:
        match = SD.search(message)
        assert match is not None, f"no PhiWall structured data in {message[:200]!r}"
        found.append(Received(match["uid"], match["agent"], int(match["seq"])))
    return found


def first_seen(received: list[Received]) -> list[Received]:
    """Dedupe by record id, keeping the first delivery of each (what a SIEM would do)."""
    seen: set[str] = set()
    unique = []
    for item in received:
        if item.uid not in seen:
            seen.add(item.uid)
            unique.append(item)
    return unique
