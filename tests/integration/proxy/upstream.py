"""Loopback stand-ins for AI services: HTTP(S) and WebSocket servers on 127.0.0.x.

They answer like the real APIs closely enough for real clients (the openai SDK parses their
replies) and count what they received, so a test can prove a blocked upload never arrived.
Used by the proxy integration tests and benchmarks/proxy_*.py.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from websockets.sync.server import ServerConnection, serve

ECHO_HEADERS_PATH = "/echo/headers"
"""Requests to this path are answered with the request headers the server received."""


@dataclass
class Received:
    """What an upstream saw (thread-safe enough for counters read after the fact)."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)
    ws_messages: int = 0
    ws_bytes: int = 0

    def bytes_to(self, path_prefix: str) -> int:
        return sum(size for _, path, size in self.requests if path.startswith(path_prefix))


def _reply_for(path: str, size: int) -> dict[str, Any]:
    if path.startswith("/v1/audio/"):
        return {"text": f"transcribed {size} bytes"}
    if path.startswith("/v1/chat/completions"):
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-audio-preview",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"got {size} bytes"}}
            ],
        }
    if path.startswith("/v1/uploads") and path.endswith("/parts"):
        return {"id": "part_test", "object": "upload.part", "created_at": 0, "upload_id": path.split("/")[3]}
    return {"ok": True, "received": size}


def _handler(received: Received) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self) -> int:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                total = 0
                while True:
                    line = self.rfile.readline()
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return total
                    total += len(self.rfile.read(size))
                    self.rfile.readline()
            remaining = int(self.headers.get("content-length", 0) or 0)
            total = 0
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                total += len(chunk)
                remaining -= len(chunk)
            return total

        def _answer(self) -> None:
            size = self._body()
            received.requests.append((self.command, self.path, size))
            if self.path.startswith(ECHO_HEADERS_PATH):
                # Every header as received, repeated ones included: what the proxy forwarded.
                reply: Any = [[name, value] for name, value in self.headers.items()]
            else:
                reply = _reply_for(self.path, size)
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@dataclass
class Upstream:
    host: str
    http_port: int
    https_port: int
    ws_port: int
    received: Received

    @property
    def https(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def wss(self) -> str:
        return f"wss://{self.host}:{self.ws_port}"


@contextmanager
def upstream(host: str, ca: trustme.CA) -> Iterator[Upstream]:
    """HTTP, HTTPS and WSS servers on `host`, port 0, with a certificate from `ca`."""
    received = Received()
    cert = ca.issue_cert(host)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    plain = ThreadingHTTPServer((host, 0), _handler(received))
    secure = ThreadingHTTPServer((host, 0), _handler(received))
    secure.socket = context.wrap_socket(secure.socket, server_side=True)

    def echo(ws: ServerConnection) -> None:
        for message in ws:
            received.ws_messages += 1
            received.ws_bytes += len(message)
            ws.send(json.dumps({"type": "ack", "n": received.ws_messages}))

    ws_server = serve(echo, host, 0, ssl=context, max_size=16 << 20)
    servers: list[Any] = [plain, secure, ws_server]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield Upstream(
            host, plain.server_address[1], secure.server_address[1], ws_server.socket.getsockname()[1], received
        )
    finally:
        for server in servers:
            server.shutdown()
        plain.server_close()
        secure.server_close()
