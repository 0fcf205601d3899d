"""A real HTTP server on loopback that serves a TUF repository and misbehaves on demand.

Modes apply to the files whose name ends with `target` (e.g. "phiwall-bundle.json" or
"timestamp.json"), for the next `times` requests of such a file (None: forever):
- `drip`: send the headers, then the body `drip_bytes` bytes every `drip_every` seconds;
- `stall`: send the headers and `stall_after` bytes of the body, then nothing;
- `silent`: accept the connection and never answer (not even headers).
Every other file is served whole. `stalled_at` records (monotonic) when the server started
holding back, so a test can measure how long the client takes to notice and report.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["normal", "drip", "stall", "silent"]


@dataclass
class Behaviour:
    mode: Mode = "normal"
    target: str = "phiwall-bundle.json"
    times: int | None = None
    drip_bytes: int = 1
    drip_every: float = 1.0
    stall_after: int = 10
    stalled_at: list[float] = field(default_factory=list)
    served: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends every hold-back at once

    def applies(self, path: str) -> bool:
        if self.mode == "normal" or not path.endswith(self.target):
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


def _handler(root: Path, behaviour: Behaviour) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path = (root / self.path.lstrip("/")).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            behaviour.served.append(path.name)
            if not behaviour.applies(path.name):
                self._head(len(data))
                self.wfile.write(data)
                return
            if behaviour.mode == "silent":
                behaviour.stalled_at.append(time.monotonic())
                behaviour.release.wait(60)
                return
            self._head(len(data))
            if behaviour.mode == "stall":
                self.wfile.write(data[: behaviour.stall_after])
                self.wfile.flush()
                behaviour.stalled_at.append(time.monotonic())
                behaviour.release.wait(60)
                return
            behaviour.stalled_at.append(time.monotonic())
            for start in range(0, len(data), behaviour.drip_bytes):
                try:
                    self.wfile.write(data[start : start + behaviour.drip_bytes])
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up: what it should do
                if behaviour.release.wait(behaviour.drip_every):
                    return

        def _head(self, length: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()

    return Handler


@contextmanager
def hostile_server(root: Path, behaviour: Behaviour) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 (port 0), misbehaving as `behaviour` says."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root.resolve(), behaviour))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        behaviour.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
