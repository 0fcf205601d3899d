"""Real clients through a real proxy: each upload shape, to an unapproved, an approved service.

For every client: enrolled clinical media to the unapproved service is blocked (403, the
PhiWall headers, an event row naming the asset and this process, nothing reached the
server); speech that is not enrolled passes; clinical media to the approved service passes
and is audited.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from agent.store import Event
from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import APPROVED_HOST, APPROVED_ID, UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_cert)), timeout=30
    ) as client:
        yield client


def sdk(proxy: ProxyProcess, base_url: str | None) -> openai.OpenAI:
    http_client = httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_cert)), timeout=30
    )
    return openai.OpenAI(api_key="sk-test", base_url=base_url, http_client=http_client, max_retries=0)


def assert_block_event(
    proxy: ProxyProcess, headers: httpx.Headers, recordings: Recordings, service: str, *, process: str | None = None
) -> Event:
    assert headers["x-phiwall-verdict"] == "block"
    event = proxy.event(headers["x-phiwall-incident"])
    assert event.verdict == "block"
    assert event.kind == "upload"
    assert event.service_id == service
    assert event.asset_id == recordings.asset_id
    assert event.match_score is not None
    assert event.match_score > 0.5
    if process is None:
        assert event.pid == os.getpid()
        assert event.process_name
    else:
        assert event.process_name == process
        assert event.pid != os.getpid()
    assert event.user
    assert event.catalog_version
    assert "?" not in (event.path or "")
    assert str(recordings.clinical_wav) not in event.reason
    return event


def audit_events(proxy: ProxyProcess, recordings: Recordings, path: str) -> list[Event]:
    return proxy.events(
        lambda e: (
            e.host == APPROVED_HOST
            and e.verdict == "audit"
            and e.asset_id == recordings.asset_id
            and e.path == path
            and e.service_id == APPROVED_ID
        )
    )


# --- openai SDK -------------------------------------------------------------------------------


def test_openai_sdk_transcription(
    proxy: ProxyProcess, unapproved: Upstream, approved: Upstream, recordings: Recordings
) -> None:
    before = len(unapproved.received.requests)
    client = sdk(proxy, f"{unapproved.https}/v1")
    with pytest.raises(openai.PermissionDeniedError) as blocked, recordings.clinical_mp3.open("rb") as audio:
        client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert "PhiWall blocked this request" in str(blocked.value)
    assert_block_event(proxy, blocked.value.response.headers, recordings, UNAPPROVED_ID)
    assert len(unapproved.received.requests) == before  # nothing reached the service

    with recordings.other_mp3.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert result.text.startswith("transcribed")

    with recordings.clinical_mp3.open("rb") as audio:
        audited = sdk(proxy, f"{approved.https}/v1").audio.transcriptions.create(model="whisper-1", file=audio)
    assert audited.text.startswith("transcribed")
    assert audit_events(proxy, recordings, "/v1/audio/transcriptions")


def test_openai_sdk_real_hostname_blocked_without_network(proxy: ProxyProcess, recordings: Recordings) -> None:
    client = sdk(proxy, None)  # https://api.openai.com/v1: lazy connections, so no network is needed
    with pytest.raises(openai.PermissionDeniedError) as blocked, recordings.clinical_mp3.open("rb") as audio:
        client.audio.transcriptions.create(model="whisper-1", file=audio)
    event = assert_block_event(proxy, blocked.value.response.headers, recordings, "openai-api")
    assert event.host == "api.openai.com"
    assert event.path == "/v1/audio/transcriptions"


def _chat_audio(recording: Path) -> list[dict[str, object]]:
    data = base64.b64encode(recording.read_bytes()).decode()
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarise this."},
                {"type": "input_audio", "input_audio": {"data": data, "format": "mp3"}},
            ],
        }
    ]


def test_openai_sdk_chat_with_input_audio(
    proxy: ProxyProcess, unapproved: Upstream, approved: Upstream, recordings: Recordings
) -> None:
    client = sdk(proxy, f"{unapproved.https}/v1")
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        client.chat.completions.create(model="gpt-4o-audio-preview", messages=_chat_audio(recordings.clinical_mp3))  # type: ignore[arg-type]
    event = assert_block_event(proxy, blocked.value.response.headers, recordings, UNAPPROVED_ID)
    assert json.loads(event.details)["matched_part"] == "json:$.messages[0].content[1].input_audio.data"

    passed = client.chat.completions.create(model="gpt-4o-audio-preview", messages=_chat_audio(recordings.other_mp3))  # type: ignore[arg-type]
    assert passed.choices[0].message.content

    approved_client = sdk(proxy, f"{approved.https}/v1")
    approved_client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_chat_audio(recordings.clinical_mp3),  # type: ignore[arg-type]
    )
    assert audit_events(proxy, recordings, "/v1/chat/completions")


# --- httpx multipart and curl -F ------------------------------------------------------------


def test_httpx_multipart(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, approved: Upstream, recordings: Recordings
) -> None:
    def upload(base: str, path: Path) -> httpx.Response:
        files = {"file": (path.name, path.read_bytes(), "audio/mpeg")}
        return http.post(f"{base}/v1/audio/transcriptions", files=files, data={"model": "whisper-1"})

    blocked = upload(unapproved.https, recordings.clinical_mp3)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["type"] == "phiwall_blocked"
    assert_block_event(proxy, blocked.headers, recordings, UNAPPROVED_ID)
    assert upload(unapproved.https, recordings.other_mp3).status_code == 200
    assert upload(approved.https, recordings.clinical_mp3).status_code == 200
    assert "x-phiwall-verdict" not in upload(approved.https, recordings.other_mp3).headers


def _curl(proxy: ProxyProcess, url: str, recording: Path, tmp_path: Path) -> tuple[int, httpx.Headers, bytes]:
    headers_file, body_file = tmp_path / "headers.txt", tmp_path / "body.bin"
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--proxy",
            proxy.url,
            "--cacert",
            str(proxy.ca_cert),
            "-F",
            f"file=@{recording}",
            "-F",
            "model=whisper-1",
            "-D",
            str(headers_file),
            "-o",
            str(body_file),
            "-w",
            "%{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = headers_file.read_text().splitlines()
    final = [i for i, line in enumerate(lines) if line.startswith("HTTP/")][-1]
    pairs = [line.split(":", 1) for line in lines[final + 1 :] if ":" in line]
    return int(result.stdout), httpx.Headers([(k.strip(), v.strip()) for k, v in pairs]), body_file.read_bytes()


def test_curl_form_upload(
    proxy: ProxyProcess, unapproved: Upstream, approved: Upstream, recordings: Recordings, tmp_path: Path
) -> None:
    url = f"{unapproved.https}/v1/audio/transcriptions"
    status, headers, body = _curl(proxy, url, recordings.clinical_mp3, tmp_path)
    assert status == 403
    assert b"PhiWall blocked" in body
    event = assert_block_event(proxy, headers, recordings, UNAPPROVED_ID, process="curl")
    # What the analyst needs to tell what happened: who launched curl, with which command
    # line, and the hash of the uploaded part (the same bytes as the enrolled file here).
    details = json.loads(event.details or "{}")
    assert details["parent_pid"] == os.getpid()
    assert details["parent_name"]
    assert details["cmdline"].startswith("curl ")
    assert str(recordings.clinical_mp3) in details["cmdline"]
    assert details["payload_sha256"] == hashlib.sha256(recordings.clinical_mp3.read_bytes()).hexdigest()
    assert details["matched_part"]
    assert _curl(proxy, url, recordings.other_mp3, tmp_path)[0] == 200
    status, headers, _ = _curl(proxy, f"{approved.https}/v1/audio/transcriptions", recordings.clinical_mp3, tmp_path)
    assert status == 200


# --- realtime websocket ------------------------------------------------------------------------


@dataclass
class Streamed:
    sent: int
    replies: list[dict[str, object]]
    ended_by: BaseException | None  # what closed the stream early, if anything

    @property
    def closed(self) -> bool:
        return self.ended_by is not None


def _stream(proxy: ProxyProcess, url: str, pcm: bytes) -> Streamed:
    """Send `pcm` as 100 ms input_audio_buffer.append events."""
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    replies: list[dict[str, object]] = []
    sent = 0
    step = 4800  # 100 ms of 24 kHz s16le
    wait = 30  # generous: CI runs this beside Wine and media tests on two cores
    try:
        with connect(url, proxy=proxy.url, ssl=context, open_timeout=wait, close_timeout=2) as ws:
            ws.send(json.dumps({"type": "session.update", "session": {"input_audio_format": "pcm16"}}))
            replies.append(json.loads(ws.recv(timeout=wait)))
            for offset in range(0, len(pcm) - len(pcm) % 2, step):
                chunk = pcm[offset : offset + step]
                ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}))
                sent += 1
                reply = json.loads(ws.recv(timeout=wait))
                replies.append(reply)
                if reply.get("type") == "error":
                    ws.recv(timeout=5)  # the proxy closes the connection next
    except (ConnectionClosed, TimeoutError, OSError) as exc:
        return Streamed(sent, replies, exc)
    return Streamed(sent, replies, None)


def test_realtime_websocket_audio(
    proxy: ProxyProcess, unapproved: Upstream, approved: Upstream, recordings: Recordings
) -> None:
    clinical = recordings.clinical_pcm24k.read_bytes()
    total_messages = len(range(0, len(clinical) - len(clinical) % 2, 4800))
    before = unapproved.received.ws_messages
    cut = _stream(proxy, f"{unapproved.wss}/v1/realtime", clinical)
    errors = [r for r in cut.replies if r.get("type") == "error"]
    assert cut.closed
    assert errors, "the client is told why"
    error = errors[0]["error"]
    assert isinstance(error, dict)
    assert error["type"] == "phiwall_blocked"
    assert cut.sent < total_messages, "the stream is cut before the recording ends"
    appends_forwarded = unapproved.received.ws_messages - before - 1  # minus the session.update
    assert appends_forwarded == cut.sent - 1, "the matching message never reached the service"
    event = proxy.event(str(error["incident"]))
    assert event.verdict == "block"
    assert event.asset_id == recordings.asset_id
    assert json.loads(event.details)["transport"] == "websocket"

    other = _stream(proxy, f"{unapproved.wss}/v1/realtime", recordings.other_pcm24k.read_bytes())
    assert not other.closed, f"{other.ended_by!r} after {other.sent} messages; proxy log: {proxy.log()[-3000:]}"
    assert not [r for r in other.replies if r.get("type") == "error"]

    approved_stream = _stream(proxy, f"{approved.wss}/v1/realtime", clinical)
    assert not approved_stream.closed, (
        f"{approved_stream.ended_by!r} after {approved_stream.sent} messages; proxy log: {proxy.log()[-3000:]}"
    )
    assert approved_stream.sent == total_messages
    assert audit_events(proxy, recordings, "/v1/realtime")


# --- resumable upload in three parts -----------------------------------------------------------


def _three_parts(recording: Path) -> list[bytes]:
    data = recording.read_bytes()
    first = 44 + 1600  # the WAV header and 50 ms: nothing recognisable alone
    second = first + (len(data) - first) // 2
    return [data[:first], data[first:second], data[second:]]


@pytest.mark.parametrize("protocol", ["openai-uploads", "tus", "google"])
def test_resumable_upload_in_three_parts(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    recordings: Recordings,
    protocol: str,
) -> None:
    def send(session: str, index: int, parts: list[bytes]) -> httpx.Response:
        offset = sum(len(p) for p in parts[:index])
        part = parts[index]
        if protocol == "openai-uploads":
            files = {"data": ("blob", part, "application/octet-stream")}
            return http.post(f"{unapproved.https}/v1/uploads/upload_{session}/parts", files=files)
        if protocol == "tus":
            headers = {"tus-resumable": "1.0.0", "upload-offset": str(offset)}
            headers["content-type"] = "application/offset+octet-stream"
            return http.patch(f"{unapproved.https}/files/{session}", content=part, headers=headers)
        command = "upload, finalize" if index == len(parts) - 1 else "upload"
        headers = {"x-goog-upload-command": command, "x-goog-upload-offset": str(offset)}
        return http.post(f"{unapproved.https}/upload/v1beta/files?upload_id={session}", content=part, headers=headers)

    clinical = _three_parts(recordings.clinical_excerpt_wav)
    statuses = [send(f"clin{protocol[:4]}", i, clinical) for i in range(3)]
    codes = [r.status_code for r in statuses]
    assert codes[0] == 200, statuses[0].text  # 50 ms alone is not recognisable
    assert 403 in codes, codes
    first_block = codes.index(403)
    assert all(code == 403 for code in codes[first_block:]), codes
    event = proxy.event(statuses[first_block].headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert json.loads(event.details)["matched_part"] == f"session:{protocol}"
    if first_block < 2:
        later = proxy.event(statuses[2].headers["x-phiwall-incident"])
        assert event.id in later.reason

    other = _three_parts(recordings.other_excerpt_wav)
    assert [send(f"other{protocol[:4]}", i, other).status_code for i in range(3)] == [200, 200, 200]
