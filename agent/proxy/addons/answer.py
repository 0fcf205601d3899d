"""The block answer: a blocked flow gets PhiWall's 403 (agent.proxy.answers) instead of the server's.

A buffered request is answered in the `request` hook (it never leaves). A request whose body
streamed into the drain sink gets the answer at `responseheaders`: its status and headers
replace the sink's now, its body replaces the sink's (discarded) body when that ends; done
there rather than in a `response` hook, which would cost every request a call.
"""

from __future__ import annotations

from mitmproxy import http

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import Phase, block_response, state_of
from agent.proxy.sink import SINK_MARK_HEADER


class ReplacedBody:
    """A `Response.stream` function that drops what the server sends and ends with `body`."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __call__(self, chunk: bytes) -> bytes:
        if chunk or self._body is None:
            return b""  # the sink's body
        body, self._body = self._body, None
        return body  # mitmproxy calls with b"" once the server's body ended


class BlockAnswer(FlowAddon):
    @failsafe
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.phase is not Phase.BLOCKED or flow.request.stream:
            return
        assert state.block_reason is not None
        assert state.incident is not None
        flow.response = block_response(flow, state.block_reason, state.incident)

    @failsafe
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        response = flow.response
        if state is None or response is None or state.block_reason is None:
            return
        if not response.headers.get(SINK_MARK_HEADER):
            return
        assert state.incident is not None
        answer = block_response(flow, state.block_reason, state.incident)
        answer.stream = ReplacedBody(answer.content or b"")
        flow.response = answer
