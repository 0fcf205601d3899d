"""Discovery reads the start of the answer: through the real proxy, bodiless polls to two hosts
outside the catalog look alike (same path shape, same client); only the answers differ, one a
speech-to-text transcript skeleton, the other a CI pipeline record, both gzip-encoded JSON.
The transcript's host becomes an AI inventory row, the other host none, and the client gets
both answers byte for byte.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.integration.proxy.harness import ProxyProcess

pytestmark = pytest.mark.timeout(120)

AI_HOST = "127.0.0.65"
ORDINARY_HOST = "127.0.0.66"
POLL = "/v1/records/5551722-f677-48a6-9287-39c0aafd9ac1"
TRANSCRIPT = {
    "id": "5551722-f677-48a6-9287-39c0aafd9ac1",
    "status": "completed",
    "text": "Jane Doe reports chest pain",
    "words": [{"text": "Jane", "start": 10, "end": 250, "confidence": 0.97, "speaker": "A"}],
    "utterances": [{"speaker": "A", "text": "Jane Doe reports", "confidence": 0.95, "start": 10, "end": 900}],
    "confidence": 0.95,
    "audio_duration": 12,
    "language_code": "en_us",
}
PIPELINE = {
    "id": "5551722-f677-48a6-9287-39c0aafd9ac1",
    "status": "success",
    "number": 4,
    "created_at": "2024-01-01T00:00:00Z",
    "stopped_at": "2024-01-01T00:01:00Z",
    "pipeline_id": "x",
    "project_slug": "gh/hospital/ward-board",
    "name": "build",
}


def _serve(host: str, document: object) -> tuple[ThreadingHTTPServer, str]:
    body = gzip.compress(json.dumps(document).encode())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture
def apis() -> Iterator[tuple[str, str]]:
    ai, ai_url = _serve(AI_HOST, TRANSCRIPT)
    ordinary, ordinary_url = _serve(ORDINARY_HOST, PIPELINE)
    try:
        yield ai_url, ordinary_url
    finally:
        for server in (ai, ordinary):
            server.shutdown()
            server.server_close()


def test_answers_decide_what_bodiless_polls_to_unknown_hosts_are(tmp_path: Path, apis: tuple[str, str]) -> None:
    ai_url, ordinary_url = apis
    proxy = ProxyProcess(tmp_path).start()
    try:
        with httpx.Client(proxy=proxy.url, timeout=30) as client:
            for _ in range(4):
                transcript = client.get(f"{ai_url}{POLL}", headers={"authorization": "Bearer k"})
                pipeline = client.get(f"{ordinary_url}{POLL}", headers={"authorization": "Bearer k"})
                assert transcript.json() == TRANSCRIPT, "the tapped answer reaches the client unchanged"
                assert pipeline.json() == PIPELINE
    finally:
        assert proxy.stop() == 0, proxy.log()[-3000:]  # the recorder flushes on stop
    assert "Traceback" not in proxy.log(), proxy.log()[-5000:]
    rows = proxy.inventory()
    assert ORDINARY_HOST not in rows
    assert rows[AI_HOST].category == "unknown-ai"
    assert rows[AI_HOST].request_count == 4
    assert rows[AI_HOST].confidence is not None
    assert rows[AI_HOST].confidence > 0.8
