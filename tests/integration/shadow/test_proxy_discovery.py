"""Shadow-AI discovery through the real proxy: real clients, loopback hosts outside the catalog.

The proxy (agent/proxy) calls agent.shadow's `ShadowInspector`; these tests check the shadow
side of that contract end to end: an uncatalogued AI-like API becomes one inventory row and
one discovery event however many requests it gets, enrolled clinical media sent to it is
blocked by the default policy, ordinary APIs leave no trace, and with
`unknown_ai = block` an AI-looking request to an unknown host is refused before its body
leaves while an ordinary one passes.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import psutil
import pytest
import trustme
from sqlmodel import select

from agent.store import AIServiceSeen, Event, open_store
from tests.integration.proxy.conftest import enroll
from tests.integration.proxy.harness import ProxyProcess, write_signatures
from tests.integration.proxy.upstream import Upstream, upstream
from tests.support.media import DICTATIONS, OTHER_SPEECH, MediaFactory

pytestmark = pytest.mark.timeout(180)

AI_HOST = "127.0.0.61"
ORDINARY_HOST = "127.0.0.62"
FHIR_OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/1"},
    "valueQuantity": {"value": 80, "unit": "/min"},
}


@dataclass
class ShadowProxy(ProxyProcess):
    unknown_ai: str = "inspect"

    def write_config(self) -> Path:
        config = super().write_config()
        write_signatures(self.root / "signatures", unknown_ai=self.unknown_ai)
        return config


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shadow-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def ai_api(ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(AI_HOST, ca) as server:
        yield server


@pytest.fixture(scope="module")
def ordinary_api(ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(ORDINARY_HOST, ca) as server:
        yield server


def _client(proxy: ProxyProcess) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_cert)), timeout=30)


def _sdk(proxy: ProxyProcess, api: Upstream) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=f"{api.https}/v1", http_client=_client(proxy), max_retries=0)


def _chat(client: openai.OpenAI) -> str | None:
    reply = client.chat.completions.create(
        model="local-model",
        messages=[{"role": "user", "content": "Summarise: Jane Doe, DOB 1970-01-01"}],
        temperature=0.2,
        max_tokens=64,
    )
    return reply.choices[0].message.content


def test_unknown_ai_api_becomes_one_inventory_row_and_clinical_media_to_it_is_blocked(
    tmp_path: Path, ca_file: Path, ai_api: Upstream, ordinary_api: Upstream, media_factory: MediaFactory
) -> None:
    clinical = media_factory.speech(DICTATIONS[0])
    other = media_factory.speech(OTHER_SPEECH[0])
    proxy = ShadowProxy(tmp_path, upstream_ca=ca_file)
    enroll(proxy.store_url, [clinical])
    proxy.start()
    try:
        sdk = _sdk(proxy, ai_api)
        for _ in range(6):
            assert _chat(sdk) is not None
        # Default policy: enrolled clinical media to an AI host outside the catalog is blocked...
        with pytest.raises(openai.PermissionDeniedError) as refused, clinical.open("rb") as audio:
            sdk.audio.transcriptions.create(model="whisper-1", file=audio)
        incident = refused.value.response.headers["x-phiwall-incident"]
        # ...other speech is not.
        with other.open("rb") as audio:
            assert sdk.audio.transcriptions.create(model="whisper-1", file=audio).text
        with _client(proxy) as http:
            for _ in range(6):
                answer = http.post(
                    f"{ordinary_api.https}/fhir/Observation",
                    json=FHIR_OBSERVATION,
                    headers={"content-type": "application/fhir+json"},
                )
                assert answer.status_code == 200
        blocked = proxy.event(incident)
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]  # the recorder flushes on stop
    assert "Traceback" not in proxy.log(), proxy.log()[-5000:]
    assert blocked.verdict == "block"
    assert blocked.host == AI_HOST
    assert blocked.asset_id == hashlib.sha256(clinical.read_bytes()).hexdigest()
    assert "not in the catalog" in blocked.reason
    assert ai_api.received.bytes_to("/v1/audio") < clinical.stat().st_size  # only the other speech arrived

    store = open_store(proxy.store_url, migrate=False)
    try:
        with store.session() as session:
            rows = {row.host: row for row in session.exec(select(AIServiceSeen)).all()}
            events = session.exec(select(Event).where(Event.kind == "discovery")).all()
    finally:
        store.dispose()
    assert ORDINARY_HOST not in rows
    row = rows[AI_HOST]
    assert row.request_count == 8
    assert row.block_count == 1
    assert row.category == "unknown-ai"
    assert row.status == "unknown"
    assert row.confidence is not None
    assert row.confidence > 0.9
    assert json.loads(row.processes) == [psutil.Process().name()]  # this test process, attributed
    discovered = [e for e in events if e.host == AI_HOST]
    assert len(discovered) == 1
    assert discovered[0].reason == f"unknown AI service seen: {AI_HOST}"
    assert "Jane" not in discovered[0].details
    assert all(e.host != ORDINARY_HOST for e in events)


def test_unknown_ai_block_policy_refuses_ai_requests_only(
    tmp_path: Path, ca_file: Path, ai_api: Upstream, ordinary_api: Upstream
) -> None:
    proxy = ShadowProxy(tmp_path, upstream_ca=ca_file, unknown_ai="block").start()
    before = len(ai_api.received.requests)
    try:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            _chat(_sdk(proxy, ai_api))
        assert refused.value.response.headers["x-phiwall-verdict"] == "block"
        incident = refused.value.response.headers["x-phiwall-incident"]
        with _client(proxy) as http:
            ordinary = http.post(
                f"{ordinary_api.https}/fhir/Observation",
                json=FHIR_OBSERVATION,
                headers={"content-type": "application/fhir+json"},
            )
        assert ordinary.status_code == 200
        event = proxy.event(incident)
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]
    assert len(ai_api.received.requests) == before  # the blocked request never reached the AI host
    assert event.verdict == "block"
    assert event.host == AI_HOST
    assert "outside the catalog" in event.reason
