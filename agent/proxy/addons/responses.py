"""Response streaming: nothing inspects response bodies, so the ones worth streaming stream.

Server-sent events as they are produced, large or open-ended downloads without buffering;
small answers stay buffered, which is cheaper per request. A response tapped for discovery
(agent.proxy.addons.shadow) already streams; blocked flows and WebSockets are left alone.
"""

from __future__ import annotations

from mitmproxy import http

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import state_of

STREAM_RESPONSES_OVER = 1 << 20


def worth_streaming(fields: tuple[tuple[bytes, bytes], ...]) -> bool:
    """Server-sent events, and bodies without a length or over `STREAM_RESPONSES_OVER`.

    One pass over the raw header fields (mitmproxy's `Headers.get` lower-cases every name on
    every call); names are compared only when their length fits.
    """
    length = None
    for name, value in fields:
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                length = value
        elif size == 12 and name.lower() == b"content-type" and value.lstrip().startswith(b"text/event-stream"):
            return True
    if length is None:
        return True
    length = length.strip()
    return not length.isdigit() or int(length) > STREAM_RESPONSES_OVER


class ResponseStreaming(FlowAddon):
    @failsafe
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        state = state_of(flow)
        if response is None or state is None or state.block_reason is not None:
            return
        if response.status_code == 101:
            return  # a WebSocket
        if not response.stream and worth_streaming(response.headers.fields):
            response.stream = True
