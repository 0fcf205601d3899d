"""The proxy-facing adapter: plain values in, an assessment out; bundle models; policy actions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from agent.shadow.hooks import ClassifierSource, ShadowAssessment, ShadowInspector, classifier_from_models
from agent.store import AIServiceSeen, Event, EventWriter, Store
from agent.updates.source import shipped_bundle
from phiwall_publish.shadow.train import MODEL_PATH

CHAT_BODY = json.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "Jane Doe"}], "temperature": 0, "stream": True}
).encode()
CHAT_HEADERS = {"content-type": "application/json", "authorization": "Bearer k", "accept": "text/event-stream"}
SSE = {"content-type": "text/event-stream", "x-ratelimit-remaining-tokens": "99", "x-request-id": "r"}


@dataclass
class FakeSignatures:
    """Stands in for SignatureSet: a version and a models mapping (what the adapter reads)."""

    version: str
    models: Mapping[str, Any] = field(default_factory=dict)


def _params() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return loaded


def test_the_shipped_bundle_carries_the_classifier() -> None:
    classifier = classifier_from_models(shipped_bundle().models)
    assert classifier is not None
    assert classifier.version == _params()["version"]


def test_assess_then_record_builds_the_host_inventory(store: Store) -> None:
    writer = EventWriter(store)
    writer.start()
    current = FakeSignatures("v1", {"shadow_classifier": _params()})
    inspector = ShadowInspector.open(store, agent_id="ws-1", events=writer, signatures=lambda: current)
    seen = inspector.assess("llm.internal.example", "POST", "/v1/chat/completions", CHAT_HEADERS, CHAT_BODY)
    assert seen.label == "ai"
    assert seen.ai_likely
    assert seen.host_status == "unknown"  # nothing recorded yet
    assert seen.action("block") == "block"
    assert seen.action("inspect") == "inspect"
    assert seen.action("allow") == "allow"
    for _ in range(5):
        inspector.inspect(
            "llm.internal.example",
            "POST",
            "/v1/chat/completions",
            CHAT_HEADERS,
            CHAT_BODY,
            SSE,
            process="python3",
            user="dr.who",
        )
    # Once the host is known as AI, even a shapeless request to it is treated as AI traffic.
    later = inspector.assess("llm.internal.example", "GET", "/", {})
    assert later.label == "unknown"
    assert later.host_status == "ai"
    assert later.ai_likely
    inspector.stop()  # flushes
    writer.flush()
    writer.stop()
    with store.session() as session:
        rows = session.exec(select(AIServiceSeen)).all()
        events = session.exec(select(Event).where(Event.kind == "discovery")).all()
    assert [(r.host, r.request_count, r.processes) for r in rows] == [("llm.internal.example", 5, '["python3"]')]
    assert len(events) == 1
    assert events[0].catalog_version == "v1"
    assert "Jane" not in events[0].details


def test_ordinary_requests_are_not_ai(store: Store) -> None:
    current = FakeSignatures("v1", {"shadow_classifier": _params()})
    inspector = ShadowInspector.open(store, agent_id="ws-1", events=None, signatures=lambda: current)
    fhir = inspector.assess(
        "ehr.hospital.example",
        "POST",
        "/fhir/Observation",
        {"content-type": "application/fhir+json", "authorization": "Bearer k"},
        json.dumps({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/1"}}).encode(),
    )
    assert not fhir.ai_likely
    assert fhir.action("block") == "inspect"


def test_a_bundle_without_a_classifier_uses_the_shipped_one(store: Store) -> None:
    inspector = ShadowInspector.open(store, agent_id="ws-1", events=None, signatures=lambda: FakeSignatures("lab"))
    seen = inspector.assess("llm.internal.example", "POST", "/v1/chat/completions", CHAT_HEADERS, CHAT_BODY)
    assert seen.label == "ai"


def test_without_a_classifier_everything_is_unknown() -> None:
    inspector = ShadowInspector(lambda: None)
    seen = inspector.assess("llm.internal.example", "POST", "/v1/chat/completions", CHAT_HEADERS, CHAT_BODY)
    assert (seen.label, seen.score, seen.reason) == ("unknown", None, "no classifier")
    assert inspector.record(seen) is None  # no recorder: nothing to count


def test_a_broken_model_in_an_update_disables_classification_not_the_proxy() -> None:
    state = {"current": FakeSignatures("v1", {"shadow_classifier": {"format": "pickle"}})}
    source = ClassifierSource(lambda: state["current"])
    assert source.get() is None
    assert source.error is not None
    assert "format" in source.error
    inspector = ShadowInspector(source)
    assert inspector.assess("x.example", "POST", "/v1/chat/completions", CHAT_HEADERS, CHAT_BODY).label == "unknown"
    state["current"] = FakeSignatures("v2", {"shadow_classifier": _params()})  # the next bundle fixes it
    assert source.get() is not None
    assert source.error is None
    assert inspector.assess("x.example", "POST", "/v1/chat/completions", CHAT_HEADERS, CHAT_BODY).label == "ai"


def test_classifier_is_built_once_per_bundle() -> None:
    calls = {"n": 0}
    current = FakeSignatures("v1", {"shadow_classifier": _params()})

    def signatures() -> FakeSignatures:
        calls["n"] += 1
        return current

    source = ClassifierSource(signatures)
    first = source.get()
    assert all(source.get() is first for _ in range(10))


def test_assessment_policy_table() -> None:
    def make(label: str, host: str) -> ShadowAssessment:
        return ShadowAssessment("h", label, 0.5, 3, host, 0.5)  # type: ignore[arg-type]

    assert make("ai", "unknown").action("block") == "block"
    assert make("unknown", "ai").action("block") == "block"
    assert make("not_ai", "not_ai").action("block") == "inspect"
    assert make("unknown", "unknown").action("block") == "inspect"
    assert make("ai", "ai").action("allow") == "allow"
