"""Hostile and broken input through a real proxy: it keeps serving, memory stays bounded, each
flow gets a clear verdict (and uploads to an unapproved AI service that cannot be inspected
are blocked with the reason)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.proxy.conftest import Recordings, enroll
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream

pytestmark = pytest.mark.timeout(180)

LIMIT_MB = 4


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream_ca_file: Path, recordings: Recordings
) -> Iterator[ProxyProcess]:
    """A proxy with a 4 MB inspection limit, so "too large" is cheap to reach."""
    process = ProxyProcess(tmp_path_factory.mktemp("proxy-bad"), upstream_ca=upstream_ca_file, max_inspect_mb=LIMIT_MB)
    enroll(process.store_url, [recordings.clinical_wav])
    process.start()
    yield process
    assert process.stop() == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=60) as client:
        yield client


def still_serving(http: httpx.Client, unknown: Upstream) -> None:
    assert http.get(f"{unknown.https}/ping").status_code == 200


def blocked_reason(proxy: ProxyProcess, response: httpx.Response) -> str:
    assert response.status_code == 403, response.text[:300]
    assert response.headers["x-phiwall-verdict"] == "block"
    event = proxy.event(response.headers["x-phiwall-incident"])
    assert event.verdict == "block"
    return event.reason


def test_malformed_multipart(proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream) -> None:
    body = b"--XYZ\r\nContent-Disposition: form-data; name=file; filename=a.wav\r\nContent-Type: audio/wav\r\n"
    body += b"RIFF\x00\x00garbage without the blank line or closing boundary" * 100
    headers = {"content-type": "multipart/form-data; boundary=XYZ"}
    response = http.post(f"{unapproved.https}/v1/audio/transcriptions", content=body, headers=headers)
    assert "could not be inspected" in blocked_reason(proxy, response)
    # The same garbage to an ordinary host is not PhiWall's business: it passes.
    assert http.post(f"{unknown.https}/upload", content=body, headers=headers).status_code == 200
    still_serving(http, unknown)


def test_invalid_base64_in_input_audio(proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream) -> None:
    audio = {"type": "input_audio", "input_audio": {"format": "wav", "data": "UklGR" + "%%%not-base64%%%" * 40}}
    document = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": [audio]}]}
    response = http.post(f"{unapproved.https}/v1/chat/completions", json=document)
    reason = blocked_reason(proxy, response)
    assert "base64" in reason
    assert "input_audio.data" in reason


def test_gzip_bomb(proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream) -> None:
    bomb = gzip.compress(b"RIFF" + b"\0" * (256 << 20), compresslevel=9)  # 256 MB in ~250 KB
    assert len(bomb) < 1 << 20
    before = proxy.rss()
    headers = {"content-type": "audio/wav", "content-encoding": "gzip"}
    response = http.post(f"{unapproved.https}/v1/audio/transcriptions", content=bomb, headers=headers)
    reason = blocked_reason(proxy, response)
    assert "bomb" in reason or "too large" in reason
    assert proxy.rss() - before < 64 << 20, "the bomb was not inflated"
    still_serving(http, unknown)


def test_invalid_base64_realtime_event_is_dropped(proxy: ProxyProcess, unapproved: Upstream) -> None:
    from websockets.sync.client import connect

    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with connect(f"{unapproved.wss}/v1/realtime", proxy=proxy.url, ssl=context) as ws:
        before = unapproved.received.ws_messages
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@" * 50}))
        ws.send(b"\x00\xff binary garbage \x80")
        ws.send("{ this is not json")
        ws.send(json.dumps({"type": "response.create"}))
        replies = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
    assert all(r["type"] == "ack" for r in replies)
    assert unapproved.received.ws_messages - before == 3, "only the undecodable audio event was dropped"
    events = proxy.events(lambda e: e.path == "/v1/realtime" and "could not be decoded" in e.reason)
    assert events
    assert events[0].verdict == "block"


def _raw_proxy_socket(proxy: ProxyProcess) -> socket.socket:
    host, port = proxy.address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def test_lying_content_length_and_half_closed_connection(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream
) -> None:
    # Announces 100 KB, sends 10 bytes, then half-closes: the flow ends, nothing is forwarded.
    before = len(unapproved.received.requests)
    with _raw_proxy_socket(proxy) as sock:
        sock.sendall(
            f"POST {unapproved.http}/v1/audio/transcriptions HTTP/1.1\r\nHost: {unapproved.host}\r\n"
            "Content-Type: audio/wav\r\nContent-Length: 100000\r\n\r\nRIFF123456".encode()
        )
        sock.shutdown(socket.SHUT_WR)
        sock.recv(4096)  # the proxy closes (or answers an error); never forwards half a body
    # Announces 10 bytes, sends more: the excess is read as the next request and refused.
    with _raw_proxy_socket(proxy) as sock:
        sock.sendall(
            f"POST {unknown.http}/x HTTP/1.1\r\nHost: {unknown.host}\r\nContent-Length: 4\r\n\r\n"
            "abcdGARBAGE NOT HTTP\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert b"400" in data
    assert len(unapproved.received.requests) == before
    assert proxy.alive()
    still_serving(http, unknown)


def test_garbage_websocket_frames(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream
) -> None:
    with _raw_proxy_socket(proxy) as raw:
        raw.sendall(f"CONNECT {unapproved.host}:{unapproved.ws_port} HTTP/1.1\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        with context.wrap_socket(raw, server_hostname=unapproved.host) as tls:
            key = base64.b64encode(os.urandom(16)).decode()
            tls.sendall(
                f"GET /v1/realtime HTTP/1.1\r\nHost: {unapproved.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert tls.recv(4096).startswith(b"HTTP/1.1 101")
            tls.sendall(b"\x8f\x85garbage-with-a-reserved-opcode" + os.urandom(64))
            tls.settimeout(10)
            try:
                while tls.recv(4096):
                    pass
            except (ssl.SSLError, OSError):
                pass
    assert proxy.alive()
    still_serving(http, unknown)


class _RssSampler:
    def __init__(self, proxy: ProxyProcess) -> None:
        self.proxy = proxy
        self.peak = proxy.rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proxy.rss())


@pytest.mark.slow
def _read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length body, read whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_two_gigabyte_upload_is_refused_without_buffering(
    proxy: ProxyProcess, unapproved: Upstream, unknown: Upstream, http: httpx.Client
) -> None:
    size = 2 << 30
    idle = proxy.rss()
    sampler = _RssSampler(proxy)
    sampler.thread.start()
    started = time.monotonic()
    with _raw_proxy_socket(proxy) as sock:
        sock.sendall(
            f"POST {unapproved.http}/v1/audio/transcriptions HTTP/1.1\r\nHost: {unapproved.host}\r\n"
            f"Content-Type: audio/wav\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        chunk = b"RIFF" + b"\0" * ((1 << 20) - 4)
        event_seen_while_uploading = False
        for sent in range(size // len(chunk)):
            sock.sendall(chunk)
            if sent == 64:
                rows = proxy.events(lambda e: e.payload_size == size, timeout=10)
                event_seen_while_uploading = bool(rows)
        head = _read_response(sock)
    sampler.stop.set()
    sampler.thread.join()
    assert head.startswith(b"HTTP/1.1 403"), head[:200]
    assert b"x-phiwall-verdict: block" in head.lower()
    headers, _, body = head.partition(b"\r\n\r\n")
    incident = next(
        line.split(b":", 1)[1].strip()
        for line in headers.split(b"\r\n")
        if line.lower().startswith(b"x-phiwall-incident:")
    )
    assert json.loads(body)["error"]["incident"] == incident.decode(), "the block answer, not the sink's"
    assert event_seen_while_uploading, "the verdict is taken at the headers, before the body"
    reasons = [e.reason for e in proxy.events(lambda e: e.payload_size == size)]
    assert any(f"exceeds the {LIMIT_MB} MB inspection limit" in r for r in reasons)
    assert sampler.peak - idle < 128 << 20, f"peak RSS grew by {(sampler.peak - idle) >> 20} MB"
    assert not any(path.startswith("/v1/audio") and n >= size for _, path, n in unapproved.received.requests)
    print(f"2 GB refused in {time.monotonic() - started:.1f} s, RSS +{(sampler.peak - idle) >> 20} MB")
    still_serving(http, unknown)


def test_webrtc_signalling_to_unapproved_service_is_refused(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, approved: Upstream
) -> None:
    offer = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    headers = {"content-type": "application/sdp"}
    response = http.post(f"{unapproved.https}/v1/realtime?model=x", content=offer, headers=headers)
    assert "WebRTC" in blocked_reason(proxy, response)
    event = proxy.event(response.headers["x-phiwall-incident"])
    assert event.service_id == UNAPPROVED_ID
    assert http.post(f"{approved.https}/v1/realtime?model=x", content=offer, headers=headers).status_code == 200


def test_pinned_client_to_ai_host_is_recorded(proxy: ProxyProcess) -> None:
    """A client that does not trust the proxy CA (like a pinned app) fails, and is recorded."""
    for _ in range(2):  # the second attempt is de-duplicated
        with _raw_proxy_socket(proxy) as raw:
            raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")
            context = ssl.create_default_context()  # system CAs only: refuses the proxy's certificate
            with pytest.raises(ssl.SSLError):
                context.wrap_socket(raw, server_hostname="api.openai.com")
    events = proxy.events(lambda e: e.kind == "pinned" and e.host == "api.openai.com")
    assert len(events) == 1
    assert events[0].verdict == "block"
    assert events[0].service_id == "openai-api"
    assert events[0].pid == os.getpid()
