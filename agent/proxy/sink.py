"""A loopback HTTP server that swallows request bodies: where undecided uploads are pointed.

mitmproxy either buffers a request body whole or streams it to the server as it arrives.
An upload too large to buffer for inspection (or a chunked one that outgrows the limit) must
neither be buffered whole nor reach the AI service, and the client should still get the
403 block answer rather than a reset connection. So while an upload to a blockable
destination is undecided, its target is this sink: if mitmproxy ends up streaming the body,
it streams into the sink, which reads and discards it, then answers 403; the addon swaps in
the real block answer (with its incident id) when the sink's answer starts (`responseheaders`).
Memory stays flat whatever the upload size, and nothing is forwarded anywhere.

Uploads that inspection allows are pointed back at their real destination before mitmproxy
connects anywhere, so the sink only ever sees blocked traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import h11

log = logging.getLogger(__name__)

SINK_MARK_HEADER = "X-PhiWall-Sink"
READ_CHUNK = 256 << 10


FALLBACK_MESSAGE = "PhiWall blocked this upload: it could not be inspected and the destination is not approved."


def _fallback_body() -> bytes:
    return json.dumps(
        {
            "error": {
                "type": "phiwall_blocked",
                "code": "phiwall_blocked",
                "message": FALLBACK_MESSAGE,
                "incident": "",
            }
        }
    ).encode()


class DrainSink:
    """`start()` on the proxy's loop; `address` is (host, port) once started."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] | None = None
        self.drained_bytes = 0
        self.requests = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 << 10)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(READ_CHUNK)
                    conn.receive_data(data)
                    if not data:
                        break
                    continue
                if isinstance(event, h11.Request):
                    self.requests += 1
                elif isinstance(event, h11.Data):
                    self.drained_bytes += len(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    body = _fallback_body()
                    response = h11.Response(
                        status_code=403,
                        headers=[
                            ("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))),
                            ("X-PhiWall-Verdict", "block"),
                            (SINK_MARK_HEADER, "1"),
                            ("Connection", "close"),
                        ],
                    )
                    writer.write(conn.send(response) or b"")
                    writer.write(conn.send(h11.Data(data=body)) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    break
        except (h11.RemoteProtocolError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("sink connection ended: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
