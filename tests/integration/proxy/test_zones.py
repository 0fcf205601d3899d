"""Zones end to end, through a real proxy: the hospital's own hosts are audited, never blocked.

The test policy (harness.write_signatures) makes 127.0.0.8/29 the hospital's private range
and leaves the rest of loopback "public", so 127.0.0.9 plays a PACS server and 127.0.0.1 an
ordinary public web host.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import trustme

from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import INTERNAL_HOST, UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream, upstream

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def internal(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(INTERNAL_HOST, upstream_ca) as server:
        yield server


@pytest.fixture(scope="module")
def ordinary(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    """A public host nothing AI-like was ever sent to (the classifier remembers a host's history)."""
    with upstream("127.0.0.20", upstream_ca) as server:
        yield server


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_cert)), timeout=60
    ) as client:
        yield client


def clinical_form(recordings: Recordings) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("dictation.mp3", recordings.clinical_mp3.read_bytes(), "audio/mpeg")}


def test_clinical_upload_to_internal_host_passes_and_is_audited_but_blocked_to_ai(
    proxy: ProxyProcess, http: httpx.Client, internal: Upstream, unapproved: Upstream, recordings: Recordings
) -> None:
    answer = http.post(f"{internal.https}/studies/upload", files=clinical_form(recordings))
    assert answer.status_code == 200, answer.text
    assert "x-phiwall-verdict" not in answer.headers
    assert internal.received.bytes_to("/studies/upload") > 10_000, "the upload reached the internal server"
    audited = proxy.events(lambda e: e.host == INTERNAL_HOST and e.path == "/studies/upload", timeout=20)
    assert len(audited) == 1
    event = audited[0]
    assert event.verdict == "audit"
    assert event.asset_id == recordings.asset_id
    assert json.loads(event.details)["zone"] == "internal"
    assert f"internal destination {INTERNAL_HOST}" in event.reason

    before = unapproved.received.bytes_to("/v1/audio")
    blocked = http.post(f"{unapproved.https}/v1/audio/transcriptions", files=clinical_form(recordings))
    assert blocked.status_code == 403
    assert blocked.headers["x-phiwall-verdict"] == "block"
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.service_id == UNAPPROVED_ID
    assert event.asset_id == recordings.asset_id
    assert json.loads(event.details)["zone"] == "ai"
    assert unapproved.received.bytes_to("/v1/audio") == before, "nothing reached the AI service"
    # Operators: exactly one journal line for this block, with the incident, service and reason.
    incident = blocked.headers["x-phiwall-incident"]
    deadline = time.monotonic() + 10
    while f"incident {incident}" not in proxy.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in proxy.log().splitlines() if f"incident {incident}" in line]
    assert len(lines) == 1, lines
    assert f"blocked upload: incident {incident}, service {UNAPPROVED_ID}" in lines[0]
    assert "may not be sent to" in lines[0]
    assert str(recordings.clinical_wav) not in proxy.log(), "no file path in the log"
    assert "alembic" not in proxy.log(), "no migration chatter"


def test_ai_looking_request_to_internal_host_is_never_blocked(
    proxy: ProxyProcess, http: httpx.Client, internal: Upstream, unknown: Upstream
) -> None:
    """The same AI-looking calls to an internal and a public host (the inventory test reads both)."""
    send_ai_looking_calls(http, internal, unknown)


def send_ai_looking_calls(http: httpx.Client, *targets: Upstream) -> None:
    body = {"model": "llama3", "messages": [{"role": "user", "content": "summarise the ward round"}]}
    for target in targets:
        for _ in range(3):
            answer = http.post(f"{target.https}/v1/chat/completions", json=body)
            assert answer.status_code == 200


def test_clinical_chunked_upload_to_unknown_public_host_is_blocked(
    proxy: ProxyProcess, http: httpx.Client, unknown: Upstream, recordings: Recordings
) -> None:
    """clinical_media_to_unknown applies to public destinations, also without a Content-Length."""
    data = recordings.clinical_mp3.read_bytes()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 16384):
            yield data[start : start + 16384]

    answer = http.post(f"{unknown.https}/share/upload", content=chunks(), headers={"content-type": "audio/mpeg"})
    assert answer.status_code == 403, answer.text
    event = proxy.event(answer.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert json.loads(event.details)["zone"] == "public"
    assert unknown.received.bytes_to("/share/upload") == 0


class _RssSampler:
    def __init__(self, proxy: ProxyProcess) -> None:
        self.proxy = proxy
        self.peak = proxy.rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.proxy.rss())


def test_one_gigabyte_chunked_upload_to_ordinary_host_streams_through(proxy: ProxyProcess, ordinary: Upstream) -> None:
    """Over the inspection limit to a non-AI host: passes, streamed, with bounded memory."""
    size = 1 << 30
    piece = b"\x5a" * (1 << 20)
    idle = proxy.rss()
    sampler = _RssSampler(proxy)
    sampler.thread.start()
    started = time.monotonic()
    host, port = proxy.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(
            f"POST {ordinary.http}/backup/archive HTTP/1.1\r\nHost: {ordinary.host}:{ordinary.http_port}\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for _ in range(size // len(piece)):
            sock.sendall(frame)
        sock.sendall(b"0\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                break
            head += data
    sampler.stop.set()
    sampler.thread.join()
    elapsed = time.monotonic() - started
    assert head.startswith(b"HTTP/1.1 200"), head[:300]
    assert sampler.peak - idle < 192 << 20, f"peak RSS grew by {(sampler.peak - idle) >> 20} MB"
    assert ("POST", "/backup/archive", size) in ordinary.received.requests, "the whole body reached the server"
    print(f"1 GB chunked upload to an ordinary host passed in {elapsed:.1f} s, RSS +{(sampler.peak - idle) >> 20} MB")


def test_internal_host_is_never_in_the_shadow_inventory(
    proxy: ProxyProcess, http: httpx.Client, internal: Upstream, unknown: Upstream
) -> None:
    """Runs last: the inventory is flushed when the proxy stops. Sends its own calls, so it holds alone."""
    send_ai_looking_calls(http, internal, unknown)
    http.close()
    proxy.stop()
    inventory = proxy.inventory()
    assert INTERNAL_HOST not in inventory
    assert unknown.host in inventory, "the same AI-looking calls to a public host are reported"
