"""The shipped catalog: it validates, it is big enough, and every pattern in it compiles and
matches an example URL that resolves back to the right service and endpoint."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from agent.policy.catalog import Catalog, Endpoint, Service
from agent.policy.hosts import host_matches
from agent.updates.bundle import json_schemas
from agent.updates.source import SHIPPED_ROOT, read_manifest, read_services, shipped_bundle

CATALOG = shipped_bundle().catalog
NETWORK_SERVICES = [s for s in CATALOG.services if s.hosts]


def test_shipped_catalog_is_large_and_covers_the_services_people_use() -> None:
    assert len(NETWORK_SERVICES) >= 60
    required = {
        "openai-api", "chatgpt", "anthropic-api", "claude", "gemini-api", "google-ai-studio", "gemini",
        "microsoft-copilot", "m365-copilot", "perplexity", "mistral-api", "cohere", "groq", "deepseek-api",
        "xai-api", "together", "fireworks", "replicate", "huggingface", "openrouter", "deepgram", "assemblyai",
        "rev-ai", "speechmatics", "elevenlabs", "otter", "fireflies", "descript", "midjourney", "runway",
        "stability", "sora",
    }  # fmt: skip
    assert required <= {s.id for s in CATALOG.services}
    categories = {s.category for s in CATALOG.services}
    assert {"chat", "transcription", "speech", "image", "video", "coding", "aggregator"} <= categories


def test_local_apps_for_the_shadow_inventory() -> None:
    apps = {app.id: app for _, app in CATALOG.local_apps()}
    for wanted in ("ollama", "lm-studio", "llama-server", "whisper-server", "gpt4all", "jan", "chatgpt-desktop"):
        assert wanted in apps, wanted
    assert "claude-desktop" in apps
    assert 11434 in apps["ollama"].ports
    assert 1234 in apps["lm-studio"].ports
    assert 4891 in apps["gpt4all"].ports


@pytest.mark.parametrize("service", NETWORK_SERVICES, ids=lambda s: s.id)
def test_every_host_pattern_compiles_and_matches_an_example_of_its_service(service: Service) -> None:
    example_hosts = [urlsplit(url).hostname or "" for url in service.examples]
    for pattern in service.hosts:
        assert any(host_matches(pattern, host) for host in example_hosts), f"{pattern} matches no example"
    for host in example_hosts:
        found = CATALOG.service_for_host(host)
        assert found is not None, host
        assert found.id == service.id, f"{host} resolves to {found.id}, not {service.id}"


def _endpoint_cases() -> list[tuple[Service, int, Endpoint]]:
    return [(s, i, e) for s in CATALOG.services for i, e in enumerate(s.endpoints)]


@pytest.mark.parametrize(
    ("service", "index", "endpoint"), _endpoint_cases(), ids=lambda v: v.id if isinstance(v, Service) else None
)
def test_every_endpoint_example_resolves_to_that_endpoint(service: Service, index: int, endpoint: Endpoint) -> None:
    # On a host the endpoint applies to, the example must reach this endpoint, not an earlier
    # catch-all of the same service (a shadowed endpoint would never be used).
    hosts = [urlsplit(u).hostname or "" for u in service.examples]
    candidates = [h for h in hosts if not endpoint.hosts or any(host_matches(p, h) for p in endpoint.hosts)]
    assert candidates, f"no example URL is on a host of endpoint {endpoint.path}"
    found = CATALOG.endpoint_for(service, endpoint.methods[0], endpoint.example, candidates[0])
    assert found is endpoint, f"{endpoint.methods[0]} {endpoint.example} -> {found.path if found else None}"
    assert endpoint.carries_media, f"{endpoint.path} declares no upload shape"


def test_websocket_endpoints_of_realtime_apis() -> None:
    openai = CATALOG.service("openai-api")
    assert openai is not None
    realtime = CATALOG.endpoint_for(openai, "GET", "/v1/realtime?model=gpt-realtime")
    assert realtime is not None
    assert realtime.transport == "websocket"
    assert realtime.stream is not None
    assert "input_audio_buffer.append" in realtime.stream.event_types
    assert realtime.stream.pcm is not None
    assert realtime.stream.pcm.sample_rate == 24000
    signalling = CATALOG.endpoint_for(openai, "POST", "/v1/realtime/calls")
    assert signalling is not None
    assert signalling.transport == "webrtc-signalling"
    gemini = CATALOG.service("gemini-api")
    assert gemini is not None
    live = CATALOG.endpoint_for(
        gemini, "GET", "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    assert live is not None
    assert live.transport == "websocket"
    upload = CATALOG.endpoint_for(gemini, "POST", "/upload/v1beta/files?uploadType=resumable")
    assert upload is not None
    assert upload.resumable == "google"


def test_base64_json_paths_reach_the_media_in_real_request_shapes() -> None:
    from agent.policy.paths import JsonPath

    cases = {
        ("openai-api", "/v1/chat/completions"): {
            "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA"}}]}]
        },
        ("gemini-api", "/v1beta/models/gemini-2.5-flash:generateContent"): {
            "contents": [{"parts": [{"text": "hi"}, {"inline_data": {"mime_type": "audio/wav", "data": "AAAA"}}]}]
        },
        ("anthropic-api", "/v1/messages"): {
            "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]}]
        },
    }
    for (service_id, path), body in cases.items():
        service = CATALOG.service(service_id)
        assert service is not None
        endpoint = CATALOG.endpoint_for(service, "POST", path)
        assert endpoint is not None, path
        found = [v for p in endpoint.json_base64 for v in JsonPath.compile(p).find(body)]
        assert found == ["AAAA"], (service_id, found)


def test_catalog_files_read_in_isolation_have_unique_ids() -> None:
    services = read_services(read_manifest(SHIPPED_ROOT).catalog)
    ids = [s.id for s in services]
    assert len(ids) == len(set(ids))
    Catalog(version="1", services=tuple(services))  # no host claimed twice


@pytest.mark.parametrize("kind", ["catalog", "policy", "bundle"])
def test_committed_json_schemas_are_current(kind: str) -> None:
    committed = json.loads((SHIPPED_ROOT / "schema" / f"{kind}.schema.json").read_text())
    assert committed == json_schemas()[kind], f"regenerate: phiwall signatures schema --kind {kind} --out ..."


def test_shadow_classifier_parameters_ride_in_the_bundle_when_present() -> None:
    path = SHIPPED_ROOT / "models" / "shadow_classifier.json"
    models = shipped_bundle().models
    if path.exists():
        assert models["shadow_classifier"] == json.loads(path.read_text())
    else:  # tolerated until the shadow-AI model lands
        assert "shadow_classifier" not in models


def test_host_lookups_are_memoised_but_bounded() -> None:
    catalog = Catalog(version="1", services=CATALOG.services)
    first = catalog.service_for_host("API.OpenAI.com:443")
    assert first is not None
    assert first.id == "openai-api"
    assert catalog.service_for_host("API.OpenAI.com:443") is first
    for index in range(20_000):
        assert catalog.service_for_host(f"h{index}.unknown.example") is None
    assert len(catalog._host_cache) <= 8192
