"""Which requests to hosts outside the catalog the proxy classifies (the rest are only counted)."""

from __future__ import annotations

from pathlib import Path

from agent.proxy.discovery import FIRST_CLASSIFIED, SAMPLE_EVERY, ShadowDiscovery
from agent.shadow.sample import FlowSample
from agent.store import open_store
from agent.updates.active import ActiveSignatures, shipped_signatures


def test_first_requests_then_one_in_n_at_most_once_a_second(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        clock = [1000.0]
        signatures = ActiveSignatures(shipped_signatures())
        shadow = ShadowDiscovery(store, signatures, agent_id="unit", events=None, clock=lambda: clock[0])
        picked = [n for n in range(1, 201) if shadow.sample("busy.example")]
        # A busy host within one second: its first requests, then one more sample at most.
        assert picked == [*range(1, FIRST_CLASSIFIED + 1), FIRST_CLASSIFIED + SAMPLE_EVERY]
        clock[0] += 1.5
        later = [n for n in range(201, 401) if shadow.sample("busy.example")]
        assert later == [201], "after a second the next request is due"
        # Another host keeps its own count; a slow host is sampled one in N.
        assert all(shadow.sample("other.example") for _ in range(FIRST_CLASSIFIED))
        slow = []
        for n in range(FIRST_CLASSIFIED + 1, FIRST_CLASSIFIED + 3 * SAMPLE_EVERY + 1):
            clock[0] += 5
            if shadow.sample("other.example"):
                slow.append(n)
        assert slow == [FIRST_CLASSIFIED + SAMPLE_EVERY * k for k in (1, 2, 3)]
    finally:
        store.dispose()


def test_requests_not_classified_are_counted(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        shadow = ShadowDiscovery(store, ActiveSignatures(shipped_signatures()), agent_id="unit", events=None)
        assert all(shadow.count_unless_sampled("quiet.example", None) for _ in range(FIRST_CLASSIFIED))
        recorder = shadow.inspector.recorder
        assert recorder is not None
        assert recorder.belief("quiet.example") is None, "sampled requests are counted by their classification"
        assert shadow.count_unless_sampled("quiet.example", None) is False
        belief = recorder.belief("quiet.example")
        assert belief is not None
        assert belief.requests == 1
    finally:
        store.dispose()


def test_hosts_are_believed_ordinary_only_after_a_classification_says_so(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        shadow = ShadowDiscovery(store, ActiveSignatures(shipped_signatures()), agent_id="unit", events=None)
        assert not shadow.believed_ordinary("fhir.example"), "never classified"
        fhir = {"content-type": "application/fhir+json", "accept": "application/fhir+json"}
        body = b'{"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/1"}}'
        assert shadow.sample("fhir.example")
        shadow.classify(FlowSample("fhir.example", "POST", "/fhir/Observation", fhir, body, None, len(body)))
        assert shadow.believed_ordinary("fhir.example")
        chat = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}'
        headers = {"content-type": "application/json"}
        assert shadow.sample("llm.example")
        shadow.classify(FlowSample("llm.example", "POST", "/v1/chat/completions", headers, chat, None, len(chat)))
        assert not shadow.believed_ordinary("llm.example")
    finally:
        store.dispose()
