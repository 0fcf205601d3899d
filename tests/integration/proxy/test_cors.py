"""The block answer is readable by the web app that sent the request (CORS), through the real proxy.

A page at https://chat.example calling an AI API with `fetch()` only sees a 403 if the answer
carries CORS headers for its origin; otherwise the browser reports a bare network error and
the clinician retries. These tests send what a browser sends (an `Origin`, then for a
preflight `OPTIONS` + `Access-Control-Request-*`) and check what the browser would need.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import ProxyProcess
from tests.integration.proxy.upstream import Upstream, upstream

pytestmark = pytest.mark.timeout(180)
ORIGIN = "https://chat.example"
AI_HOST = "127.0.0.71"


def _client(proxy: ProxyProcess) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_cert)), timeout=30)


def test_block_answer_carries_cors_for_the_requesting_origin(
    proxy: ProxyProcess, unapproved: Upstream, recordings: Recordings
) -> None:
    files = {"file": ("dictation.mp3", recordings.clinical_mp3.read_bytes(), "audio/mpeg")}
    with _client(proxy) as http:
        blocked = http.post(
            f"{unapproved.https}/v1/audio/transcriptions",
            files=files,
            data={"model": "whisper-1"},
            headers={"Origin": ORIGIN, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},
        )
        plain = http.post(f"{unapproved.https}/v1/audio/transcriptions", files=files, data={"model": "whisper-1"})
    assert blocked.status_code == 403
    assert blocked.headers["access-control-allow-origin"] == ORIGIN
    assert blocked.headers["access-control-allow-credentials"] == "true"
    assert blocked.headers["vary"] == "Origin"
    exposed = {h.strip().lower() for h in blocked.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"x-phiwall-incident", "x-phiwall-verdict"}
    assert blocked.json()["error"]["incident"] == blocked.headers["x-phiwall-incident"]  # what the page can show
    assert plain.status_code == 403
    assert "access-control-allow-origin" not in plain.headers  # no Origin, nothing to allow
    assert plain.headers["vary"] == "Origin"


def test_preflight_to_a_blocked_endpoint_is_answered(tmp_path: Path, upstream_ca_file: Path) -> None:
    """With `unknown_ai = block` an AI-looking request to an unknown host is refused at its
    headers; its CORS preflight must get a 204 allowing it, so the browser sends the real
    request and shows the 403 that follows, not a CORS failure."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    proxy = ProxyProcess(tmp_path / "p", upstream_ca=ca_file, unknown_ai="block").start()
    try:
        with upstream(AI_HOST, ca) as ai, _client(proxy) as http:
            url = f"{ai.https}/v1/chat/completions"
            preflight = http.request(
                "OPTIONS",
                url,
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            real = http.post(
                url,
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2},
                headers={"Origin": ORIGIN, "Authorization": "Bearer x"},
            )
            reached = list(ai.received.requests)
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]
    assert real.status_code == 403, real.text
    assert real.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.status_code == 204, preflight.text
    assert not [r for r in reached if r[0] == "OPTIONS"]  # answered by PhiWall, not forwarded
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert not [r for r in reached if r[0] == "POST"]  # the real request never reached the AI host
