"""Shadow-AI classification sees the decoded body: a gzip/br/zstd-encoded chat request to a
host outside the catalog is recognised by its JSON keys (the encoded bytes have none), both
by the inventory (sampled classification at the response) and by `unknown_ai = block`'s
second look once the body has arrived (the first look, at the headers, sees only the path and
header names)."""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import trustme
import zstandard

from tests.integration.proxy.harness import ProxyProcess
from tests.integration.proxy.upstream import Upstream, upstream

pytestmark = pytest.mark.timeout(120)

AI_HOST = "127.0.0.7"
ORDINARY_HOST = "127.0.0.8"
# A path and headers that say nothing: only the body's keys make this an AI call.
PATH = "/process"
CHAT = {
    "model": "local-model",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Summarise the note"},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
    "stream": False,
}
FHIR = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/1"},
    "valueQuantity": {"value": 80, "unit": "/min"},
}
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@pytest.fixture(scope="module")
def ai_api(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(AI_HOST, upstream_ca) as server:
        yield server


@pytest.fixture(scope="module")
def ordinary_api(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(ORDINARY_HOST, upstream_ca) as server:
        yield server


def post(proxy: ProxyProcess, url: str, document: object, encoding: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    body = ENCODERS[encoding](json.dumps(document).encode())
    headers = {"content-type": "application/json", "content-encoding": encoding}
    with httpx.Client(proxy=proxy.url, verify=context, timeout=30) as client:
        return client.post(url, content=body, headers=headers)


def test_block_policy_takes_a_second_look_at_the_decoded_body(
    tmp_path: Path, upstream_ca_file: Path, ai_api: Upstream, ordinary_api: Upstream
) -> None:
    proxy = ProxyProcess(tmp_path, upstream_ca=upstream_ca_file, unknown_ai="block").start()
    before = len(ai_api.received.requests)
    try:
        for encoding in ENCODERS:
            refused = post(proxy, f"{ai_api.https}{PATH}", CHAT, encoding)
            assert refused.status_code == 403, (encoding, refused.text[:300])
            assert refused.headers["x-phiwall-verdict"] == "block"
            event = proxy.event(refused.headers["x-phiwall-incident"])
            assert event.kind == "discovery"
            assert "outside the catalog" in event.reason
            assert post(proxy, f"{ordinary_api.https}{PATH}", FHIR, encoding).status_code == 200, encoding
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]
    assert "Traceback" not in proxy.log(), proxy.log()[-5000:]
    assert len(ai_api.received.requests) == before, "refused requests never reached the host"


def test_inventory_classifies_encoded_requests_by_their_content(
    tmp_path: Path, upstream_ca_file: Path, ai_api: Upstream, ordinary_api: Upstream
) -> None:
    proxy = ProxyProcess(tmp_path, upstream_ca=upstream_ca_file).start()
    try:
        for encoding in [*ENCODERS, *ENCODERS]:
            assert post(proxy, f"{ai_api.https}{PATH}", CHAT, encoding).status_code == 200
            assert post(proxy, f"{ordinary_api.https}{PATH}", FHIR, encoding).status_code == 200
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]  # the recorder flushes on stop
    rows = proxy.inventory()
    assert ORDINARY_HOST not in rows
    assert rows[AI_HOST].category == "unknown-ai"
    assert rows[AI_HOST].request_count == 6
